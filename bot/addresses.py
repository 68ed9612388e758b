"""Input rules for a subscriber's email address and display name: one pure function each.

The web form, the `/email` chat command and CSV import call these and only wrap `InputRuleError` in their own words.

Addresses are kept lower-cased whole: `Bob@Example.NET` and `bob@example.net` are one mailbox (every mail provider
in use treats the local part case-insensitively, and two digests to one reader is the failure users see).

Names end up in a mail header (`To: "Name" <address>`). Python's email package has, on some 3.10–3.12 releases,
decoded an RFC 2047 encoded-word in a display name back to raw CR/LF, which let a name forge headers. So a name
may not contain an encoded-word (`=?`), quotes, backslashes, angle brackets, `@`, `;`, `,` or any control,
format or line-separator character: whatever a header parser treats as syntax is refused, not escaped.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = [
    "MAX_ADDRESS_CHARS",
    "MAX_NAME_CHARS",
    "InputRuleError",
    "has_control",
    "parse_address",
    "parse_display_name",
]

MAX_ADDRESS_CHARS: Final = 254
MAX_LOCAL_PART_CHARS: Final = 64
MAX_NAME_CHARS: Final = 100

# RFC 5322 dot-atom: what may stand before the @ without quoting.
_LOCAL_PART: Final = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL: Final = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_NAME_SYNTAX: Final = frozenset('"\\<>@;,:()[]')


class InputRuleError(ValueError):
    """A value the person must fix; the message says what is wrong in words they can act on."""


def parse_address(text: str) -> str:
    """A plausible email address, trimmed and lower-cased (IDNA for a non-ASCII domain).

    Deliberately simple: one @, an ASCII dot-atom before it (what Python's email package and every SMTP server
    take without SMTPUTF8), a domain with a dot after it, at most 254 characters, no spaces or control characters.
    """
    address = text.strip()
    if not address:
        raise InputRuleError("Please enter your email address.")
    local, at, domain = address.rpartition("@")
    local = local.lower()
    problem = ""
    if len(address) > MAX_ADDRESS_CHARS:
        problem = f"is longer than {MAX_ADDRESS_CHARS} characters"
    elif has_control(address) or any(ch.isspace() for ch in address):
        problem = "contains spaces or characters an email address cannot have"
    elif not at or not local or "@" in local:
        problem = "needs one @ with your name before it"
    elif len(local) > MAX_LOCAL_PART_CHARS or not _LOCAL_PART.match(local):
        problem = f"has characters that cannot come before the @ ({local[:20]})"
    else:
        domain = _ascii_domain(domain)
        if not domain:
            problem = "needs a domain such as example.com after the @"
    if problem:
        raise InputRuleError(f"That email address {problem}.")
    return f"{local}@{domain}"


def _ascii_domain(domain: str) -> str:
    """`domain` lower-cased and in ASCII (IDNA), or "" if it is not a domain with a dot."""
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return ""
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        return ""
    return ascii_domain


def parse_display_name(text: str) -> str:
    """A name to greet someone by and show in `To:`: spaces collapsed, at most 100 characters, no header syntax."""
    name = " ".join(text.split())
    if len(name) > MAX_NAME_CHARS:
        raise InputRuleError(f"Please keep the name to {MAX_NAME_CHARS} characters.")
    if has_control(name) or "=?" in name or any(ch in _NAME_SYNTAX for ch in name):
        raise InputRuleError(
            "The name can have letters, digits, spaces, dots, hyphens and apostrophes, "
            'but not quotes, brackets, "=?", @, commas or control characters.'
        )
    return name


def has_control(text: str) -> bool:
    """True if `text` has a control, format (zero-width, bidi override) or line/paragraph separator character."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)
