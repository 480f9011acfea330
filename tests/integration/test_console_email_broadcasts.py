"""Email broadcasts from the owner console, delivered through the outbox to the real SMTP
sink: only people with confirmed marketing consent get them, with the unsubscribe link and
headers, within the marketing cap; the preview shows the email; bad forms change nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from forever.app import Container
from forever.db.models import AuditEntry, OutboxMessage
from forever.domain.clock import ManualClock
from forever.jobs.delivery import DeliveryWorker
from forever.web.server import build_web_app
from forever.wiring import console
from tests.conftest import START
from tests.integration import test_journeys
from tests.integration.console_helpers import sign_in
from tests.integration.test_journeys import person_with
from tests.smtp_sink import SmtpSink, smtp_sink_fixture  # noqa: F401 - fixture

pool = test_journeys.pool  # the SMTP pool and delivery worker fixtures, shared
sender = test_journeys.sender


def cells(row: str) -> list[str]:
    """The text of a table row's cells (tags dropped, spaces collapsed)."""
    found = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.DOTALL)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in found]


FORM = {
    "segment": "all",
    "subject": "New classes in December",
    "body_html": "<p>Twelve <b>new</b> classes start on Monday.</p>",
    "body_text": "Twelve new classes start on Monday.",
    "when": "now",
}


