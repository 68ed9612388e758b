"""Managing subscribers from the command line: CSV in and out (`newsbot subscribers import|export`, e.g. from
another bot) and `newsbot subscribers unsubscribe` (for requests that arrive by mail or by hand).

Telegram: header `chat_id,hashtags,watch,mute`; email: header `email,hashtags,name`. Import needs the address
column and `hashtags`; the others may be left out (a file exported before `watch` and `mute` existed imports as it
did), in any order. Hashtags are separated by spaces, with or without '#'. Watch and mute words (/watch, /mute) are
separated by commas, so a phrase keeps its spaces: the rule of `bot.keywords.parse_keywords`, at most
MAX_SUBSCRIBER_WORDS of each. An `active` column (1/0, as `export` writes it) is honoured when present; other columns
are ignored.

Import replaces what a line gives: a subscriber's hashtags, and their watch (mute) words when the file has a
`watch` (`mute`) column, an empty cell meaning none; without the column their words stay as they are. Imported
email addresses count as confirmed only with `confirmed=True` (`--confirmed`): otherwise they are recorded as
awaiting confirmation and get nothing until they opt in.

Import reports each line it cannot use ("line N: what is wrong") and goes on with the next: a bad address,
hashtag, or watch or mute word skips the whole line (together they decide what the subscriber gets, so none is
applied without the others: fix the cell and import the file again, which updates the lines already in); a name
that breaks the rules of `bot.addresses` is left out and the subscriber imported without it (a subscription
matters more than a greeting). The file is UTF-8 (with or without a byte order mark)
or UTF-16/32 with one; a line that is not UTF-8 is reported, never guessed at, so no name arrives garbled.

Export writes cells a spreadsheet would run as a formula (starting with = + - @ tab or CR, OWASP's rule against
CSV injection) with a `'` in front, so they show as text; whole numbers (chat ids) are left as they are. Import
drops that one `'` again where it stands before such a character, so an exported file imports back unchanged (a
cell that already starts with `'` and then such a character gets one more `'`, so it keeps its own). The watch and
mute cells hold all of a subscriber's words, so a word starting with `=` is made safe when it comes first.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import os
import re
import stat
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, TextIO

from bot.addresses import InputRuleError, has_control, parse_display_name
from bot.channels import REGISTRY, Channel
from bot.errors import ConfigError
from bot.hashtags import MAX_FOLLOWED_TAGS, TAG_RULE, HashtagError, parse_hashtags
from bot.invisible import is_hidden
from bot.keywords import KEYWORD_RULE, MAX_SUBSCRIBER_WORDS, KeywordError, parse_keywords
from bot.store import MUTE, PRIVATE_FILE_MODE, WATCH, EmailSubscriber, Subscriber

_WHOLE_NUMBER = re.compile(r"^-?\d+$")
MAX_LISTED = 50  # lines of problems printed per kind; the rest are counted
SPREADSHEET_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
WORD_COLUMNS = (WATCH, MUTE)  # named as the kinds of words the store keeps
WORD_SEPARATOR = ", "
EXPORT_BATCH = 1000  # subscribers read (with their hashtags and words) per round of queries
NOT_UTF8 = "not UTF-8 (a Latin-1 or Windows-1252 file?); save the file as CSV UTF-8 and import it again"


class CsvStore(Protocol):
    """What import, export and unsubscribe need of the store (`bot.store.Store` is one)."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def subscriber(self, channel: str, address: str) -> Subscriber | None: ...
    def subscribe(self, channel: str, address: str, now: datetime) -> bool: ...
    def set_subscriber_tags(self, channel: str, address: str, tags: Iterable[str], now: datetime) -> None: ...
    def words_of_subscribers(self, channel: str, addresses: Sequence[str]) -> dict[str, dict[str, tuple[str, ...]]]: ...
    def set_subscriber_words(self, channel: str, address: str, kind: str, words: Iterable[str]) -> None: ...
    def deactivate_subscriber(self, channel: str, address: str, reason: str, now: datetime) -> bool: ...
    def iter_subscribers(self, channel: str, batch: int = 1000) -> Iterator[Subscriber]: ...
    def email_subscriber(self, address: str) -> EmailSubscriber | None: ...
    def request_email_subscription(
        self, address: str, tags: Iterable[str], now: datetime, *, name: str = ""
    ) -> EmailSubscriber: ...  # only what the import passes
    def confirm_email(self, address: str, now: datetime) -> bool: ...
    def iter_email_subscribers(self, *, active_only: bool = True, batch: int = 1000) -> Iterator[EmailSubscriber]: ...


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    problems: list[str] = field(default_factory=list)  # lines skipped: "line N: what is wrong"
    names_left_out: list[str] = field(default_factory=list)  # lines imported without their name, and why

    def summary(self) -> str:
        text = f"{self.added} added, {self.updated} updated, {len(self.problems)} skipped"
        if self.names_left_out:
            text += f"; {len(self.names_left_out)} name(s) left out"
        return text + _listed(self.problems) + _listed(self.names_left_out)


