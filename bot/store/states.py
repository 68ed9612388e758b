"""The states of an outbox row and of a digest delivery (the ledger), and of an email sign-up."""

from __future__ import annotations

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
# Sent, but no answer came back and it could not be checked: an admin decides (/post to send again, /skip if it
# did go out). Never retried by itself, so nothing is posted twice silently.
UNKNOWN = "unknown"
# Routed through a route with `approval = true`: never sent until an admin approves (then pending) or skips it.
HELD = "held"
STATES = (PENDING, SENT, FAILED, SKIPPED, UNKNOWN, HELD)

AWAITING_CONFIRMATION = "awaiting confirmation"  # status_reason of an email sign-up whose link was not clicked yet
