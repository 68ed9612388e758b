"""Building the digest and confirmation emails: MIME structure, list headers, inlined CSS and DKIM.

Every message is `multipart/alternative` with a text part first and an HTML part second, both UTF-8 and
quoted-printable (7-bit clean, so it needs no 8BITMIME and survives relays that would re-encode 8-bit bodies
and break a DKIM signature). Headers follow what mailbox providers expect from bulk senders: Date, a
Message-ID on the sender's domain, List-Id (RFC 2919), List-Unsubscribe with an https and a mailto URI and
List-Unsubscribe-Post for one-click unsubscribe (RFC 8058). The confirmation mail of the double opt-in
carries no List-* headers: the address is not on the list yet.

The policy is `email.policy.SMTP` except that headers stored raw are never refolded: Python would otherwise
turn a URL longer than a line into RFC 2047 encoded words, which breaks List-Unsubscribe. Those headers
(List-Id, List-Unsubscribe, DKIM-Signature) are folded here, between URIs, and kept as written.
"""

from __future__ import annotations

import binascii
import email.policy
import html
import secrets
from collections.abc import Sequence
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from typing import Final

from bot.addresses import InputRuleError, parse_display_name
from bot.email.identity import DkimKey, MailIdentity, load_dkim_key
from bot.render import Digest

__all__ = [
    "CONFIRM_BUTTON",
    "POLICY",
    "DkimKey",
    "MailIdentity",
    "build_already_subscribed_message",
    "build_confirmation_message",
    "build_digest_message",
    "inline_css",
    "load_dkim_key",
]

POLICY: Final = email.policy.SMTP.clone(refold_source="none")
CONFIRMATION_SUBJECT: Final = "Confirm your subscription"
# Signed when present; From is listed twice so a second From added on the way fails verification.
DKIM_HEADERS: Final = (
    "From",
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)
_MAX_HEADER_LINE: Final = 998  # RFC 5322 2.1.1, without CRLF
CONFIRM_BUTTON: Final = "Confirm my subscription"  # the mail's button and the confirm page's
_BUTTON_STYLE: Final = (
    "display: inline-block; color: #ffffff; background: #1d4ed8; padding: 12px 20px; text-decoration: none;"
    " border-radius: 4px; font-weight: bold;"
)
_WRAP_ANYWHERE: Final = "word-break: break-all; overflow-wrap: anywhere; font-size: 14px;"


def inline_css(html_text: str) -> str:
    """`html_text` with its CSS moved into style attributes; only @media and other at-rules stay in <style>."""
    import css_inline  # imported here: only a digest being built needs it, and `newsbot once` must start fast

    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    return inliner.inline(html_text)


def build_digest_message(
    digest: Digest,
    *,
    identity: MailIdentity,
    to: str,
    to_name: str = "",
    unsubscribe_url: str,
    unsubscribe_mailto: str,
    now: datetime,
    dkim: DkimKey | None = None,
) -> EmailMessage:
    """One subscriber's digest.

    `unsubscribe_url` is the subscriber's one-click https link; `unsubscribe_mailto` an address (or a whole
    mailto: URI, used as given) that unsubscribes whoever writes to it, or "" for none.
    """
    if not unsubscribe_url.startswith(("https://", "http://")):
        raise ValueError(f"unsubscribe_url must be an http(s) URL, not {unsubscribe_url!r}")
    message = _new_message(identity, to=to, to_name=to_name, subject=digest.subject, now=now)
    message.set_raw("List-Id", _list_id(identity))
    uris = [f"<{unsubscribe_url}>"]
    if unsubscribe_mailto:
        mailto = unsubscribe_mailto
        if not mailto.startswith("mailto:"):
            mailto = f"mailto:{mailto}?subject=unsubscribe"
        uris.append(f"<{mailto}>")
    message.set_raw("List-Unsubscribe", _raw_value("List-Unsubscribe", ",\n ".join(uris)))
    if unsubscribe_url.startswith("https://"):  # RFC 8058: one-click needs an https URI
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    _set_body(message, text=digest.text, html_text=digest.html if digest.css_inlined else inline_css(digest.html))
    return _signed(message, dkim)


