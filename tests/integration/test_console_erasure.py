"""Erasure and the audit log (issue 20): the console's inbox is made of audit entries, so
erasing a person scrubs their words and whatever names them from every entry about them
(their answers to broadcasts, texts the bot did not understand, staff's replies and notes,
the chats they joined), in the erasure's own transaction. The entries stay (what was done,
when, about which person number); nobody else's are touched. SQLite by default, PostgreSQL
with FOREVER_TEST_DB=postgres."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from forever.app import Container
from forever.db.models import AuditEntry, Person
from forever.web.server import build_web_app
from forever.wiring import console, customers
from tests.conftest import STAFF_ID, START
from tests.integration.console_helpers import sign_in

ADDRESS = "Zelda.Quill@example.com"
THEIR_WORDS = "where is the kiwi-zanzibar lounge"
TRACES = ("zelda", "quill", "7005", "kiwi-zanzibar", "example.com")

# (actor, action, arguments): about person 5 (Telegram 7005, Zelda), then others.
ABOUT_THEM: list[tuple[int, str, dict[str, Any]]] = [
    (7005, "customer_message", {"person": 5, "broadcast": 1, "message": 11, "text": ADDRESS}),
    (7005, "customer_unknown", {"person": 5, "text": f"Zelda here, {THEIR_WORDS}"}),
    (STAFF_ID, "staff_reply", {"person": 5, "message": 99, "text": "Sure, noted"}),
    (0, "chat_join_approved", {"chat": -1001, "user_id": 7005, "person_id": 5}),
    (STAFF_ID, "access_resend", {"person_id": 5, "chats": [-1001]}),
    (STAFF_ID, "user_lookup", {"query": "@Zelda_Q"}),
    (STAFF_ID, "user_lookup", {"query": "7005"}),
    (STAFF_ID, "refund", {"person": 5, "payment": 1, "amount": 300, "note": "Zelda asked"}),
    (STAFF_ID, "console_person_viewed", {"person": 5}),
]
OTHERS: list[tuple[int, str, dict[str, Any]]] = [
    (7006, "customer_message", {"person": 6, "broadcast": 1, "message": 12, "text": "Price?"}),
    (STAFF_ID, "staff_reply", {"person": 6, "message": 98, "text": "It is 300 Stars."}),
    (7051, "customer_unknown", {"person": 51, "text": "Is there a kiwi-zanzibar room?"}),
    (0, "chat_join_approved", {"chat": -1001, "user_id": 70051, "person_id": 51}),
    (STAFF_ID, "user_lookup", {"query": "@someone_else"}),
]


@pytest.fixture
async def client(container: Container) -> AsyncIterator[TestClient]:
    async with container.sessions.begin() as db:
        for pid, tid, name, username, email in [
            (5, 7005, "Zelda", "zelda_q", ADDRESS),
            (6, 7006, "Otto", "otto", "otto@elsewhere.test"),
            (51, 7051, "Fifty", "fifty_one", None),
        ]:
            db.add(
                Person(
                    id=pid,
                    telegram_id=tid,
                    first_name=name,
                    username=username,
                    email=email,
                    created_at=START - timedelta(days=30),
                )
            )
        await db.flush()
        for n, (actor, action, arguments) in enumerate(ABOUT_THEM + OTHERS):
            db.add(
                AuditEntry(
                    actor_telegram_id=actor,
                    action=action,
                    arguments=arguments,
                    at=START - timedelta(minutes=60 - n),
                )
            )
    app = build_web_app(container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def entries(container: Container) -> list[tuple[int, int, str, dict[str, Any]]]:
    async with container.sessions() as db:
        rows = await db.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.id, e.actor_telegram_id, e.action, dict(e.arguments)) for e in rows]


async def test_erasure_scrubs_their_words_from_the_audit_log_and_the_inbox(
    container: Container, client: TestClient
) -> None:
    owner = await sign_in(client, container)
    _, thread = await owner.get("/console/inbox/5")
    assert THEIR_WORDS in thread
    before = await entries(container)

    status, page = await owner.post("/console/people/5/erase", {"confirm": "yes"})
    assert status == 200 and "Erased" in page

    after = await entries(container)
    kept = after[: len(before)]
    # Every entry is still there, same action and time order; none names them any more.
    assert [(i, a) for i, _, a, _ in kept] == [(i, a) for i, _, a, _ in before]
    theirs = kept[: len(ABOUT_THEM)]
    text = json.dumps([(actor, args) for _, actor, _, args in theirs]).lower()
    assert [t for t in TRACES if t in text] == []
    by_action = {(a, json.dumps(sorted(args))): (actor, args) for _, actor, a, args in theirs}
    assert by_action[("customer_message", '["broadcast", "message", "person", "text"]')] == (
        0,
        {"person": 5, "broadcast": 1, "message": 11, "text": "[erased]"},
    )
    assert by_action[("customer_unknown", '["person", "text"]')] == (
        0,
        {"person": 5, "text": "[erased]"},
    )
    assert by_action[("chat_join_approved", '["chat", "person_id", "user_id"]')][1] == {
        "chat": -1001,
        "user_id": "[erased]",
        "person_id": 5,
    }
    refund = by_action[("refund", '["amount", "note", "payment", "person"]')][1]
    assert refund == {"person": 5, "payment": 1, "amount": 300, "note": "[erased]"}
    assert sorted(args["query"] for _, _, a, args in theirs if a == "user_lookup") == [
        "[erased]",
        "[erased]",
    ]
    # Nobody else's entries changed, not even one with the same words or a longer number.
    assert kept[len(ABOUT_THEM) :] == before[len(ABOUT_THEM) :]
    assert after[len(before)][2] == "erase"  # then the person page viewed

    # The inbox keeps the thread (it happened), not what was said.
    _, inbox = await owner.get("/console/inbox")
    assert 'href="/console/inbox/5"' in inbox and THEIR_WORDS not in inbox
    _, thread = await owner.get("/console/inbox/5")
    assert thread.count("[erased]") == 3
    assert [t for t in TRACES if t in thread.lower()] == []
    _, log = await owner.get("/console/audit")  # also lists the others' entries
    assert THEIR_WORDS not in log and "zelda" not in log.lower()
    assert re.search(r"\b7005\b", log) is None and "70051" in log
    _, other = await owner.get("/console/inbox/51")
    assert "kiwi-zanzibar room" in other


async def test_the_scrub_is_part_of_the_erasure_transaction(
    container: Container, client: TestClient
) -> None:
    privacy = customers.build(container).privacy
    before = await entries(container)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    record = privacy.events.record
    privacy.events.record = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await privacy.erase(5)
    # Erasure failed after the scrub: nothing of it stays, the audit log included.
    assert await entries(container) == before
    async with container.sessions() as db:
        person = await db.get(Person, 5)
    assert person is not None and person.erased_at is None and person.first_name == "Zelda"

    privacy.events.record = record  # type: ignore[method-assign]
    assert await privacy.erase(5) is True
    text = json.dumps([args for _, _, _, args in await entries(container)]).lower()
    assert THEIR_WORDS not in text.replace("is there a kiwi-zanzibar room", "")
    assert re.search(r"\b7005\b", text) is None and "zelda" not in text
