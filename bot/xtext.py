"""X's counting rules: a post's weighted length, as X itself computes it."""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["X_LIMIT", "weighted_length"]

X_LIMIT: Final = 280


def weighted_length(text: str) -> int:
    """Weighted length of `text` on X: URLs count 23, CJK characters and emoji 2, most others 1."""
    # Imported here: twitter_text takes ~140 ms to import, and the CLI must start fast.
    from twitter_text import parse_tweet

    return int(parse_tweet(unicodedata.normalize("NFC", text)).weightedLength)