def _listed(lines: list[str]) -> str:
    text = "".join(f"\n  {line}" for line in lines[:MAX_LISTED])
    if len(lines) > MAX_LISTED:
        text += f"\n  … and {len(lines) - MAX_LISTED} more like these"
    return text


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


def unsubscribe(store: CsvStore, channel: str, addresses: Iterable[str], now: datetime) -> UnsubscribeReport:
    """Stop sending to each address (an email address, or a Telegram chat id) at once, as its own link would."""
    described = REGISTRY[channel]
    report = UnsubscribeReport()
    for given in addresses:
        try:
            address = _check_address(described, given.strip())
        except ValueError as problem:
            report.problems.append(f"{problem}: skipped")
            continue
        if store.deactivate_subscriber(channel, address, "unsubscribed by an admin", now):
            report.unsubscribed.append(address)
        else:
            report.not_subscribed.append(address)
    return report


def parse_tags(cell: str) -> list[str]:
    """'#Climate politics' -> ['Climate', 'politics'] (the rule of `bot.hashtags.parse_hashtags`); a line holds a
    subscriber's whole list, so up to MAX_FOLLOWED_TAGS. Raises ValueError naming a bad tag."""
    try:
        return parse_hashtags(cell, most=MAX_FOLLOWED_TAGS)
    except HashtagError as error:
        if error.bad:
            raise ValueError(f"{_shown(error.bad[0])} is not a hashtag ({TAG_RULE})") from None
        raise ValueError(f"{error.count} hashtags; at most {error.most}") from None


def parse_words(column: str, cell: str) -> list[str]:
    """'climate change, flood' -> ['climate change', 'flood']: a subscriber's watch (or mute) words, by the rule of
    the /watch and /mute commands (`bot.keywords.parse_keywords`), at most MAX_SUBSCRIBER_WORDS. Raises ValueError
    naming the column, the bad word and what to do."""
    hidden = next((ch for ch in cell if _hides(ch)), None)
    if hidden is not None:
        raise ValueError(f"{column}: a control or invisible character (U+{ord(hidden):04X}); remove it")
    try:
        return parse_keywords(cell, most=MAX_SUBSCRIBER_WORDS)
    except KeywordError as error:
        if error.bad:
            raise ValueError(
                f"{column}: {_shown(error.bad[0])} is not a keyword ({KEYWORD_RULE}); separate keywords with commas"
            ) from None
        raise ValueError(f"{column}: {error.count} words; at most {error.most}, separated by commas") from None


def words_cell(words: Iterable[str]) -> str:
    """Watch (or mute) words as one cell that `parse_words` reads back: separated by commas."""
    return WORD_SEPARATOR.join(words)


def _hides(char: str) -> bool:
    """A control or format character (a bidi override, say) other than the whitespace and joiners words may hold."""
    return char != "\r" and is_hidden(char)


# --- import -------------------------------------------------------------------------------------------------


def decode_csv(raw: io.BufferedReader) -> TextIO:
    """The text of a CSV file for `import_subscribers`: UTF-16 or UTF-32 when it starts with their byte order
    mark, else UTF-8 (with or without one). Bytes that are not UTF-8 become lone surrogates (surrogateescape), so
    the line they are on is reported and the others imported, instead of a traceback for the whole file."""
    start = raw.peek(4)[:4]
    encoding = next((name for mark, name in _BYTE_ORDER_MARKS if start.startswith(mark)), "utf-8-sig")
    return io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")


@dataclass(frozen=True)
class _Row:
    address: str
    tags: list[str]
    name: str
    active: bool
    words: dict[str, list[str]]  # kind (watch, mute) -> words, for the word columns the file has


