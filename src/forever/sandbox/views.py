"""What the page gets as JSON: chat messages and caught mail, already made safe to show.

Message HTML comes from the fake Bot API, which rebuilds it from text + entities with only
Telegram's tags (so it is safe to insert); links are limited to http(s) and t.me here too.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from forever.sandbox.fake_bot_api import FakeMessage
from forever.sandbox.fake_bot_api.state import InvoiceInfo
from forever.sandbox.mail_catcher import CaughtMail

_SAFE_SCHEMES = ("http://", "https://", "mailto:")


def button_view(button: dict[str, Any]) -> dict[str, Any]:
    url = button.get("url")
    if "callback_data" in button:
        kind = "callback"
    elif button.get("pay"):
        kind = "pay"
    elif isinstance(url, str) and url.startswith("https://t.me/$"):
        kind = "invoice_link"
    elif isinstance(url, str) and url.startswith(_SAFE_SCHEMES):
        kind = "url"
    else:
        kind = "unsupported"
    view: dict[str, Any] = {"text": button["text"], "kind": kind}
    if kind in ("url", "invoice_link"):
        view["url"] = url
    return view


def message_view(message: FakeMessage) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": message.message_id,
        "chat_id": message.chat_id,
        "from_bot": message.from_bot,
        "date": message.date,
        "edited": message.edited,
        "deleted": message.deleted,
        "html": message.html or "",
        "buttons": [[button_view(b) for b in row] for row in message.inline_keyboard],
    }
    if message.media is not None:
        view["media"] = {
            "kind": message.media.kind,
            "url": f"/sandbox/files/{message.media.file.file_id}",
            "name": message.media.file.file_name,
        }
    if message.invoice is not None:
        view["invoice"] = {**invoice_view(message.invoice), "paid": bool(message.paid_by)}
    payment = message.extra.get("successful_payment")
    if payment:
        view["payment"] = {
            "amount": payment["total_amount"],
            "currency": payment["currency"],
            "recurring": bool(payment.get("is_recurring")),
            "first": bool(payment.get("is_first_recurring")),
        }
    return view


def invoice_view(info: InvoiceInfo) -> dict[str, Any]:
    return {
        "title": info.title,
        "description": info.description,
        "amount": info.total_amount,
        "currency": info.currency,
        "period_days": (info.subscription_period or 0) // 86400 or None,
    }


def mail_summary(mail: CaughtMail) -> dict[str, Any]:
    return {
        "id": mail.id,
        "customer_id": mail.customer_id,
        "received_at": mail.received_at.isoformat(),
        "from": str(mail.message.get("From", mail.mail_from)),
        "to": ", ".join(mail.to),
        "subject": mail.subject,
        "marketing": mail.marketing,
        "preview": _preview(mail),
    }


def mail_detail(mail: CaughtMail) -> dict[str, Any]:
    detail = mail_summary(mail)
    detail.update(
        headers=[{"name": n, "value": v} for n, v in mail.headers()],
        text=mail.text,
        has_html=mail.html is not None,
        html_url=f"/sandbox/api/mail/{mail.id}/html",
        unsubscribe=[u for u in mail.unsubscribe_urls if u.startswith(("http://", "https://"))],
        unsubscribe_mailto=[u for u in mail.unsubscribe_urls if u.startswith("mailto:")],
        one_click=mail.one_click,
        links=links_in(mail.html or ""),
    )
    return detail


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            text = " ".join("".join(self._text).split())
            if self._href.startswith(_SAFE_SCHEMES):
                self.links.append({"text": text or self._href, "url": self._href})
            self._href = None


def links_in(html: str) -> list[dict[str, str]]:
    collector = _LinkCollector()
    collector.feed(html)
    return collector.links


def _preview(mail: CaughtMail, length: int = 140) -> str:
    text = mail.text
    if text is None and mail.html:
        text = re.sub(r"<[^>]+>", " ", mail.html)
    return " ".join((text or "").split())[:length]
