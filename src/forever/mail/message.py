"""Building one email: HTML and plain-text parts and the headers mail clients rely on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"  # RFC 8058


class HeaderInjection(ValueError):
    """A header value held CR or LF: refused, so nobody can add headers through data."""


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """The one-click unsubscribe targets of a marketing email."""

    url: str
    mailto: str | None = None


def check_header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjection(f"{name}: line breaks are not allowed in a header")
    return value


def domain_of(address: str) -> str:
    _name, addr = parseaddr(address)
    return addr.rpartition("@")[2] or "localhost"


def message_id(key: str, domain: str) -> str:
    """Stable per outbox row: a copy sent again after a crash carries the same Message-ID,
    so mail clients can tell it is the same message."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


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
) -> EmailMessage:
    """A multipart/alternative message (text first, then HTML, as RFC 2046 orders them)."""
    for name, value in (("From", mail_from), ("To", to), ("Subject", subject)):
        check_header(name, value)
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = _recipient(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id(key, domain_of(mail_from))
    if unsubscribe is not None:
        targets = [f"<{check_header('List-Unsubscribe', unsubscribe.url)}>"]
        if unsubscribe.mailto:
            targets.append(f"<{check_header('List-Unsubscribe', unsubscribe.mailto)}>")
        message["List-Unsubscribe"] = ", ".join(targets)
        message["List-Unsubscribe-Post"] = LIST_UNSUBSCRIBE_POST
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def _recipient(to: str) -> str:
    """A bare address. A Unicode one is sent as it is, with SMTPUTF8 (aiosmtplib asks the
    server for it and flattens the headers as UTF-8)."""
    local, _, domain = to.rpartition("@")
    if not local or not domain or "<" in to or "," in to:
        raise ValueError(f"not a single email address: {to!r}")
    return to
