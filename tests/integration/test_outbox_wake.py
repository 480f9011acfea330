"""A committed row due now wakes the delivery worker: in process through the container's
DeliverySignal, and on PostgreSQL with a NOTIFY that the other instances receive on commit.
A rollback, or a row queued for later, wakes nobody."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from forever.db.notify import connect_arguments
from forever.db.outbox import NOTIFY_CHANNEL, SqlOutbox
from forever.wiring.container import Container
from tests.conftest import test_db_kind as db_kind


class Boom(Exception):
    pass


async def queue(
    container: Container,
    key: str,
    *,
    later: bool = False,
    commit: bool = True,
    outbox: SqlOutbox | None = None,
) -> None:
    now = container.clock.now()
    async with container.uow.begin():
        for n in range(2):  # two rows, one transaction: one wake
            await (outbox or container.outbox).enqueue(
                key=f"{key}:{n}",
                channel="email",
                person_id=None,
                template="consent_confirm",
                context={"name": "", "to": "wake@example.com", "confirm_token": "t"},
                marketing=False,
                not_before=now + timedelta(days=1) if later else now,
                now=now,
            )
        if commit:
            await container.uow.commit()


async def test_a_commit_with_a_row_due_now_kicks_the_worker_once(container: Container) -> None:
    signal = container.delivery_kick
    await queue(container, "due")
    assert signal.kicks == 1


async def test_a_rollback_or_a_row_for_later_does_not_kick(container: Container) -> None:
    signal = container.delivery_kick
    await queue(container, "later", later=True)
    await queue(container, "abandoned", commit=False)
    with pytest.raises(Boom):
        async with container.uow.begin():
            await queue(container, "failed")  # joins the outer block: commits with it
            raise Boom
    assert signal.kicks == 0


async def test_a_sweep_that_delivers_itself_queues_quietly(container: Container) -> None:
    await queue(container, "quiet", outbox=container.outbox.quiet())
    assert container.delivery_kick.kicks == 0


async def test_an_existing_key_queued_again_does_not_kick(container: Container) -> None:
    await queue(container, "same")
    await queue(container, "same")
    assert container.delivery_kick.kicks == 1


@pytest.mark.skipif(db_kind() != "postgres", reason="PostgreSQL only")
async def test_postgres_notifies_the_other_instances_on_commit_only(container: Container) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(**connect_arguments(container.settings.database_url))
    try:
        await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[3]))
        await queue(container, "rolled-back", commit=False)
        await queue(container, "for-later", later=True)
        await queue(container, "quiet", outbox=container.outbox.quiet())
        await queue(container, "committed")
        payload = await asyncio.wait_for(heard.get(), 5.0)
        assert payload == container.instance  # the queuing instance: others wake, it skips
        await listener.execute("SELECT 1")  # anything sent before this has arrived
        assert heard.empty(), "one NOTIFY per transaction, none for the others"
    finally:
        await listener.close()
