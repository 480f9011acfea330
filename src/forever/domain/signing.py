"""Short HMAC-signed tokens for links and invoice payloads.

A token is `<body>.<mac>` in URL-safe base64; the MAC covers a purpose string too, so an
unsubscribe token can never pass as a confirm token or an invoice payload.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


class BadToken(ValueError):
    """The token was not made by us with this key and purpose (or was altered)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _unb64(text: str) -> bytes:
    """Strict: only the one spelling `_b64` produces (no padding, no stray or foreign
    characters, no non-zero leftover bits), else ValueError."""
    if not text or len(text) % 4 == 1 or not _B64URL.issuperset(text):
        raise ValueError("not canonical base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


class Signer:
    def __init__(self, secret_key: str, mac_bytes: int = 12) -> None:
        if not secret_key:
            raise ValueError("a secret key is required")
        self._key = hashlib.sha256(secret_key.encode("utf-8")).digest()
        self._mac_bytes = mac_bytes

    def _mac(self, purpose: str, body: bytes) -> bytes:
        message = purpose.encode("utf-8") + b"\x00" + body
        return hmac.new(self._key, message, hashlib.sha256).digest()[: self._mac_bytes]

    def sign(self, purpose: str, body: str) -> str:
        raw = body.encode("utf-8")
        return f"{_b64(raw)}.{_b64(self._mac(purpose, raw))}"

    def verify(self, purpose: str, token: str) -> str:
        """The signed body, or BadToken."""
        try:
            body_part, mac_part = token.split(".", 1)
            raw = _unb64(body_part)
            mac = _unb64(mac_part)
        except (ValueError, UnicodeEncodeError):
            raise BadToken("malformed token") from None
        if not hmac.compare_digest(mac, self._mac(purpose, raw)):
            raise BadToken("signature does not match")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadToken("malformed token") from None

    # Telegram's /start parameter allows only A-Z, a-z, 0-9, _ and - (at most 64 characters),
    # so deep-link tokens drop the dot: the MAC is the fixed-length tail.
    def sign_compact(self, purpose: str, body: str) -> str:
        raw = body.encode("utf-8")
        return _b64(raw) + _b64(self._mac(purpose, raw))

    def verify_compact(self, purpose: str, token: str) -> str:
        tail = len(_b64(bytes(self._mac_bytes)))
        if len(token) <= tail:
            raise BadToken("malformed token")
        return self.verify(purpose, f"{token[:-tail]}.{token[-tail:]}")


def email_hash(address: str, secret_key: str = "") -> str:
    """Stable hash of an address for the suppression list (case-insensitive)."""
    normalized = address.strip().lower().encode("utf-8")
    return hashlib.sha256(secret_key.encode("utf-8") + b"\x00" + normalized).hexdigest()


SUPPRESSION_KEY_PURPOSE = "forever/suppression-email-hash/v1"
# The key of the experiment assignment hash (domain/experiments.py): who sees which variant.
EXPERIMENT_KEY_PURPOSE = "forever/experiment-assignment/v1"


def derive_key(secret_key: str, purpose: str) -> bytes:
    """A key of its own for one purpose, derived from SECRET_KEY (HMAC-SHA256 as the KDF)."""
    if not secret_key:
        raise ValueError("a secret key is required")
    root = hashlib.sha256(secret_key.encode("utf-8")).digest()
    return hmac.new(root, purpose.encode("utf-8"), hashlib.sha256).digest()


def keyed_email_hash(address: str, key: bytes) -> str:
    """HMAC-SHA256 of the normalized address (case-insensitive, trimmed): what the suppression
    list keeps. Without the key nobody can test a guessed address against the list."""
    if not key:
        raise ValueError("a key is required")
    normalized = address.strip().lower().encode("utf-8")
    return hmac.new(key, normalized, hashlib.sha256).hexdigest()
