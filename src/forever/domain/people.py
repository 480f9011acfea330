"""Who is talking: when an incoming update must change the stored person."""

from __future__ import annotations

from datetime import datetime, timedelta

# `last_seen_at` feeds the "inactive 14 days" journey: a resolution of minutes is plenty,
# and it spares a write on every update of a busy chat.
SEEN_RESOLUTION = timedelta(minutes=5)

# An outbox context key naming the keys to drop once the row is sent: data a message needs
# only until it is done, such as an erased person's Telegram id on their removal from chats.
FORGET_WHEN_SENT = "forget_when_sent"


def needs_update(
    *,
    last_seen_at: datetime | None,
    blocked_at: datetime | None,
    stored_username: str | None,
    username: str | None,
    now: datetime,
) -> bool:
    """True when this update changes something we keep: they write again after blocking us,
    took a new username, or were last recorded as seen more than SEEN_RESOLUTION ago."""
    if blocked_at is not None:
        return True
    if username and username != stored_username:
        return True
    return last_seen_at is None or now - last_seen_at >= SEEN_RESOLUTION
