"""The dry run: writes what would be posted or mailed under the output directory, one file per post or mail.

Layout (the same as `newsbot demo`): `telegram/<article>.html`, `x/<article>.txt` (FileSink: the post exactly; a
post with an image also gets `x/<article>.image`, its address and alt text; one with a content warning
`mastodon/<article>.warning`), and
`email/<time>.<address>.eml`, each digest mail exactly as it would go to the SMTP server (EmlWriter, the
dry run's mail sender). Files are written atomically, so a crash never leaves half a post.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from bot.channels import REGISTRY
from bot.errors import PublishError
from bot.models import Post, Receipt

if TYPE_CHECKING:
    from email.message import EmailMessage

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_UNSAFE_IN_ADDRESS = re.compile(r"[^A-Za-z0-9_.@+-]+")


def write_atomically(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if isinstance(content, bytes):
            with os.fdopen(fd, "wb") as binary:
                binary.write(content)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileSink:
    def __init__(self, out_dir: Path, channel: str) -> None:
        self.out_dir = out_dir
        self.channel = channel

    def post_path(self, post: Post) -> Path:
        described = REGISTRY[self.channel]
        name = _UNSAFE.sub("_", post.article_key)
        recipient = post.recipient
        if recipient and recipient != described.own_recipient:
            name += "." + _UNSAFE.sub("_", recipient)
        return self.out_dir / self.channel / (name + described.dry_run_extension)

    def publish(self, post: Post) -> Receipt:
        path = self.post_path(post)
        self._write(path, post.text if post.text.endswith("\n") else post.text + "\n")
        if post.image_url:  # noted beside the post, not fetched: a dry run makes no request for it
            self._write(path.with_suffix(".image"), f"{post.image_url}\nalt: {post.image_alt}\n")
        if post.content_warning:  # Mastodon shows it before the post, as its own field
            self._write(path.with_suffix(".warning"), post.content_warning + "\n")
        return Receipt(remote_id=str(path))

    def _write(self, path: Path, text: str) -> None:
        _write_or_explain(path, text, self.out_dir)

    def close(self) -> None:
        return None


class EmlWriter:
    """The dry run's mail sender (bot.email.delivery.MailSender): each message as an `.eml` file, nothing sent.

    The file is the message as it would go to the SMTP server, headers and all; the digest records each one in
    its ledger as sent, as it would a mail the server accepted.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir

    def send(self, message: EmailMessage) -> str:
        path = self.out_dir / "email" / eml_name(message)
        _write_or_explain(path, message.as_bytes(), self.out_dir)
        return str(message.get("Message-ID", "")).strip() or str(path)

    def seconds_until_turn(self) -> float:
        return 0.0  # files need no send rate

    def close(self) -> None:
        return None


def eml_name(message: EmailMessage) -> str:
    """`<time>.<address>.eml`, e.g. `20261109T080000Z.reader@example.org.eml`: by time, then by reader."""
    from email.utils import getaddresses, parsedate_to_datetime  # here: the email package is not needed to start

    stamp = parsedate_to_datetime(str(message["Date"])).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    [(_name, address)] = getaddresses([str(message["To"])])
    return f"{stamp}.{_UNSAFE_IN_ADDRESS.sub('_', address)}.eml"


def _write_or_explain(path: Path, content: str | bytes, out_dir: Path) -> None:
    try:
        write_atomically(path, content)
    except OSError as exc:
        raise PublishError(
            f"cannot write {path} ({exc.strerror}): make sure [output] dir ({out_dir}) is a writable folder"
        ) from None