def build_confirmation_message(
    *,
    identity: MailIdentity,
    to: str,
    confirm_url: str,
    hashtags: Sequence[str],
    now: datetime,
    dkim: DkimKey | None = None,
) -> EmailMessage:
    """The double opt-in mail: one link that confirms the subscription; no List-* headers."""
    topics = ", ".join(f"#{tag.lstrip('#')}" for tag in hashtags if tag.lstrip("#"))
    about = f" about {topics}" if topics else ""
    text = (
        f"Please confirm that you want to receive {identity.list_name}{about} at {to}: open this link and press "
        f"“{CONFIRM_BUTTON}”.\n\n"
        f"{confirm_url}\n\n"
        "If you did not ask for this, ignore this mail: you will not get any other mail from us.\n"
    )
    page = _notice_page(
        CONFIRMATION_SUBJECT,
        f"<p>Please confirm that you want to receive {html.escape(identity.list_name)}{html.escape(about)} "
        f"at {html.escape(to)}:</p>\n"
        f"{_button_and_link(confirm_url, CONFIRM_BUTTON)}"
        "<p>If you did not ask for this, ignore this mail: you will not get any other mail from us.</p>\n",
    )
    message = _new_message(identity, to=to, to_name="", subject=CONFIRMATION_SUBJECT, now=now)
    _set_body(message, text=text, html_text=page)
    return _signed(message, dkim)


def build_already_subscribed_message(
    *, identity: MailIdentity, to: str, preferences_url: str, now: datetime, dkim: DkimKey | None = None
) -> EmailMessage:
    """The answer to a subscribe request for an address that already subscribes: nothing changed, here are its
    settings. The same mail whether or not the request came from the owner, so it tells a stranger nothing new."""
    subject = f"You already get {identity.list_name}"
    text = (
        f"Someone, probably you, asked to subscribe {to} to {identity.list_name}.\n\n"
        "This address already gets it, so nothing has changed. To choose your hashtags, open:\n\n"
        f"{preferences_url}\n\n"
        "If you did not ask for this, ignore this mail.\n"
    )
    page = _notice_page(
        subject,
        f"<p>Someone, probably you, asked to subscribe {html.escape(to)} to {html.escape(identity.list_name)}.</p>\n"
        "<p>This address already gets it, so nothing has changed. To choose your hashtags, open your settings:</p>\n"
        f"{_button_and_link(preferences_url, 'Choose your hashtags')}"
        "<p>If you did not ask for this, ignore this mail.</p>\n",
    )
    message = _new_message(identity, to=to, to_name="", subject=subject, now=now)
    _set_body(message, text=text, html_text=page)
    return _signed(message, dkim)


# --- parts shared by the mails --------------------------------------------------------------------------------


def _notice_page(title: str, body_html: str) -> str:
    """A one-column HTML page for a short notice; styles inline, as mail clients want them.

    The viewport meta makes phones lay it out at their own width instead of a desktop's 980 px, shrunk."""
    cell_style = (
        "font-family: Helvetica, Arial, sans-serif; font-size: 16px; line-height: 1.5; color: #1f2937;"
        " overflow-wrap: anywhere; word-break: break-word;"  # a 64-letter hashtag or a long address may break too
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n"
        '<body style="margin: 0; padding: 0;">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">\n'
        f'<tr><td style="{cell_style} padding: 24px;">\n'
        f"{body_html}"
        "</td></tr>\n</table>\n</body>\n</html>\n"
    )


def _button_and_link(url: str, label: str) -> str:
    """A link styled as a button, then the URL itself for mail clients that show no button.

    The URL, a long signed token with no place to break, is allowed to wrap anywhere: otherwise it widens the
    mail past a phone's screen. `word-break` is what most mail clients honour; `overflow-wrap` the standard."""
    href = html.escape(url)
    return (
        f'<p style="margin: 24px 0;"><a href="{href}" style="{_BUTTON_STYLE}">{html.escape(label)}</a></p>\n'
        "<p>If the button does not work, copy this link into your browser:</p>\n"
        f'<p style="{_WRAP_ANYWHERE}"><a href="{href}" style="color: #1d4ed8;">{href}</a></p>\n'
    )


