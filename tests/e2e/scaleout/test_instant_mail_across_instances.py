"""Instant mail across instances on PostgreSQL: the instance that queues the confirmation
mail cannot send email (no MAIL_FROM); another instance, woken by LISTEN/NOTIFY and not by
its timer (an hour), sends it at once, also after its listening connection was cut."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import select

from forever.db.models import OutboxMessage
from forever.db.notify import APPLICATION_NAME, OutboxListener, connect_arguments
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.e2e.scaleout.harness import Cluster, url_of
from tests.smtp_sink import Received, SmtpSink, smtp_sink_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.postgres

HOUR = 3600.0
MAIL_WITHIN = 5.0  # seconds: generous for a loaded machine, far below the timer


async def arrived(sink: SmtpSink, count: int) -> list[Received]:
    async with asyncio.timeout(MAIL_WITHIN):
        return await sink.arrived(count)  # the delivery timers: far longer than any wait below


async def two_instances(cluster: Cluster, smtp_sink: SmtpSink) -> tuple[Runtime, Runtime]:
    """`queuing` takes every update and has no email channel; `sending` sends the mail."""
    queuing = await cluster.add(mail_from=None, outbox_poll_seconds=HOUR)
    sending = await cluster.add(
        smtp_host="127.0.0.1", smtp_port=smtp_sink.port, outbox_poll_seconds=HOUR
    )
    cluster.proxy.backends.remove(url_of(sending))  # Telegram's updates reach `queuing` only
    assert sending.outbox is not None and sending.outbox.listener is not None
    await asyncio.wait_for(sending.outbox.listener.listening.wait(), 10.0)
    return queuing, sending


async def ask_for_mail(tg: FakeBotAPI, cluster: Cluster, telegram_id: int, address: str) -> None:
    user = tg.add_user(telegram_id, "Nora")
    await user.start()
    await cluster.drain()
    await user.press("Start my free trial")
    await cluster.drain()
    await user.send_text(address)
    await cluster.drain()
    await user.press("Yes, email me")
    await cluster.drain()
    assert "confirmation link" in user.last_message.text


async def statuses_once_recorded(runtime: Runtime) -> list[str]:
    """The outbox rows' statuses once none is in flight (the outcome is written just after
    the SMTP server has the mail)."""
    async with asyncio.timeout(5.0):
        while True:
            async with runtime.container.sessions() as session:
                found = list(await session.scalars(select(OutboxMessage.status)))
            if "sending" not in found:
                return found
            await asyncio.sleep(0.01)


def listener_of(runtime: Runtime) -> OutboxListener:
    assert runtime.outbox is not None and runtime.outbox.listener is not None
    return runtime.outbox.listener


async def test_the_instance_that_queues_is_not_the_one_that_sends(
    tg: FakeBotAPI, cluster: Cluster, smtp_sink: SmtpSink
) -> None:
    queuing, sending = await two_instances(cluster, smtp_sink)
    try:
        await ask_for_mail(tg, cluster, 4100, "nora@example.com")
        received = await arrived(smtp_sink, 1)
        assert received[0].recipients == ["nora@example.com"]
        assert await statuses_once_recorded(queuing) == ["sent"]
        assert sending.container.metrics.registry.get_sample_value("forever_emails_sent_total")
    finally:
        cluster.proxy.backends.append(url_of(sending))


async def test_the_listener_reconnects_after_its_connection_is_cut(
    tg: FakeBotAPI, cluster: Cluster, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    _, sending = await two_instances(cluster, smtp_sink)
    listener = listener_of(sending)
    try:
        admin = await asyncpg.connect(**connect_arguments(sending.container.settings.database_url))
        try:
            cut = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = $1 AND datname = current_database()"
                " AND pid <> pg_backend_pid()",
                APPLICATION_NAME,
            )
        finally:
            await admin.close()
        assert cut == 2  # both instances' listeners
        async with asyncio.timeout(10.0):
            await listener.listening_for(connections=2)
        assert "lost" in caplog.text or "closed" in caplog.text
        await ask_for_mail(tg, cluster, 4101, "olga@example.com")
        received = await arrived(smtp_sink, 1)
        assert received[0].recipients == ["olga@example.com"]
    finally:
        cluster.proxy.backends.append(url_of(sending))