@pytest.fixture
async def client(container: Container) -> AsyncIterator[TestClient]:
    await person_with(container, telegram_id=8001, name="Ana", email="ana@example.com")
    await person_with(container, telegram_id=8002, name="Bo", language="ro", email="bo@example.com")
    await person_with(
        container, telegram_id=8003, name="Cy", email="cy@example.com", consent_given=False
    )
    await person_with(container, telegram_id=8004, name="Di", email=None)
    app = build_web_app(container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def outbox_rows(container: Container) -> int:
    async with container.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def test_preview_then_send_reaches_only_consenting_people_with_unsubscribe(
    client: TestClient,
    container: Container,
    sender: DeliveryWorker,
    smtp_sink: SmtpSink,
    clock: ManualClock,
) -> None:
    owner = await sign_in(client, container)
    status, page = await owner.get("/console/broadcasts/email")
    assert status == 200
    assert "<strong>2</strong> people in this segment have confirmed email consent" in page
    status, page = await owner.get("/console/broadcasts/email?segment=language:ro")
    assert "<strong>1</strong> person in this segment has confirmed" in page

    status, page = await owner.post("/console/broadcasts/email", {**FORM, "do": "preview"})
    assert status == 200
    assert 'id="preview-subject">New classes in December<' in page
    assert "Twelve new classes start on Monday." in page.split('id="preview-text"')[1]
    assert "Unsubscribe" in page
    assert await outbox_rows(container) == 0  # a preview sends nothing

    status, page = await owner.post("/console/broadcasts/email", {**FORM, "do": "send"})
    assert status == 200, page
    assert "Queued: 2 emails" in page
    report = await sender.drain()
    assert report.sent == 2
    mails = {r.recipients[0]: r.message for r in smtp_sink.received}
    assert set(mails) == {"ana@example.com", "bo@example.com"}
    for mail in mails.values():
        assert mail["Subject"] == "New classes in December"
        assert mail["List-Unsubscribe"]
        html_part = mail.get_body(("html",))
        text_part = mail.get_body(("plain",))
        assert html_part is not None and text_part is not None
        assert "Twelve <b>new</b> classes start on Monday." in html_part.get_content()
        text = text_part.get_content()
        assert "Twelve new classes start on Monday." in text and "/u/" in text
    status, page = await owner.get("/console/broadcasts/email")
    row = page.split("<td>New classes in December</td>", 1)[1].split("</tr>", 1)[0]
    assert cells(row)[2:5] == ["2 100%", "2", "0"]  # recipients (all settled), sent, waiting

    # A second one at once waits for the marketing cap (48 h), then goes.
    second = {**FORM, "subject": "Last call", "do": "send"}
    status, page = await owner.post("/console/broadcasts/email", second)
    assert status == 200 and "Queued: 2 emails" in page
    assert (await sender.drain()).sent == 0
    assert len(smtp_sink.received) == 2
    status, page = await owner.get("/console/broadcasts/email")
    row = page.split("<td>Last call</td>", 1)[1].split("</tr>", 1)[0]
    assert cells(row)[2:5] == ["2 0%", "0", "2 Cancel the waiting ones"]  # with its button
    clock.set(START + timedelta(hours=49))
    assert (await sender.drain()).sent == 2
    assert [r.message["Subject"] for r in smtp_sink.received[2:]] == ["Last call"] * 2
    async with container.sessions() as db:
        actions = list(await db.scalars(select(AuditEntry.action)))
    assert actions.count("email_broadcast") == 2


async def test_a_scheduled_email_waits_for_its_time(
    client: TestClient,
    container: Container,
    sender: DeliveryWorker,
    smtp_sink: SmtpSink,
    clock: ManualClock,
) -> None:
    owner = await sign_in(client, container)
    await owner.get("/console/broadcasts/email")
    at = START + timedelta(hours=3)
    form = {**FORM, "do": "send", "when": "later", "send_at": at.strftime("%Y-%m-%dT%H:%M")}
    status, page = await owner.post("/console/broadcasts/email", form)
    assert status == 200 and "Scheduled: 2 emails" in page
    assert (await sender.drain()).sent == 0
    clock.set(at)
    assert (await sender.drain()).sent == 2
    assert len(smtp_sink.received) == 2


async def test_a_scheduled_email_can_be_cancelled_before_its_time(
    client: TestClient,
    container: Container,
    sender: DeliveryWorker,
    smtp_sink: SmtpSink,
    clock: ManualClock,
) -> None:
    owner = await sign_in(client, container)
    await owner.get("/console/broadcasts/email")
    at = START + timedelta(hours=3)
    form = {**FORM, "do": "send", "when": "later", "send_at": at.strftime("%Y-%m-%dT%H:%M")}
    status, page = await owner.post("/console/broadcasts/email", form)
    assert status == 200 and "Cancel the waiting ones" in page
    ref = page.split('name="ref" value="', 1)[1].split('"', 1)[0]
    status, page = await owner.post("/console/broadcasts/email/cancel", {"ref": ref})
    assert status == 200 and "Cancelled: 2 emails will not be sent." in page
    clock.set(at + timedelta(minutes=5))
    assert (await sender.drain()).sent == 0
    assert smtp_sink.received == []
    owner = await sign_in(client, container)  # the first session has idled out meanwhile
    status, page = await owner.post("/console/broadcasts/email/cancel", {"ref": ref})
    assert status == 409
    status, page = await owner.post("/console/broadcasts/email/cancel", {"ref": "x' OR 1"})
    assert status == 400


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"subject": " "}, "subject", "Write a subject."),
        ({"subject": "x" * 151}, "subject", "At most 150 characters"),
        ({"body_html": ""}, "body_html", "Write the HTML body."),
        ({"body_html": "<p>Hi</p><script>alert(1)</script>"}, "body_html", "Not allowed"),
        ({"body_html": '<img src="x" onerror="alert(1)">'}, "body_html", "Not allowed"),
        ({"body_text": ""}, "body_text", "Write the text body"),
        ({"segment": "plan:nope"}, "segment", "Choose a segment"),
        ({"when": "later", "send_at": "soon"}, "send_at", "A date and time"),
        ({"when": "later", "send_at": "2026-11-01T09:00"}, "send_at", "has passed"),
        ({"do": "explode"}, "do", "Choose Preview or Send."),
    ],
)
async def test_a_bad_form_gets_a_message_next_to_the_field_and_changes_nothing(
    client: TestClient, container: Container, form: dict[str, str], field: str, message: str
) -> None:
    owner = await sign_in(client, container)
    await owner.get("/console/broadcasts/email")
    status, page = await owner.post("/console/broadcasts/email", {**FORM, "do": "send", **form})
    assert status == 400
    assert message in page.split(f'id="e-{field}"', 1)[1].split("</span>", 1)[0]
    assert await outbox_rows(container) == 0


async def test_forged_posts_are_refused(client: TestClient, container: Container) -> None:
    owner = await sign_in(client, container)
    status, _ = await owner.post("/console/broadcasts/email", {**FORM, "do": "send"}, csrf=False)
    assert status == 403
    assert await outbox_rows(container) == 0
