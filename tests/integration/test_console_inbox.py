"""The console's audit log page and support inbox: customers' answers to broadcasts,
threaded per person; an answer from the web reaches the customer through the outbox and is
in the audit log."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from forever.app import Container
from forever.db.models import AuditEntry, OutboxMessage, Person
from forever.web.server import build_web_app
from forever.wiring import console
from tests.conftest import STAFF_ID, START
from tests.integration.console_helpers import sign_in

SUPPORT_ID = 900002


@pytest.fixture
async def client(container: Container) -> AsyncIterator[TestClient]:
    container.settings = container.settings.model_copy(
        update={"support_ids": frozenset({SUPPORT_ID})}
    )
    async with container.sessions.begin() as db:
        for i in (5, 6):
            db.add(Person(id=i, telegram_id=7000 + i, first_name=f"P{i}", created_at=START))
        await db.flush()
        entries = [
            (
                7005,
                "customer_message",
                {"person": 5, "broadcast": 1, "message": 11, "text": "Hi <b>there</b>"},
            ),
            (STAFF_ID, "grant", {"person": 6, "plan": "plus", "days": 3}),
            (
                7006,
                "customer_message",
                {"person": 6, "broadcast": 1, "message": 12, "text": "Price?"},
            ),
            (STAFF_ID, "staff_reply", {"person": 6, "message": 99, "text": "It is 300 Stars."}),
        ]
        for n, (actor, action, arguments) in enumerate(entries):
            db.add(
                AuditEntry(
                    actor_telegram_id=actor,
                    action=action,
                    arguments=arguments,
                    at=START - timedelta(minutes=10 - n),
                )
            )
    app = build_web_app(container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_the_inbox_threads_per_person_and_escapes_text(
    container: Container, client: TestClient
) -> None:
    support = await sign_in(client, container, SUPPORT_ID)
    status, page = await support.get("/console/inbox")
    assert status == 200
    assert re.findall(r'href="/console/inbox/(\d+)"', page) == ["6", "5"]
    assert "waiting" in page and "answered" in page
    status, thread = await support.get("/console/inbox/5")
    assert status == 200
    assert "Hi &lt;b&gt;there&lt;/b&gt;" in thread
    assert (await support.get("/console/inbox/77"))[0] == 404


async def test_an_answer_from_the_web_reaches_the_customer_once_and_is_audited(
    container: Container, client: TestClient
) -> None:
    support = await sign_in(client, container, SUPPORT_ID)
    _, thread = await support.get("/console/inbox/5")
    nonce = re.search(r'name="nonce" value="(\d+)"', thread)
    assert nonce
    form = {"text": "Hello Ana, yes.", "nonce": nonce.group(1)}
    for _ in range(2):  # the same form twice: one message
        status, page = await support.post("/console/inbox/5", form)
        assert status == 200 and "Sent to the customer in Telegram" in page
    async with container.sessions() as db:
        rows = (await db.scalars(select(OutboxMessage).where(OutboxMessage.person_id == 5))).all()
        replies = (
            await db.scalars(select(AuditEntry).where(AuditEntry.action == "staff_reply"))
        ).all()
    assert [(r.template, r.context) for r in rows] == [("staff_reply", {"text": "Hello Ana, yes."})]
    # One audit entry for the one message, however often the form was sent.
    assert [r.actor_telegram_id for r in replies if r.arguments["person"] == 5] == [SUPPORT_ID]
    _, page = await support.get("/console/inbox")
    assert "waiting" not in page


async def test_bad_answers_change_nothing(container: Container, client: TestClient) -> None:
    support = await sign_in(client, container, SUPPORT_ID)
    for form, message in [
        ({"text": "   ", "nonce": "1000000000000001"}, "Write an answer first"),
        ({"text": "x" * 3501, "nonce": "1000000000000001"}, "At most 3500 characters"),
        ({"text": "hi", "nonce": "abc"}, "This form is broken"),
    ]:
        status, page = await support.post("/console/inbox/5", form)
        assert status == 400 and message in page
    assert (await support.post("/console/inbox/5", {"text": "hi", "nonce": "1"}, csrf=False))[
        0
    ] == 403
    async with container.sessions() as db:
        assert (await db.scalars(select(OutboxMessage))).all() == []


async def test_the_audit_log_filters_and_pages(container: Container, client: TestClient) -> None:
    owner = await sign_in(client, container)
    status, page = await owner.get(f"/console/audit?actor={STAFF_ID}&action=grant")
    assert status == 200
    assert "plan=plus" in page and "It is 300 Stars" not in page
    status, page = await owner.get("/console/audit?action=customer_message")
    assert "Price?" in page and "Hi &lt;b&gt;" in page and "plan=plus" not in page
    for bad, message in [("actor=abc", "A Telegram id"), ("before=-1", "Not a page")]:
        status, page = await owner.get(f"/console/audit?{bad}")
        assert status == 400 and message in page
