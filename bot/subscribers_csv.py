"""Managing subscribers from the command line: CSV in and out (`newsbot subscribers import|export`, e.g. from
another bot) and `newsbot subscribers unsubscribe` (for requests that arrive by mail or by hand).

Telegram: header `chat_id,hashtags`; email: header `email,hashtags,name`. Hashtags are separated by spaces, with
or without '#'. An `active` column (1/0, as `export` writes it) is honoured when present; other columns are
ignored. Imported email addresses count as confirmed only with `confirmed=True` (`--confirmed`): otherwise they
are recorded as awaiting confirmation and get nothing until they opt in.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from bot.addresses import InputRuleError, parse_address
from bot.errors import ConfigError
from bot.hashtags import is_valid_tag, unique
from bot.store import SqliteStore

ADDRESS_COLUMN = {"telegram": "chat_id", "email": "email"}
_CHAT_ID = re.compile(r"^-?\d{1,20}$")
MAX_TAG_CHARS = 64
MAX_TAGS = 100


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    problems: list[str] = field(default_factory=list)  # "line N: what is wrong"

    def summary(self) -> str:
        text = f"{self.added} added, {self.updated} updated, {len(self.problems)} skipped"
        return text + "".join(f"\n  {problem}" for problem in self.problems[:50])


@dataclass
class UnsubscribeReport:
    unsubscribed: list[str] = field(default_factory=list)
    not_subscribed: list[str] = field(default_factory=list)  # unknown, or already unsubscribed
    problems: list[str] = field(default_factory=list)  # what is wrong with an argument

    def summary(self) -> str:
        lines = [f"{len(self.unsubscribed)} unsubscribed"]
        if self.not_subscribed:
            lines.append(f"{len(self.not_subscribed)} not subscribed (nothing to do): {', '.join(self.not_subscribed)}")
        lines += self.problems
        return "\n  ".join(lines)


def unsubscribe(store: SqliteStore, channel: str, addresses: Iterable[str], now: datetime) -> UnsubscribeReport:
    """Stop sending to each address (an email address, or a Telegram chat id) at once, as its own link would."""
    report = UnsubscribeReport()
    for given in addresses:
        try:
            address = _check_address(channel, given.strip())
        except ValueError as problem:
            report.problems.append(f"{problem}: skipped")
            continue
        if store.deactivate_subscriber(channel, address, "unsubscribed by an admin", now):
            report.unsubscribed.append(address)
        else:
            report.not_subscribed.append(address)
    return report


def parse_tags(cell: str) -> list[str]:
    """'#Climate politics' -> ['Climate', 'politics']; raises ValueError naming a bad tag."""
    tags = []
    for word in cell.replace(",", " ").split():
        tag = word.lstrip("#")
        if not is_valid_tag(tag) or len(tag) > MAX_TAG_CHARS:
            raise ValueError(f"{word!r} is not a hashtag (letters, digits and _ only)")
        tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"{len(tags)} hashtags; at most {MAX_TAGS}")
    return unique(tags)


def import_subscribers(
    store: SqliteStore, channel: str, rows: TextIO, now: datetime, *, confirmed: bool = False
) -> ImportReport:
    column = ADDRESS_COLUMN.get(channel)
    if column is None:
        raise ConfigError(f"--channel {channel}: importing is supported for: {', '.join(ADDRESS_COLUMN)}")
    reader = csv.DictReader(rows)
    fields = [f.strip() for f in reader.fieldnames or []]
    if column not in fields or "hashtags" not in fields:
        expected = "email,hashtags,name" if channel == "email" else f"{column},hashtags"
        raise ConfigError(f"the CSV header must be '{expected}' (found: {','.join(fields) or 'nothing'})")
    reader.fieldnames = fields
    report = ImportReport()
    for line, row in enumerate(reader, start=2):
        address = (row.get(column) or "").strip()
        try:
            address = _check_address(channel, address)
            tags = parse_tags(row.get("hashtags") or "")
        except ValueError as problem:
            report.problems.append(f"line {line}: {problem}")
            continue
        inactive = (row.get("active") or "1").strip() == "0"
        with store.transaction():
            if channel == "email":
                existed = store.email_subscriber(address) is not None
                store.request_email_subscription(address, tags, now, name=(row.get("name") or "").strip()[:200])
                if confirmed and not inactive:
                    store.confirm_email(address, now)
            else:
                existed = store.subscriber(channel, address) is not None
                store.subscribe(channel, address, now)
                store.set_subscriber_tags(channel, address, tags, now)
                if inactive:
                    store.deactivate_subscriber(channel, address, "inactive in the imported file", now)
        if existed:
            report.updated += 1
        else:
            report.added += 1
    return report


def _check_address(channel: str, address: str) -> str:
    if channel == "email":
        try:
            return parse_address(address)
        except InputRuleError as problem:
            raise ValueError(f"email {address!r}: {problem}") from None
    if not _CHAT_ID.match(address):
        raise ValueError(f"chat_id {address!r} is not a Telegram chat id (a whole number)")
    return address


def export_rows(store: SqliteStore, channel: str) -> Iterator[list[str]]:
    column = ADDRESS_COLUMN.get(channel)
    if column is None:
        raise ConfigError(f"--channel {channel}: exporting is supported for: {', '.join(ADDRESS_COLUMN)}")
    if channel == "email":
        yield [column, "hashtags", "name", "active", "status"]
        for email in store.iter_email_subscribers(active_only=False):
            tags = " ".join("#" + t for t in email.hashtags)
            yield [email.address, tags, email.name, "1" if email.active else "0", email.status_reason]
        return
    yield [column, "hashtags", "active", "status"]
    for subscriber in store.iter_subscribers(channel):
        tags = " ".join("#" + t for t in subscriber.hashtags)
        yield [subscriber.address, tags, "1" if subscriber.active else "0", subscriber.status_reason]


def write_csv(rows: Iterable[list[str]], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    count = -1  # the header is not a subscriber
    for row in rows:
        writer.writerow(row)
        count += 1
    return count
