"""The broadcasts' live progress (issue 20): GET /console/broadcasts/progress and
/console/broadcasts/email/progress answer, as JSON and for a signed-in console user only, the
figures of the broadcasts still going out (and of those the page's script names), matching
the database as a job progresses; nothing but ids, statuses and counts. The script is served
from the console itself, as the pages' CSP allows, and no script is inline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from forever.app import Container
from forever.db.models import Broadcast, BroadcastDelivery
from forever.domain.clock import ManualClock
from forever.jobs.delivery import DeliveryWorker
from forever.services.broadcast_sender import Outgoing, RecipientBlocked
from forever.web.server import build_web_app
from forever.wiring import console
from tests.conftest import START
from tests.e2e.staff_helpers import wait_for
from tests.integration import test_journeys
from tests.integration.console_helpers import Signed, sign_in
from tests.integration.test_broadcast_sender import ScriptedTransport, worker
from tests.integration.test_journeys import person_with
from tests.smtp_sink import SmtpSink, smtp_sink_fixture  # noqa: F401 - fixture

pool = test_journeys.pool  # the SMTP pool and delivery worker fixtures, shared
sender = test_journeys.sender

SUPPORT_ID = 900002
CHAT = "/console/broadcasts/progress"
EMAIL = "/console/broadcasts/email/progress"
CHAT_KEYS = {"id", "status", "in_progress", "settled", "recipients", "delivered", "blocked"}
CHAT_KEYS |= {"failed"}
EMAIL_KEYS = {"id", "in_progress", "recipients", "settled", "sent", "waiting", "pending"}
EMAIL_KEYS |= {"suppressed", "canceled", "failed"}
MAIL = {
    "segment": "all",
    "subject": "Secret subject",
    "body_html": "<p>Secret body</p>",
    "body_text": "Secret body",
    "when": "now",
    "do": "send",
}


@pytest.fixture
async def client(container: Container) -> AsyncIterator[TestClient]:
    container.settings = container.settings.model_copy(
        update={"support_ids": frozenset({SUPPORT_ID})}
    )
    await person_with(container, telegram_id=8101, name="Ana", email="ana@example.com")
    await person_with(container, telegram_id=8102, name="Bo", email="bo@example.com")
    await person_with(
        container, telegram_id=8103, name="Cy", email="cy@example.com", consent_given=False
    )
    app = build_web_app(container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def progress(who: Signed, path: str, ids: str = "") -> tuple[list[dict[str, Any]], str]:
    response = await who.client.get(path + (f"?ids={ids}" if ids else ""), headers=who.headers)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.text()
    return (await response.json())["broadcasts"], body


async def in_database(container: Container, job: int) -> dict[str, int]:
    async with container.sessions() as db:
        rows = await db.execute(
            select(BroadcastDelivery.status, func.count())
            .where(BroadcastDelivery.broadcast_id == job)
            .group_by(BroadcastDelivery.status)
        )
        return {str(status): int(n) for status, n in rows}


class Held(ScriptedTransport):
    """Delivers to the first person at once and to the others once `go` is set."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.go = asyncio.Event()

    async def deliver(self, message: Outgoing) -> int:
        if sum(self.calls.values()) >= 1:
            self.calls[message.chat_id] += 1
            await self.go.wait()
            self.calls[message.chat_id] -= 1
        return await super().deliver(message)


async def test_without_a_session_the_progress_is_refused(client: TestClient) -> None:
    for path in (CHAT, EMAIL):
        response = await client.get(path)
        assert response.status == 401
        assert response.content_type == "text/html"  # the signed-out page, no figures
        assert '"broadcasts"' not in await response.text()


