"""Which outbox rows a delivery worker claims: the earliest due first, rows whose worker died
(lease run out) among them, never a row another worker still holds or one not yet due."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from forever.app import Container
from forever.db import outbox
from forever.db.models import OutboxMessage
from forever.db.outbox import SqlDeliveryStore
from tests.conftest import START

LEASE = timedelta(minutes=10)


async def _queue(container: Container, key: str, channel: str, minutes: int) -> None:
    async with container.sessions.begin() as session:
        await outbox.enqueue_many(
            session,
            [
                {
                    "key": key,
                    "channel": channel,
                    "person_id": None,
                    "template": "help",
                    "context": {"chat_id": 1},
                    "marketing": False,
                    "not_before": START + timedelta(minutes=minutes),
                }
            ],
            START,
        )


async def _leased(container: Container, key: str, by: str, until_minutes: int) -> None:
    async with container.sessions.begin() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.idempotency_key == key)
            .values(
                status="sending",
                claimed_by=by,
                claimed_until=START + timedelta(minutes=until_minutes),
            )
        )


async def test_a_claim_takes_the_earliest_due_first_with_lapsed_leases_among_them(
    container: Container,
) -> None:
    for key, minutes in (("c", -1), ("a", -5), ("b", -3), ("later", 60)):
        await _queue(container, key, "chat", minutes)
    await _queue(container, "lapsed", "chat", -4)  # its worker died; the lease ran out
    await _leased(container, "lapsed", by="dead", until_minutes=-1)
    await _queue(container, "held", "chat", -10)  # another worker is sending it right now
    await _leased(container, "held", by="alive", until_minutes=5)
    await _queue(container, "mail", "email", -20)  # not a channel this worker sends
    store = SqlDeliveryStore(container.uow, "me", container.one_trip)

    first = await store.claim(START, ["chat", "telegram"], LEASE, 3)
    assert [row.idempotency_key for row in first] == ["a", "lapsed", "b"]
    assert [row.attempts for row in first] == [1, 1, 1]
    second = await store.claim(START, ["chat", "telegram"], LEASE, 3)
    assert [row.idempotency_key for row in second] == ["c"]
    assert await store.claim(START, ["chat", "telegram"], LEASE, 3) == []

    # An hour on: "later" is due, and every lease taken above has run out.
    again = await store.claim(START + timedelta(hours=1), ["chat"], LEASE, 10)
    assert [row.idempotency_key for row in again] == ["held", "a", "lapsed", "b", "c", "later"]
    assert [row.attempts for row in again] == [1, 2, 2, 2, 2, 1]


async def test_a_claim_stops_at_its_limit_in_a_long_backlog(container: Container) -> None:
    for i in range(30):
        await _queue(container, f"k{i:02}", "chat", -30 + i)
    store = SqlDeliveryStore(container.uow, "me", container.one_trip)
    taken: list[str] = []
    while batch := await store.claim(START, ["chat"], LEASE, 7):
        assert len(batch) <= 7
        taken += [row.idempotency_key for row in batch]
    assert taken == [f"k{i:02}" for i in range(30)]
