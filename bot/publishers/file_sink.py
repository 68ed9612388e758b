"""The dry-run publisher: writes what would be posted under the output directory, one file per post.

Layout (the same as `newsbot demo`): `telegram/<article>.html`, `x/<article>.txt`,
`email/digest.html` and `email/digest.txt`. Files are written atomically, so a crash never leaves half a post.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import PublishError
from bot.models import Post, Receipt

if TYPE_CHECKING:
    from bot.render import Digest

EXTENSIONS = {"telegram": ".html", "x": ".txt", "email": ".txt"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileSink:
    def __init__(self, out_dir: Path, channel: str) -> None:
        self.out_dir = out_dir
        self.channel = channel

    def post_path(self, post: Post) -> Path:
        name = _UNSAFE.sub("_", post.article_key)
        recipient = post.recipient
        if recipient and recipient not in ("channel", "timeline", "digest"):
            name += "." + _UNSAFE.sub("_", recipient)
        return self.out_dir / self.channel / (name + EXTENSIONS.get(self.channel, ".txt"))

    def publish(self, post: Post) -> Receipt:
        path = self.post_path(post)
        self._write(path, post.text if post.text.endswith("\n") else post.text + "\n")
        return Receipt(remote_id=str(path))

    def _write(self, path: Path, text: str) -> None:
        try:
            write_atomically(path, text)
        except OSError as exc:
            raise PublishError(
                f"cannot write {path} ({exc.strerror}): make sure [output] dir ({self.out_dir}) is a writable folder"
            ) from None

    def send_digest(self, digest: Digest, recipient: str) -> Receipt:
        folder = self.out_dir / "email"
        stem = "digest" if recipient in ("", "digest") else "digest." + _UNSAFE.sub("_", recipient)
        self._write(folder / f"{stem}.html", digest.html)
        self._write(folder / f"{stem}.txt", digest.text)
        return Receipt(remote_id=str(folder / f"{stem}.html"))

    def close(self) -> None:
        return None