async def test_the_chat_figures_follow_the_database_as_the_job_goes_out(
    client: TestClient, container: Container
) -> None:
    owner = await sign_in(client, container)
    assert await progress(owner, CHAT) == ([], '{"broadcasts": []}')
    status, page = await owner.post(
        "/console/broadcasts", {"segment": "all", "text": "Secret text", "when": "now"}
    )
    assert status == 200 and "Queued: sending to 3 people now." in page
    async with container.sessions() as db:
        job = int(await db.scalar(select(Broadcast.id)) or 0)
    [item], body = await progress(owner, CHAT)
    assert item == {
        "id": job,
        "status": "queued",
        "in_progress": True,
        "settled": 0,
        "recipients": 3,
        "delivered": 0,
        "blocked": 0,
        "failed": 0,
    }
    assert "Secret" not in body and "8101" not in body  # figures only: no text, no people

    transport = Held(script={8102: [RecipientBlocked()]})
    running = asyncio.create_task(worker(container, transport).run(job))
    try:
        await wait_for(lambda: sum(transport.calls.values()) >= 1)
        seen: dict[str, Any] = {}

        async def one_settled() -> bool:
            nonlocal seen
            [seen], _ = await progress(owner, CHAT)
            return bool(seen["settled"] == 1)

        deadline = asyncio.get_running_loop().time() + 20
        while not await one_settled():
            assert asyncio.get_running_loop().time() < deadline, seen
            await asyncio.sleep(0.02)
        counts = await in_database(container, job)
        assert seen["status"] == "running" and seen["in_progress"] is True
        assert (
            seen["delivered"] + seen["blocked"]
            == 1
            == sum(counts.get(s, 0) for s in ("delivered", "blocked", "failed"))
        )
    finally:
        transport.go.set()
        report = await running
    assert report is not None and report.status == "done"

    # Done: it is no longer in progress, but the page's script may still ask for it by id.
    assert (await progress(owner, CHAT))[0] == []
    [done], _ = await progress(owner, CHAT, ids=f"{job},999,x")
    counts = await in_database(container, job)
    assert counts == {"delivered": 2, "blocked": 1}
    assert done == {
        "id": job,
        "status": "done",
        "in_progress": False,
        "settled": 3,
        "recipients": 3,
        "delivered": 2,
        "blocked": 1,
        "failed": 0,
    }
    assert set(done) == CHAT_KEYS

    # Any console role may read it (the page itself is for owners).
    support = await sign_in(client, container, SUPPORT_ID)
    [same], _ = await progress(support, CHAT, ids=str(job))
    assert same == done


async def test_the_email_counts_follow_the_outbox(
    client: TestClient,
    container: Container,
    sender: DeliveryWorker,
    smtp_sink: SmtpSink,
    clock: ManualClock,
) -> None:
    owner = await sign_in(client, container)
    assert (await progress(owner, EMAIL))[0] == []
    status, page = await owner.post("/console/broadcasts/email", MAIL)
    assert status == 200 and "Queued: 2 emails" in page
    [item], body = await progress(owner, EMAIL)
    ref = item["id"]
    assert item == {
        "id": ref,
        "in_progress": True,
        "recipients": 2,
        "settled": 0,
        "sent": 0,
        "waiting": 2,
        "pending": 2,
        "suppressed": 0,
        "canceled": 0,
        "failed": 0,
    }
    assert set(item) == EMAIL_KEYS
    assert "Secret" not in body and "example.com" not in body
    assert f'data-id="{ref}" data-live' in page

    assert (await sender.drain()).sent == 2
    assert len(smtp_sink.received) == 2
    assert (await progress(owner, EMAIL))[0] == []
    [done], _ = await progress(owner, EMAIL, ids=ref)
    assert done == {
        **item,
        "in_progress": False,
        "settled": 2,
        "sent": 2,
        "waiting": 0,
        "pending": 0,
    }

    # A scheduled one is not in progress before its time, and is at its time.
    at = START + timedelta(hours=3)
    later = {**MAIL, "when": "later", "send_at": at.strftime("%Y-%m-%dT%H:%M")}
    status, page = await owner.post("/console/broadcasts/email", later)
    assert status == 200 and "Scheduled: 2 emails" in page
    assert (await progress(owner, EMAIL))[0] == []
    clock.set(at)
    owner = await sign_in(client, container)  # the first session has idled out meanwhile
    [due], _ = await progress(owner, EMAIL)
    assert due["in_progress"] is True and due["pending"] == 2 and due["id"] != ref


async def test_the_pages_load_the_one_script_from_the_console(
    client: TestClient, container: Container
) -> None:
    owner = await sign_in(client, container)
    for path in ("/console/broadcasts", "/console/broadcasts/email"):
        response = await client.get(path, headers=owner.headers)
        page = await response.text()
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert page.count("<script") == 1
        assert '<script src="/console/progress.js" defer></script>' in page
        assert 'data-progress="' + path + '/progress"' in page
        assert "Refresh" in page  # without the script the link still reloads it
    script = await client.get("/console/progress.js")
    assert script.status == 200 and script.content_type == "text/javascript"
    assert "setTimeout(poll" in await script.text()


async def test_polling_does_not_keep_an_idle_session_alive(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    owner = await sign_in(client, container)
    clock.advance(timedelta(minutes=20))
    for path in (CHAT, EMAIL):
        assert (await progress(owner, path))[0] == []  # the page's script, not the owner
    clock.advance(timedelta(minutes=11))  # 31 minutes since the owner last did anything
    for path in (CHAT, EMAIL):
        response = await client.get(path, headers=owner.headers)
        assert response.status == 401
    assert (await client.get("/console/broadcasts", headers=owner.headers)).status == 401
