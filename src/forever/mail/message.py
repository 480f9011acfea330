"""Building one email: HTML and plain-text parts and the headers mail clients rely on.

The message is written straight to bytes (RFC 5322 / MIME, quoted-printable UTF-8 parts):
the standard library's EmailMessage header machinery costs more per mail than the SMTP
exchange itself, and every header here is one we control.
"""

from __future__ import annotations

import binascii
import hashlib
from base64 import b64encode
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"  # RFC 8058


class HeaderInjection(ValueError):
    """A header value held CR or LF: refused, so nobody can add headers through data."""


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """The one-click unsubscribe targets of a marketing email."""

    url: str
    mailto: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """What goes over SMTP: the envelope and the message bytes (CRLF line endings)."""

    sender: str
    recipient: str
    data: bytes
    smtputf8: bool  # a Unicode address: the server must offer SMTPUTF8 (RFC 6531)


def check_header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise HeaderInjection(f"{name}: line breaks and NUL bytes are not allowed in a header")
    return value


@lru_cache(maxsize=64)
def domain_of(address: str) -> str:
    _name, addr = parseaddr(address)
    return addr.rpartition("@")[2] or "localhost"


@lru_cache(maxsize=64)
def bare_address(address: str) -> str:
    return parseaddr(address)[1] or address


def message_id(key: str, domain: str) -> str:
    """Stable per outbox row: a copy sent again after a crash carries the same Message-ID,
    so mail clients can tell it is the same message."""
    return f"<{_digest(key)[:32]}@{domain}>"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# 42 UTF-8 bytes are 56 base64 characters: with "=?utf-8?b?" and "?=" an encoded word is
# 68 characters, so even the first one fits on a line after "Subject: " (RFC 5322: 78).
_WORD_BYTES = 42


@lru_cache(maxsize=512)  # subjects repeat across recipients (same template and locale)
def _encoded(value: str) -> str:
    """An unstructured header value: as is when plain ASCII, else RFC 2047 UTF-8 words.

    Written here rather than with `email.header.Header`, which costs far more per message
    than the rest of the MIME writing put together."""
    if value.isascii() and len(value) < 900:
        return value
    data = value.encode("utf-8")
    words = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never split a character
            end -= 1
        words.append(f"=?utf-8?b?{b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return "\r\n ".join(words)  # decoders drop the folding white space between words


@lru_cache(maxsize=64)  # MAIL_FROM: the same value for every message
def _mailbox(value: str) -> str:
    name, addr = parseaddr(value)
    if not name:
        return addr or value
    return formataddr((name, addr), charset="utf-8")


@lru_cache(maxsize=16)  # a batch is sent with one `date`
def _date(value: datetime) -> str:
    return format_datetime(value)


def _qp(text: str) -> bytes:
    """Quoted-printable UTF-8 with CRLF line ends (soft breaks keep lines under 76)."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(normalized.encode("utf-8"), istext=True)
    return encoded.replace(b"\n", b"\r\n")


def _recipient(to: str) -> str:
    local, _, domain = to.rpartition("@")
    if not local or not domain or any(c in to for c in "<>,; \t"):
        raise ValueError(f"not a single email address: {to!r}")
    return to


def build_message(
    *,
    mail_from: str,
    to: str,
    subject: str,
    html: str,
    text: str,
    key: str,
    date: datetime,
    unsubscribe: Unsubscribe | None = None,
) -> OutgoingMail:
    """A multipart/alternative message (text first, then HTML, as RFC 2046 orders them)."""
    for name, value in (("From", mail_from), ("To", to), ("Subject", subject)):
        check_header(name, value)
    recipient = _recipient(to)
    headers = [
        f"From: {_mailbox(mail_from)}",
        f"To: {recipient}",  # a Unicode address goes as UTF-8 (RFC 6532), with SMTPUTF8
        f"Subject: {_encoded(subject)}",
        f"Date: {_date(date)}",
        f"Message-ID: {message_id(key, domain_of(mail_from))}",
        "MIME-Version: 1.0",
    ]
    if unsubscribe is not None:
        targets = [f"<{check_header('List-Unsubscribe', unsubscribe.url)}>"]
        if unsubscribe.mailto:
            targets.append(f"<{check_header('List-Unsubscribe', unsubscribe.mailto)}>")
        headers.append("List-Unsubscribe: " + ",\r\n ".join(targets))
        headers.append(f"List-Unsubscribe-Post: {LIST_UNSUBSCRIBE_POST}")
    # "=_" never occurs in quoted-printable text, so the boundary cannot collide with it and
    # need not be random: taken from the key, a copy sent again is the same bytes.
    boundary = f"=_forever_{_digest(key)[32:56]}"
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    part_head = (
        'Content-Type: text/{kind}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    body = b"".join(
        (
            "\r\n".join(headers).encode("utf-8"),
            b"\r\n\r\n",
            f"--{boundary}\r\n".encode(),
            part_head.format(kind="plain").encode(),
            _qp(text),
            f"\r\n--{boundary}\r\n".encode(),
            part_head.format(kind="html").encode(),
            _qp(html),
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    return OutgoingMail(
        sender=bare_address(mail_from),
        recipient=recipient,
        data=body,
        smtputf8=not recipient.isascii(),
    )
