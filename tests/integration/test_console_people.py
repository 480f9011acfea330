"""The console's people: list, filters, keyset pages, a person's page, and grant, refund and
erase with a confirmation step, the right role, a CSRF token, and an audit entry."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, insert, select

from forever.app import Container
from forever.db.models import AuditEntry, Event, OutboxMessage, Payment, Person, Subscription
from forever.web.server import build_web_app
from forever.wiring import console
from tests.conftest import START
from tests.integration.console_helpers import Signed, sign_in

SUPPORT_ID = 900002


@pytest.fixture
async def client(container: Container) -> AsyncIterator[TestClient]:
    container.settings = container.settings.model_copy(
        update={"support_ids": frozenset({SUPPORT_ID})}
    )
    # 120 people: ids 1..120; every 3rd speaks ro; 1..40 on plus (active), 41..60 in a trial.
    async with container.sessions.begin() as db:
        await db.execute(
            insert(Person),
            [
                {
                    "id": i,
                    "telegram_id": 7000 + i,
                    "first_name": "Ana" if i == 77 else f"P{i}",
                    "username": f"user{i}",
                    "email": f"p{i}@example.com",
                    "language": "ro" if i % 3 == 0 else "en",
                    "created_at": START - timedelta(days=200 - i),
                    "email_status": "none",
                }
                for i in range(1, 121)
            ],
        )
        await db.execute(
            insert(Subscription),
            [
                {
                    "person_id": i,
                    "state": "active" if i <= 40 else "trial",
                    "plan_id": "plus",
                    "billing": "monthly" if i <= 40 else "trial",
                    "period_end": START + timedelta(days=10),
                    "updated_at": START,
                    "version": 1,
                    "auto_renew": False,
                }
                for i in range(1, 61)
            ],
        )
        db.add(
            Event(person_id=5, kind="payment", at=START - timedelta(days=3), data={"plan": "plus"})
        )
        db.add(
            Payment(
                id=1,
                person_id=5,
                telegram_charge_id="ch-5",
                plan_id="plus",
                billing="monthly",
                amount=300,
                currency="XTR",
                created_at=START - timedelta(days=3),
            )
        )
    app = build_web_app(container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


def ids_in(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/console/people/(\d+)"', page)]


async def test_the_list_pages_newest_first_by_keyset(
    container: Container, client: TestClient
) -> None:
    owner = await sign_in(client, container)
    status, first = await owner.get("/console/people")
    assert status == 200
    assert ids_in(first) == list(range(120, 70, -1))
    next_url = re.search(r'href="([^"]+)" rel="next"', first)
    assert next_url
    _, second = await owner.get(next_url.group(1).replace("&amp;", "&"))
    assert ids_in(second) == list(range(70, 20, -1))
    _, third = await owner.get("/console/people?before=21")
    assert ids_in(third) == list(range(20, 0, -1))
    assert 'rel="next"' not in third


async def test_filters_and_search(container: Container, client: TestClient) -> None:
    owner = await sign_in(client, container)
    cases = {
        "/console/people?state=trial": list(range(60, 40, -1)),
        "/console/people?state=active&language=ro": [i for i in range(40, 0, -1) if i % 3 == 0],
        "/console/people?plan=plus&state=active&before=4": [3, 2, 1],
        "/console/people?segment=trial": list(range(60, 40, -1)),
        "/console/people?query=%40USER7": [7],
        "/console/people?query=p9%40example.com": [9],
        "/console/people?query=7012": [12],
        "/console/people?query=an": [77],
        "/console/people?query=zz%25": [],
        "/console/people?language=ru": [],  # offered, and nobody speaks it here
        "/console/people?language=es": [],
    }
    for path, expected in cases.items():
        status, page = await owner.get(path)
        assert status == 200, path
        assert ids_in(page)[:60] == expected[:50], path


async def test_bad_filters_get_a_message_next_to_the_field(
    container: Container, client: TestClient
) -> None:
    owner = await sign_in(client, container)
    for path, field, message in [
        ("/console/people?state=gone", "state", "Pick a state"),
        ("/console/people?plan=gold", "plan", "Pick a plan"),
        ("/console/people?language=xx", "language", "Pick a language"),
        ("/console/people?segment=everyone", "segment", "Pick a segment"),
        ("/console/people?query=" + "a" * 101, "query", "At most 100"),
        ("/console/people?before=abc", "before", "Not a page"),
    ]:
        status, page = await owner.get(path)
        assert status == 400, path
        assert message in page, path
        if field != "before":
            assert f'id="e-{field}"' in page and 'aria-invalid="true"' in page


async def test_a_person_page_has_their_timeline(container: Container, client: TestClient) -> None:
    owner = await sign_in(client, container)
    status, page = await owner.get("/console/people/5")
    assert status == 200
    assert "@user5" in page and "p5@example.com" in page
    assert "<td>event</td><td>payment</td>" in page
    assert "<td>payment</td><td>300 XTR</td>" in page
    assert (await owner.get("/console/people/999"))[0] == 404
    assert (await owner.get("/console/people/abc"))[0] == 404


async def audit(container: Container) -> list[tuple[str, dict[str, object]]]:
    async with container.sessions() as db:
        rows = (await db.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    return [(r.action, r.arguments) for r in rows if not r.action.startswith("console_")]


async def test_grant_asks_to_confirm_then_grants_tells_and_audits(
    container: Container, client: TestClient
) -> None:
    owner = await sign_in(client, container)
    status, page = await owner.post("/console/people/100/grant", {"plan": "plus", "days": "7"})
    assert status == 200 and "Please confirm" in page
    assert await audit(container) == []
    status, page = await owner.post(
        "/console/people/100/grant", {"plan": "plus", "days": "7", "confirm": "yes"}
    )
    assert status == 200 and "Granted plus for 7 days" in page
    async with container.sessions() as db:
        sub = await db.scalar(select(Subscription).where(Subscription.person_id == 100))
        told = await db.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.person_id == 100)
        )
    assert sub is not None and (sub.state, sub.plan_id, sub.billing) == ("active", "plus", "grant")
    assert told == 1
    assert await audit(container) == [("grant", {"person": 100, "plan": "plus", "days": 7})]


async def test_bad_grant_input_changes_nothing(container: Container, client: TestClient) -> None:
    owner = await sign_in(client, container)
    for form, message in [
        ({"plan": "gold", "days": "7", "confirm": "yes"}, "Pick a plan"),
        ({"plan": "plus", "days": "0", "confirm": "yes"}, "A whole number of days"),
        ({"plan": "plus", "days": "9999", "confirm": "yes"}, "A whole number of days"),
        ({"plan": "plus", "days": "x", "confirm": "yes"}, "A whole number of days"),
    ]:
        status, page = await owner.post("/console/people/100/grant", form)
        assert status == 400 and message in page
    assert await audit(container) == []


async def test_refund_and_erase_confirm_first_and_are_for_owners(
    container: Container, client: TestClient
) -> None:
    support = await sign_in(client, container, SUPPORT_ID)
    status, page = await support.get("/console/people/5")
    assert "Refund…" not in page and "Erase this person" not in page and "Grant…" in page
    for path, form in [
        ("/console/people/5/refund", {"payment": "1", "confirm": "yes"}),
        ("/console/people/5/erase", {"confirm": "yes"}),
    ]:
        assert (await support.post(path, form))[0] == 403
    # Support may grant.
    status, page = await support.post(
        "/console/people/6/grant", {"plan": "plus", "days": "3", "confirm": "yes"}
    )
    assert status == 200
    owner = await sign_in(client, container)
    status, page = await owner.post("/console/people/5/refund", {"payment": "1"})
    assert "Please confirm" in page
    status, page = await owner.post("/console/people/5/refund", {"payment": "2", "confirm": "yes"})
    assert status == 400 and "Pick a payment not refunded yet" in page
    status, page = await owner.post("/console/people/5/refund", {"payment": "1", "confirm": "yes"})
    assert status == 200 and "Refunded" in page
    status, page = await owner.post("/console/people/5/erase", {})
    assert "Please confirm" in page and "cannot be brought back" in page
    status, page = await owner.post("/console/people/5/erase", {"confirm": "yes"})
    assert status == 200 and "Erased" in page
    async with container.sessions() as db:
        person = await db.get(Person, 5)
        payment = await db.get(Payment, 1)
    assert person is not None and person.erased_at is not None and person.email is None
    assert payment is not None and payment.refunded_at is not None
    actions = [a for a, _ in await audit(container)]
    assert actions == ["grant", "refund", "erase"]


async def test_no_change_without_a_session_or_csrf(
    container: Container, client: TestClient
) -> None:
    owner = await sign_in(client, container)
    for path, form in [
        ("/console/people/5/grant", {"plan": "plus", "days": "3", "confirm": "yes"}),
        ("/console/people/5/refund", {"payment": "1", "confirm": "yes"}),
        ("/console/people/5/erase", {"confirm": "yes"}),
    ]:
        assert (await owner.post(path, form, csrf=False))[0] == 403
        nobody = Signed(client, "")
        assert (await nobody.post(path, {**form, "csrf": "x"}, csrf=False))[0] == 401
    assert await audit(container) == []
