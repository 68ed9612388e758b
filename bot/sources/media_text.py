"""The text a Media RSS feed gives for each image (`media:description`, else `media:title`), by the image's URL.

feedparser folds `media:description` into the entry's summary and `media:title` into its title, so the image's own
text is lost by the time an entry is read: it is read here from the document instead, with defusedxml (no entity
expansion, no outside files), and only when the document declares the Media RSS namespace. The text sits either in
the `media:content` / `media:thumbnail` element itself, or beside it in its `media:group` or item, where it serves
every image there. A document ElementTree cannot read (feedparser reads broken feeds too) gives no texts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from bot.alttext import clean_alt

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = ["media_image_texts"]

_NAMESPACES: Final = ("http://search.yahoo.com/mrss/", "http://search.yahoo.com/mrss")
_IMAGES: Final = frozenset(f"{{{ns}}}{name}" for ns in _NAMESPACES for name in ("content", "thumbnail"))
_TEXTS: Final = tuple(tuple(f"{{{ns}}}{name}" for ns in _NAMESPACES) for name in ("description", "title"))


def _own_text(element: Element) -> str:
    """The element's media:description, else its media:title, cleaned ("" if neither has text)."""
    for names in _TEXTS:
        for child in element:
            if child.tag in names and (text := clean_alt("".join(child.itertext()))):
                return text
    return ""


def media_image_texts(data: bytes) -> dict[str, str]:
    """Image URL (as written) → its text, for the Media RSS images of a feed document."""
    if b"search.yahoo.com/mrss" not in data:
        return {}
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    try:
        root = ElementTree.fromstring(data)
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        return {}
    texts: dict[str, str] = {}
    for parent in root.iter():
        shared = ""
        for child in parent:
            if child.tag not in _IMAGES:
                continue
            url = (child.get("url") or "").strip()
            shared = shared or _own_text(parent)
            text = _own_text(child) or shared
            if url and text:
                texts.setdefault(url, text)
    return texts
