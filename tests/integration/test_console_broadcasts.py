"""The console's broadcast composer: owners write a text (one per language if they like), a
button and an audience; it goes out now or at its time through the same drafts, confirmation
and sender as /broadcast in chat. Bad forms change nothing; support staff are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from forever.app import Container
from forever.db.models import AuditEntry, Broadcast, BroadcastDelivery, Person
from forever.domain.clock import ManualClock
from forever.services.broadcast_sender import Outgoing, build_outgoing
from forever.web.server import build_web_app
from forever.wiring import console
from forever.wiring.email import run_sweeps
from tests.conftest import STAFF_ID, START
from tests.integration.console_helpers import sign_in
from tests.integration.test_broadcast_sender import ScriptedTransport, worker

SUPPORT_ID = 900002


@pytest.fixture
async def client(container: Container) -> AsyncIterator[TestClient]:
    container.settings = container.settings.model_copy(
        update={"support_ids": frozenset({SUPPORT_ID})}
    )
    async with container.sessions.begin() as db:
        for i, language in ((1, "en"), (2, "ro"), (3, "it")):
            db.add(
                Person(
                    telegram_id=7000 + i,
                    first_name=f"P{i}",
                    language=language,
                    created_at=START,
                )
            )
    app = build_web_app(container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def jobs(container: Container) -> list[Broadcast]:
    async with container.sessions() as db:
        return list(await db.scalars(select(Broadcast).order_by(Broadcast.id)))


async def deliveries(container: Container) -> int:
    async with container.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(BroadcastDelivery)) or 0)


class Recording(ScriptedTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Outgoing] = []

    async def deliver(self, message: Outgoing) -> int:
        self.sent.append(message)
        return await super().deliver(message)


async def test_the_page_shows_the_live_count_of_a_segment(
    client: TestClient, container: Container
) -> None:
    owner = await sign_in(client, container)
    status, page = await owner.get("/console/broadcasts?segment=language:ro")
    assert status == 200
    assert "<strong>1</strong> person in this segment now" in page
    status, page = await owner.get("/console/broadcasts?segment=all")
    assert "<strong>3</strong> people" in page
    response = await client.get(
        "/console/broadcasts/count?segment=language:it", headers=owner.headers
    )
    assert (await response.json()) == {"count": 1}


async def test_a_scheduled_broadcast_goes_out_at_its_time(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    owner = await sign_in(client, container)
    await owner.get("/console/broadcasts")
    at = START + timedelta(hours=2)
    status, page = await owner.post(
        "/console/broadcasts",
        {
            "segment": "all",
            "text": "Hi {{ name }}, live Q&A <tonight>!",
            "text_ro": "Salut {{ name }}, sesiune live diseară!",
            "button_text": "Join",
            "button_url": "https://example.com/live",
            "when": "later",
            "send_at": at.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert status == 200, page
    assert "Scheduled: it goes to about 3 people" in page
    assert "scheduled" in page  # in the history
    # Before its time the sweep leaves it alone: nobody is queued.
    clock.advance(timedelta(hours=1, minutes=59))
    results = await run_sweeps(container, clock.now())
    assert results["scheduled_broadcasts"] == 0
    assert [j.status for j in await jobs(container)] == ["draft"]
    assert await deliveries(container) == 0

    clock.set(at)
    results = await run_sweeps(container, clock.now())
    assert results["scheduled_broadcasts"] == 1
    (job,) = await jobs(container)
    assert job.status == "queued" and job.total == 3
    transport = Recording()
    report = await worker(container, transport).run(job.id)
    assert report is not None and report.delivered == 3
    by_chat = {m.chat_id: m for m in transport.sent}
    assert by_chat[7001].html == "Hi P1, live Q&amp;A &lt;tonight&gt;!"
    assert by_chat[7002].html == "Salut P2, sesiune live diseară!"
    assert by_chat[7003].html == "Hi P3, live Q&amp;A &lt;tonight&gt;!"
    assert {(m.kind, m.button_text, m.button_url) for m in transport.sent} == {
        ("text", "Join", "https://example.com/live")
    }
    # A second sweep does not send it again.
    assert (await run_sweeps(container, clock.now()))["scheduled_broadcasts"] == 0
    owner = await sign_in(client, container)  # the first session has idled out meanwhile
    status, page = await owner.get("/console/broadcasts")
    assert "3 / 3" in page
    async with container.sessions() as db:
        actions = list(
            await db.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.actor_telegram_id == STAFF_ID)
                .order_by(AuditEntry.id)
            )
        )
    assert "broadcast_scheduled" in actions and "broadcast_confirmed" in actions


async def test_send_now_queues_it_at_once(client: TestClient, container: Container) -> None:
    owner = await sign_in(client, container)
    await owner.get("/console/broadcasts")
    status, page = await owner.post(
        "/console/broadcasts", {"segment": "language:it", "text": "Ciao!", "when": "now"}
    )
    assert status == 200 and "Queued: sending to 1 person now." in page
    (job,) = await jobs(container)
    assert job.status == "queued"
    assert build_outgoing(job, 7003, "P3", "it").html == "Ciao!"


async def test_russian_and_spanish_each_get_a_version_and_a_segment(
    client: TestClient, container: Container
) -> None:
    owner = await sign_in(client, container)
    status, page = await owner.get("/console/broadcasts?segment=language:ru")
    assert status == 200 and 'name="text_ru"' in page and 'name="text_es"' in page
    assert '<option value="language:es"' in page
    status, page = await owner.post(
        "/console/broadcasts",
        {"segment": "all", "text": "Hi!", "text_ru": "Привет!", "text_es": "¡Hola!", "when": "now"},
    )
    assert status == 200, page
    (job,) = await jobs(container)
    assert build_outgoing(job, 7004, "P4", "ru").html == "Привет!"
    assert build_outgoing(job, 7005, "P5", "es").html == "¡Hola!"
    assert build_outgoing(job, 7003, "P3", "it").html == "Hi!"


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"text": "  "}, "text", "Write the message first."),
        ({"text": "Hi {{ user.id }}"}, "text", "Not a valid text"),
        ({"text": "Hi", "button_text": "Go"}, "button_url", "needs both a label and a link"),
        (
            {"text": "Hi", "button_text": "Go", "button_url": "javascript:alert(1)"},
            "button_url",
            "starting with https://",
        ),
        ({"text": "Hi", "segment": "plan:nope"}, "segment", "Choose a segment"),
        ({"text": "Hi", "when": "later", "send_at": "tomorrow"}, "send_at", "A date and time"),
        ({"text": "Hi", "when": "later", "send_at": "2026-11-01T09:00"}, "send_at", "has passed"),
    ],
)
async def test_a_bad_form_gets_a_message_next_to_the_field_and_changes_nothing(
    client: TestClient, container: Container, form: dict[str, str], field: str, message: str
) -> None:
    owner = await sign_in(client, container)
    await owner.get("/console/broadcasts")
    status, page = await owner.post("/console/broadcasts", {"segment": "all", **form})
    assert status == 400
    assert f'id="e-{field}" class="error">' in page
    assert message in page.split(f'id="e-{field}"', 1)[1].split("</span>", 1)[0]
    assert f'aria-describedby="e-{field}"' in page
    assert await jobs(container) == []


async def test_support_staff_and_forged_posts_are_refused(
    client: TestClient, container: Container
) -> None:
    support = await sign_in(client, container, SUPPORT_ID)
    status, _ = await support.get("/console/broadcasts")
    assert status == 403
    status, _ = await support.post("/console/broadcasts", {"segment": "all", "text": "Hi"})
    assert status == 403
    owner = await sign_in(client, container)
    status, _ = await owner.post(
        "/console/broadcasts", {"segment": "all", "text": "Hi"}, csrf=False
    )
    assert status == 403
    assert await jobs(container) == []


async def test_a_scheduled_broadcast_can_be_cancelled_before_its_time(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    owner = await sign_in(client, container)
    await owner.get("/console/broadcasts")
    at = START + timedelta(hours=1)
    form = {"segment": "all", "text": "Soon", "when": "later", "send_at": at.isoformat()}
    status, page = await owner.post("/console/broadcasts", form)
    assert status == 200 and "Cancel #1" in page
    status, page = await owner.post("/console/broadcasts/cancel", {"broadcast": "1"})
    assert status == 200 and "Cancelled: it will not be sent." in page
    clock.set(at + timedelta(minutes=5))
    assert (await run_sweeps(container, clock.now()))["scheduled_broadcasts"] == 0
    assert [j.status for j in await jobs(container)] == ["stopped"]
    assert await deliveries(container) == 0
