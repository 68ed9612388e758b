"""The control room's CSV exports: the deliveries list and the subscribers found, as the pages filter them.

Each file is made as it is sent: rows come from the store's export iterators (which read a batch at a time) and go
out in chunks of text, so memory stays flat however many rows there are. Every cell goes through the project's one
rule against spreadsheet formula injection (`bot.subscribers_csv.spreadsheet_safe`), and lines end in CRLF as in
`newsbot subscribers export`. Error texts have URL credentials redacted, as on the pages.

A subscribers file for one channel names its address column as `newsbot subscribers import` expects it
(`chat_id`, `email`), and writes hashtags and the /watch and /mute words as that command's export does
(`bot.subscribers_csv.words_cell`), so it imports back whole; the import ignores its other columns but `active`
(and `name` for email).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator

from starlette.responses import StreamingResponse

from bot.channels import REGISTRY
from bot.control.page import ControlStore
from bot.store.reports import DeliveryRecord, SubscriberRecord
from bot.store.times import to_db_time
from bot.subscribers_csv import spreadsheet_safe, words_cell
from bot.urls import redact_urls_in

ROWS_PER_CHUNK = 200
DELIVERY_COLUMNS = ("when", "channel", "recipient", "outcome", "article", "title", "digest", "error")
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def csv_chunks(rows: Iterable[Iterable[str]], rows_per_chunk: int = ROWS_PER_CHUNK) -> Iterator[str]:
    """`rows` (a header first) as CSV text, `rows_per_chunk` lines at a time, every cell spreadsheet-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    waiting = 0
    for row in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
        waiting += 1
        if waiting >= rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            waiting = 0
    if waiting:
        yield buffer.getvalue()


def delivery_rows(records: Iterable[DeliveryRecord]) -> Iterator[list[str]]:
    """The deliveries list as CSV rows, a header first; times in UTC as the store keeps them."""
    yield list(DELIVERY_COLUMNS)
    for r in records:
        yield [
            to_db_time(r.at),
            r.channel,
            r.recipient,
            r.state,
            r.article_key,
            r.title,
            r.digest_id,
            redact_urls_in(r.error),
        ]


def subscriber_columns(channel: str) -> list[str]:
    """The header of a subscribers file: for one channel its import's address column, else `address`."""
    described = REGISTRY.get(channel)
    address = described.csv_address_column if described and described.csv_address_column else "address"
    return [address, "hashtags", "name", "active", "status", "channel", "subscribed", "watch", "mute"]


def subscriber_rows(records: Iterable[SubscriberRecord], channel: str = "") -> Iterator[list[str]]:
    """Subscribers as CSV rows, a header first (see `subscriber_columns`); hashtags with '#', space separated, watch
    and mute words comma separated."""
    yield subscriber_columns(channel)
    for s in records:
        tags = " ".join("#" + tag for tag in s.hashtags)
        active = "1" if s.active else "0"
        words = [words_cell(s.watching), words_cell(s.muting)]
        yield [s.address, tags, s.name, active, s.status_reason, s.channel, to_db_time(s.created_at), *words]


def export_filename(kind: str, day: str) -> str:
    """`newsbot-deliveries-2024-03-05.csv`: what the download is saved as (`day` a UTC date, ISO)."""
    return f"newsbot-{kind}-{day}.csv"


def csv_download(
    open_store: Callable[[], ControlStore],
    kind: str,
    day: str,
    rows_of: Callable[[ControlStore], Iterable[Iterable[str]]],
) -> StreamingResponse:
    """A streamed CSV download (`Content-Disposition: attachment`, named by `export_filename`) of `rows_of` a
    store opened for the stream and closed when it ends (the request's own store is closed before the first byte)."""

    def chunks() -> Iterator[str]:
        store = open_store()
        try:
            yield from csv_chunks(rows_of(store))
        finally:
            store.close()

    disposition = f'attachment; filename="{export_filename(kind, day)}"'
    return StreamingResponse(chunks(), media_type=CSV_MEDIA_TYPE, headers={"Content-Disposition": disposition})
