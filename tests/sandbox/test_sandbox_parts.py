"""The sandbox's small parts: its clock, and the mail catcher as a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
import pytest

from forever.domain.clock import ManualClock
from forever.sandbox.clock import SandboxClock
from forever.sandbox.mail_catcher import MailCatcher

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_the_clock_follows_real_time_and_only_moves_forward() -> None:
    real = ManualClock(NOW)
    clock = SandboxClock(real)
    assert clock.now() == NOW
    clock.advance(timedelta(days=7))
    real.advance(timedelta(minutes=5))  # real time keeps flowing underneath
    assert clock.now() == NOW + timedelta(days=7, minutes=5)
    assert clock.offset == timedelta(days=7)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(timedelta(seconds=-1))
    assert clock.until(NOW + timedelta(days=8)) == timedelta(days=1, minutes=-5)


async def test_the_catcher_keeps_what_an_smtp_client_sends() -> None:
    catcher = MailCatcher(ManualClock(NOW))
    heard = []
    catcher.subscribe(heard.append)
    port = await catcher.start()
    try:
        message = EmailMessage()
        message["From"] = "Forever <hello@forever.test>"
        message["To"] = "ana@example.com"
        message["Subject"] = "Três coisas — for Ana"
        message["List-Unsubscribe"] = "<https://forever.test/u/abc>, <mailto:u@forever.test>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content("Hello Ana")
        message.add_alternative("<p>Hello <b>Ana</b></p>", subtype="html")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port)
    finally:
        await catcher.stop()
    (mail,) = catcher.mails
    assert heard == [mail]
    assert mail.received_at == NOW
    assert mail.rcpt_tos == ["ana@example.com"]
    assert mail.subject == "Três coisas — for Ana"
    assert mail.text.strip() == "Hello Ana"
    assert "<b>Ana</b>" in mail.html
    assert mail.unsubscribe_urls == ["https://forever.test/u/abc", "mailto:u@forever.test"]
    assert mail.one_click and mail.marketing