def _new_message(identity: MailIdentity, *, to: str, to_name: str, subject: str, now: datetime) -> EmailMessage:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware: a Date header without a zone is read as -0000")
    message = EmailMessage(policy=POLICY)
    message.set_raw("Date", format_datetime(now))
    message["Message-ID"] = make_msgid(domain=identity.domain)
    message.set_raw("From", _folded("From", identity.sender))
    message["To"] = Address(display_name=_safe_display_name(to_name), addr_spec=to)
    message.set_raw("Subject", _folded("Subject", subject))
    if identity.reply_to:
        message.set_raw("Reply-To", _folded("Reply-To", identity.reply_to))
    return message


@lru_cache(maxsize=256)
def _folded(name: str, value: str) -> str:
    """`value` encoded and folded as the policy writes it, kept raw: a batch's mails share their From and Subject,
    and parsing and folding them again for every reader was a sixth of a digest's CPU at list scale."""
    folded: str = POLICY.header_factory(name, value).fold(policy=POLICY)
    return folded.partition(":")[2].strip(" \r\n").replace("\r\n", "\n")


def _safe_display_name(name: str) -> str:
    """`name` if it passes the display-name rule, else "" (the address alone).

    The rule is checked here too, not only where names are typed in: a name stored before it existed (an old
    sign-up, a CSV import) could hold an RFC 2047 encoded-word that Python's email package turns back into CR/LF,
    forging headers in the digest.
    """
    try:
        return parse_display_name(name)
    except InputRuleError:
        return ""


def _set_body(message: EmailMessage, *, text: str, html_text: str) -> None:
    """The two parts, in order of preference, the most preferred last.

    Encoded by binascii (C) rather than `set_content` (the email package's quoprimime, pure Python: about a third
    of a digest's CPU at list scale); the same lines of at most 76 characters, decoded the same."""
    message.set_raw("MIME-Version", "1.0")
    # "=_" never starts a quoted-printable line ("=" is followed by two hex digits or ends the line), so this
    # boundary cannot occur in either part and need not be searched for.
    message.set_raw("Content-Type", f'multipart/alternative; boundary="=_{secrets.token_hex(12)}"')
    message.set_payload([_text_part(text, "plain"), _text_part(html_text, "html")])


def _text_part(body: str, subtype: str) -> EmailMessage:
    part = EmailMessage(policy=POLICY)
    part.set_raw("Content-Type", f'text/{subtype}; charset="utf-8"')
    part.set_raw("Content-Transfer-Encoding", "quoted-printable")
    if not body.endswith("\n"):
        body += "\n"
    part.set_payload(binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii"))
    return part


def _list_id(identity: MailIdentity) -> str:
    name = identity.list_name
    if name.isascii():
        phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        phrase = Header(name, "utf-8").encode(linesep="\n")
    return _raw_value("List-Id", f"{phrase}\n <{identity.list_id}>")


def _raw_value(name: str, value: str) -> str:
    if any(ch in value for ch in "\r\0") or not value.isascii():
        raise ValueError(f"{name}: not a header value: {value!r}")
    if any(len(line) > _MAX_HEADER_LINE - len(name) - 2 for line in value.split("\n")):
        raise ValueError(f"{name}: a line is longer than the {_MAX_HEADER_LINE} characters SMTP allows")
    return value


def _signed(message: EmailMessage, key: DkimKey | None) -> EmailMessage:
    """`message` with a DKIM-Signature header first, when a key is given."""
    if key is None:
        return message
    import dkim  # only operators who sign pay for the import

    present = {name.lower() for name in message}
    include = [name.encode() for name in DKIM_HEADERS if name.lower() in present]
    signature = dkim.sign(
        message.as_bytes(),
        key.selector.encode(),
        key.domain.encode(),
        key.private_key,
        include_headers=include,
        canonicalize=(b"relaxed", b"relaxed"),
    )
    name, _, value = signature.decode("ascii").partition(":")
    existing = list(message.raw_items())
    for header in {header for header, _ in existing}:
        del message[header]
    message.set_raw(name, value.strip().replace("\r\n", "\n"))
    for header, header_value in existing:
        message.set_raw(header, header_value)
    return message
