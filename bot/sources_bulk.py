"""Sources in bulk, from the command line: `newsbot sources import FILE.opml` and `newsbot sources export`.

Import reads the file with bot.opml and adds its feeds through bot.source_admin's `add_many`, the checks chat's
/addsource makes (an http(s) URL, not yet a source: else reported and left as it is), as sources kept in the state
beside the config file's. It does not fetch them unless asked (`check`): a reader's export often holds hundreds of
feeds, and each one's first poll marks its entries seen anyway (nothing old is posted). With `check` each URL is
fetched first, from public addresses only unless `[fetch] allow_private`, and one that does not work is refused.

Export writes every web source (config file and state) as OPML 2.0, hashtags in `category`; it re-imports to the
same URLs and hashtags. URLs are written as they are, user:password and query included: the file is the operator's
own list, and a feed behind a key would not work without it. So a file written with `--output` is readable by its
owner only, and nothing here logs or prints a URL unredacted.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from bot.config import Config
from bot.errors import ConfigError
from bot.opml import MAX_OPML_BYTES, OpmlRefused, read_opml, write_opml
from bot.source_admin import BulkAdded, BulkSourceStore, SourceAdminStore, Wanted, add_many
from bot.store import PRIVATE_FILE_MODE
from bot.urls import is_web_url

__all__ = ["ADDED_BY", "Exported", "ImportReport", "export_opml", "import_opml", "write_private_atomically"]

ADDED_BY: Final = "import"  # shown as "by import" beside the sources it added (control room, /sources)
MAX_LISTED: Final = 50  # lines printed per kind; the rest are counted


@dataclass(frozen=True, slots=True)
class ImportReport:
    file: Path
    done: BulkAdded
    checked: bool

    def summary(self) -> str:
        done = self.done
        counts = f"{len(done.added)} added, {len(done.already)} already there, {len(done.refused)} refused"
        lines = [f"{self.file}: {counts}"]
        lines += _listed([f"{where}: already a source: {owner} ({url})" for where, url, owner in done.already])
        lines += _listed([f"{where}: refused: {why}" for where, why in done.refused])
        if done.added and not self.checked:
            lines.append(
                "The new sources were not fetched: each is read on its first poll, which marks what it holds now as"
                " seen (nothing old is posted). `--check` fetches each one before adding it."
            )
        return "\n".join(lines)


def _listed(lines: list[str]) -> list[str]:
    shown = ["  " + line for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"  … and {len(lines) - MAX_LISTED} more")
    return shown


def import_opml(config: Config, store: BulkSourceStore, file: Path, *, check: bool, now: datetime) -> ImportReport:
    """Add the feeds of the OPML file `file`; ConfigError (nothing added) when the file cannot be read as OPML."""
    try:
        with file.open("rb") as raw:
            data = raw.read(MAX_OPML_BYTES + 1)
        feeds = read_opml(data)
    except OSError as error:
        raise ConfigError(f"{file}: cannot read it: {error.strerror}") from None
    except OpmlRefused as refused:
        raise ConfigError(f"{file}: nothing was added: {refused}") from None
    wanted = [Wanted(f"line {feed.line}", feed.url, feed.hashtags) for feed in feeds if not feed.problem]
    done = add_many(config, store, wanted, check=check, added_by=ADDED_BY, now=now)
    done.refused += [(f"line {feed.line}", feed.problem) for feed in feeds if feed.problem]
    done.refused.sort(key=lambda refused: int(refused[0].removeprefix("line ")))
    return ImportReport(file, done, check)


@dataclass(frozen=True, slots=True)
class Exported:
    opml: bytes
    count: int
    left_out: list[str]  # sources that are files or directories, not web feeds: no feed reader could read them


def export_opml(config: Config, store: SourceAdminStore, now: datetime) -> Exported:
    """Every web source, the config file's first, then those added (chat, control room, import)."""
    in_config = {source.name for source in config.sources}
    every = [(s.name, s.url, s.hashtags) for s in config.sources]
    every += [(s.name, s.url, s.hashtags) for s in store.added_sources() if s.name not in in_config]
    web = [source for source in every if is_web_url(source[1])]
    left_out = [name for name, url, _tags in every if not is_web_url(url)]
    return Exported(write_opml(web, now), len(web), left_out)


def write_private_atomically(path: Path, data: bytes) -> None:
    """`path` holds `data` whole or is left as it was (written beside it, then renamed over it), readable by its
    owner only: the URLs in it may carry keys."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with _removed_on_failure(Path(temporary)):
        with open(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, PRIVATE_FILE_MODE)
        os.replace(temporary, path)


@contextlib.contextmanager
def _removed_on_failure(path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        raise