def import_subscribers(
    store: CsvStore, channel: str, rows: TextIO, now: datetime, *, confirmed: bool = False
) -> ImportReport:
    """Add or update a subscriber per line of `rows` (see the module docstring). ConfigError for a file whose
    header is wrong; every other problem is reported per line in the returned report."""
    described = _csv_channel(channel, "importing")
    report = ImportReport()
    for line, cells in _records(rows, described, report):
        try:
            row = _parse_row(described, cells, line, report)
        except ValueError as problem:
            report.problems.append(f"line {line}: {problem}")
            continue
        if _save(store, described, row, now, confirmed=confirmed):
            report.updated += 1
        else:
            report.added += 1
    return report


def _csv_channel(name: str, doing: str) -> Channel:
    """The channel `--channel` names, if its subscribers can be imported and exported; else a ConfigError."""
    supported = [described.name for described in REGISTRY.values() if described.csv_columns]
    if name not in supported:
        raise ConfigError(f"--channel {name}: {doing} is supported for: {', '.join(supported)}")
    return REGISTRY[name]


def _records(rows: TextIO, channel: Channel, report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    """Each data row as (the line it starts on, {column: cell}). A row that cannot be read is reported and
    skipped, and reading goes on with the next line."""
    reader = csv.reader(rows)
    try:
        fields = _columns(next(reader, []), channel)
    except csv.Error as error:
        raise ConfigError(f"cannot read the header: {_csv_problem(error)}") from None
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            report.problems.append(f"line {line}: {_csv_problem(error)}")
            continue
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if any(_undecoded(cell) for cell in cells):
            report.problems.append(f"line {line}: {NOT_UTF8}")
            continue
        # A short line's missing cells are empty ones (what a spreadsheet leaves off the end of a row).
        yield (
            line,
            dict.fromkeys(fields, "") | {name: from_spreadsheet(c) for name, c in zip(fields, cells, strict=False)},
        )


def _columns(header: list[str], channel: Channel) -> list[str]:
    """The column names of the header row; ConfigError if it is not text or lacks a column import needs."""
    text = ",".join(header)
    if "\0" in text:
        raise ConfigError(
            "the header is not UTF-8 text (UTF-16 without a byte order mark?); save the file as CSV UTF-8 and"
            " import it again"
        )
    if _undecoded(text):
        raise ConfigError(f"the header is {NOT_UTF8}")
    fields = [from_spreadsheet(cell).strip().lower() for cell in header]
    needed = channel.csv_columns[:2]  # the address and hashtags
    if any(column not in fields for column in needed):
        optional = ", ".join([*channel.csv_columns[2:], "active"])
        found = _shown(",".join(fields)) if fields else "nothing"
        raise ConfigError(
            f"the CSV header needs the columns '{','.join(needed)}' and may add {optional}, in any order, as"
            f" `newsbot subscribers export` writes them (found: {found})"
        )
    return fields


def _csv_problem(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return f"a field is longer than {csv.field_size_limit() // 1024} KB"
    return f"cannot be read as CSV ({error}); check its quotes"


def _parse_row(channel: Channel, cells: dict[str, str], line: int, report: ImportReport) -> _Row:
    """The row's subscriber; ValueError (skip the line) for a bad address, hashtag or word. A bad name is left out."""
    address = _check_address(channel, cells.get(channel.csv_address_column or "", "").strip())
    tags = parse_tags(cells.get("hashtags", ""))
    words = {
        kind: parse_words(kind, cells[kind]) for kind in WORD_COLUMNS if kind in cells and kind in channel.csv_columns
    }
    name = ""
    if "name" in channel.csv_columns:
        try:
            name = parse_display_name(cells.get("name", ""))
        except InputRuleError as problem:
            report.names_left_out.append(f"line {line}: name {_shown(cells.get('name', ''))} left out: {problem}")
    return _Row(address, tags, name, active=cells.get("active", "1").strip() != "0", words=words)


def _save(store: CsvStore, described: Channel, row: _Row, now: datetime, *, confirmed: bool) -> bool:
    """Add or update one subscriber; True if they were there already."""
    channel = described.name
    with store.transaction():
        if described.double_opt_in:
            existed = store.email_subscriber(row.address) is not None
            store.request_email_subscription(row.address, row.tags, now, name=row.name)
            if confirmed and row.active:
                store.confirm_email(row.address, now)
            return existed
        existed = store.subscriber(channel, row.address) is not None
        store.subscribe(channel, row.address, now)
        store.set_subscriber_tags(channel, row.address, row.tags, now)
        for kind, words in row.words.items():
            store.set_subscriber_words(channel, row.address, kind, words)
        if not row.active:
            store.deactivate_subscriber(channel, row.address, "inactive in the imported file", now)
        return existed


def _check_address(channel: Channel, address: str) -> str:
    return channel.parse_csv_address(address, _shown(address))


def _undecoded(text: str) -> bool:
    """True if `text` holds bytes that were not UTF-8 (kept as lone surrogates by `decode_csv`)."""
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _shown(text: str, limit: int = 60) -> str:
    """`text` quoted for a terminal: control characters and undecoded bytes as '?', cut to `limit` characters."""
    clean = "".join("?" if has_control(ch) or unicodedata.category(ch) == "Cs" else ch for ch in text)
    if len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    return f"'{clean}'"


# --- export -------------------------------------------------------------------------------------------------


def spreadsheet_safe(cell: str) -> str:
    """`cell` as a spreadsheet shows it as text, not as a formula to run: see the module docstring."""
    if _formula_like(cell) and not _WHOLE_NUMBER.match(cell):
        return "'" + cell
    return cell


def from_spreadsheet(cell: str) -> str:
    """Undo `spreadsheet_safe`: drop the first `'` of `'`s that stand before = + - @ tab or CR. Any other leading
    `'` (a name such as 't Hooft) is kept."""
    if cell.startswith("'") and _formula_like(cell):
        return cell[1:]
    return cell


def _formula_like(cell: str) -> bool:
    """True for a cell a spreadsheet would run, and for one that only a `'` or more keep from it ('=1+1 would
    lose its `'` on import as if export had put it there, so export adds one more)."""
    return cell.lstrip("'").startswith(SPREADSHEET_FORMULA_START)


def export_rows(store: CsvStore, channel: str, batch: int = EXPORT_BATCH) -> Iterator[list[str]]:
    """The header, then a row per subscriber of `channel`, read `batch` at a time with their hashtags and
    words (three queries per batch, not three per subscriber)."""
    described = _csv_channel(channel, "exporting")
    columns = [*described.csv_columns, "active", "status"]
    if described.double_opt_in:
        yield columns
        for email in store.iter_email_subscribers(active_only=False, batch=batch):
            tags = " ".join("#" + t for t in email.hashtags)
            yield [email.address, tags, email.name, "1" if email.active else "0", email.status_reason]
        return
    yield columns
    kinds = [kind for kind in WORD_COLUMNS if kind in described.csv_columns]
    subscribers = store.iter_subscribers(channel, batch)
    while some := list(itertools.islice(subscribers, batch)):
        words = store.words_of_subscribers(channel, [s.address for s in some]) if kinds else {}
        for subscriber in some:
            tags = " ".join("#" + t for t in subscriber.hashtags)
            theirs = words.get(subscriber.address, {})
            cells = [words_cell(theirs.get(kind, ())) for kind in kinds]
            yield [subscriber.address, tags, *cells, "1" if subscriber.active else "0", subscriber.status_reason]


def write_csv(rows: Iterable[list[str]], out: TextIO) -> int:
    """Write `rows` (a header first) with every cell `spreadsheet_safe`; returns how many subscribers.

    Lines end in CRLF, as RFC 4180 and spreadsheets write them: then Python's writer quotes every cell that holds
    a CR or LF (with a bare "\\n" line end it leaves a bare CR unquoted, and the row falls apart when read back)."""
    writer = csv.writer(out, lineterminator="\r\n")
    count = -1  # the header is not a subscriber
    for row in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
        count += 1
    return count


def open_private(path: Path) -> TextIO:
    """`path` opened for writing subscriber data, readable by its owner only (an existing file is narrowed too,
    so an export over an older 0644 one does not stay world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    if stat.S_ISREG(os.fstat(fd).st_mode):  # not /dev/stdout or a pipe
        with contextlib.suppress(PermissionError):  # someone else's file we may write to: leave its mode
            os.fchmod(fd, PRIVATE_FILE_MODE)
    return open(fd, "w", encoding="utf-8", newline="")  # the caller closes it
