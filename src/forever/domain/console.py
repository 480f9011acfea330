"""The owner console's rules: who may sign in and do what, one-time links and sessions.

Pure: tokens are random strings handed out once; only their SHA-256 is kept, so a copy of
the database signs nobody in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Set
from datetime import datetime, timedelta

LINK_TTL = timedelta(minutes=10)  # a sign-in link works once, within this time
IDLE_TIMEOUT = timedelta(minutes=30)  # a session unused this long is over
ABSOLUTE_TIMEOUT = timedelta(hours=12)  # and every session is over after this long

OWNER = "owner"
SUPPORT = "support"

# What each role may do. Owners may do everything.
READ, INBOX, GRANT, REFUND, ERASE, CATALOG, TEXTS, BROADCAST = (
    "read",
    "inbox",
    "grant",
    "refund",
    "erase",
    "catalog",
    "texts",
    "broadcast",
)
ALLOWED: dict[str, frozenset[str]] = {
    OWNER: frozenset({READ, INBOX, GRANT, REFUND, ERASE, CATALOG, TEXTS, BROADCAST}),
    SUPPORT: frozenset({READ, INBOX, GRANT}),
}


def role_of(telegram_id: int, owners: Set[int], support: Set[int]) -> str | None:
    """Owners are ADMIN_IDS, support staff SUPPORT_IDS; anyone else has no role. Read at
    each request, so removing someone from the settings ends their sessions."""
    if telegram_id in owners:
        return OWNER
    if telegram_id in support:
        return SUPPORT
    return None


def may(role: str, action: str) -> bool:
    return action in ALLOWED.get(role, frozenset())


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The form token of a session: derived from the session's secret, so a page of another
    site, which cannot read the cookie, cannot know it."""
    return hmac.new(session_token.encode(), b"console-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, sent: str) -> bool:
    return hmac.compare_digest(csrf_token(session_token), sent)


def session_alive(created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at < IDLE_TIMEOUT and now - created_at < ABSOLUTE_TIMEOUT
