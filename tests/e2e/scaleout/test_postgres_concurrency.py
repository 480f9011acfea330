"""PostgreSQL only: many updates hitting three instances at once, each redelivered to every
instance concurrently; each is stored once and answered once."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from forever.db.models import UpdateInbox
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.e2e.scaleout.harness import Cluster
from tests.e2e.scaleout.test_webhook import message_update, post

pytestmark = pytest.mark.postgres


async def test_concurrent_redeliveries_to_three_instances_are_handled_once(
    tg: FakeBotAPI, cluster: Cluster
) -> None:
    instances = [await cluster.add() for _ in range(3)]
    users = [tg.add_user(6000 + i, f"User{i}", started=True) for i in range(40)]
    bodies = [json.dumps(message_update(9000 + i, u.id)) for i, u in enumerate(users)]
    posts = [post(runtime, body) for body in bodies for runtime in instances for _ in range(2)]
    statuses = await asyncio.gather(*posts)
    await cluster.drain()
    assert {status for status, _ in statuses} == {200}
    for user in users:
        assert len(user.messages) == 1, user
    async with instances[0].container.sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(UpdateInbox))
        waiting = await session.scalar(
            select(func.count()).select_from(UpdateInbox).where(UpdateInbox.processed_at.is_(None))
        )
    assert (stored, waiting) == (40, 0)
