"""GET /metrics: Prometheus text with what an operator watches, one registry per instance,
on its own (loopback) listener only; the public web server does not serve it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from prometheus_client.parser import text_string_to_metric_families

from forever.app import Container, build_container
from forever.config import Settings
from forever.db.models import OutboxMessage, Person, Subscription
from forever.domain.clock import ManualClock
from forever.metrics import Metrics
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.telegram.request_metrics import RequestMetrics
from forever.web.metrics import GaugeRefresher, build_metrics_app
from forever.web.server import start_web
from tests.conftest import TEST_TOKEN


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
async def metrics_url(container: Container) -> AsyncIterator[str]:
    runner, port = await start_web(build_metrics_app(container), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}/metrics"
    await runner.cleanup()


async def status_of(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def test_metrics_only_on_their_own_listener_not_on_the_public_port(
    settings: Settings, clock: ManualClock
) -> None:
    async with FakeBotAPI(TEST_TOKEN) as tg:
        bot_settings = settings.model_copy(update={"telegram_api_url": tg.base_url})
        runtime = Runtime(build_container(bot_settings, clock=clock), TEST_TOKEN)
        await runtime.start(polling=False, scheduler=False, broadcasts=False)
        try:
            assert runtime.web_port and runtime.metrics_port
            assert runtime.metrics_port != runtime.web_port
            public = f"http://{settings.web_host}:{runtime.web_port}"
            private = f"http://{settings.metrics_host}:{runtime.metrics_port}"
            # What the world reaches: the health check, never the metrics.
            assert await status_of(f"{public}/metrics") == 404
            assert await status_of(f"{public}/healthz") == 200
            found = await scrape(f"{private}/metrics")
            assert ("forever_emails_sent_total", ()) in found
            # The metrics listener serves metrics and nothing else.
            assert await status_of(f"{private}/healthz") == 404
        finally:
            await runtime.stop()


def test_metrics_listener_defaults_to_loopback_9464() -> None:
    fields = Settings.model_fields
    assert fields["metrics_host"].default == "127.0.0.1"
    assert fields["metrics_port"].default == 9464


async def test_gauges_are_read_from_the_database_at_most_every_interval(
    container: Container,
) -> None:
    now = [100.0]
    refresher = GaugeRefresher(container, interval=15.0, monotonic=lambda: now[0])
    runner, port = await start_web(build_metrics_app(container, refresher), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/metrics"
    active = ("forever_active_subscribers", (("state", "active"),))
    try:
        assert (await scrape(url))[active] == 0
        await seed(container)
        now[0] += 14.0  # scrapes inside the interval do not touch the database
        assert (await scrape(url))[active] == 0
        now[0] += 1.0
        assert (await scrape(url))[active] == 2
    finally:
        await runner.cleanup()


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        return samples(await response.text())


async def seed(container: Container) -> None:
    now = container.clock.now()
    async with container.sessions.begin() as session:
        for i, state in enumerate(["active", "active", "trial", "expired", "cancel_scheduled"]):
            person = Person(telegram_id=5000 + i, first_name="P", language="en", created_at=now)
            session.add(person)
            await session.flush()
            session.add(
                Subscription(
                    person_id=person.id,
                    state=state,
                    plan_id="plus",
                    period_end=now + timedelta(days=3),
                    updated_at=now,
                )
            )
            for channel, status in [("email", "pending"), ("chat", "sent"), ("email", "sent")]:
                session.add(
                    OutboxMessage(
                        idempotency_key=f"k-{i}-{channel}-{status}",
                        channel=channel,
                        person_id=person.id,
                        template="welcome",
                        status=status,
                        not_before=now,
                        created_at=now,
                    )
                )


async def test_metrics_report_queue_depth_and_active_subscribers(
    container: Container, metrics_url: str
) -> None:
    await seed(container)
    found = await scrape(metrics_url)
    assert found[("forever_active_subscribers", (("state", "active"),))] == 2
    assert found[("forever_active_subscribers", (("state", "trial"),))] == 1
    assert found[("forever_active_subscribers", (("state", "cancel_scheduled"),))] == 1
    assert found[("forever_active_subscribers", (("state", "past_due"),))] == 0
    assert found[("forever_queue_depth", (("queue", "outbox_email"),))] == 5
    assert found[("forever_queue_depth", (("queue", "outbox_chat"),))] == 0
    assert found[("forever_queue_depth", (("queue", "updates"),))] == 0
    for name in ("forever_emails_sent_total", "forever_sweep_runs_total"):
        assert (name, ()) in found


async def test_bot_api_calls_are_counted_sent_429_and_errors() -> None:
    metrics = Metrics()
    async with FakeBotAPI(TEST_TOKEN) as tg:
        tg.add_user(5100, "Ana", started=True)
        bot = tg.make_bot()
        bot.session.middleware(RequestMetrics(metrics))
        try:
            await bot.send_message(5100, "one")
            await bot.send_message(5100, "two")
            await bot.get_me()
            tg.inject_429(retry_after=3, methods=["sendMessage"])
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(5100, "three")
            tg.inject_5xx(methods=["sendMessage"])
            with pytest.raises(TelegramServerError):
                await bot.send_message(5100, "four")
        finally:
            await bot.session.close()
    value = metrics.registry.get_sample_value
    assert value("forever_messages_sent_total", {"method": "sendMessage"}) == 2
    assert value("forever_messages_sent_total", {"method": "getMe"}) is None
    assert value("forever_telegram_429_total", {"method": "sendMessage"}) == 1
    assert value("forever_errors_total", {"where": "bot_api"}) == 1


def test_each_instance_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.emails_sent.inc()
    assert first.registry.get_sample_value("forever_emails_sent_total") == 1
    assert second.registry.get_sample_value("forever_emails_sent_total") == 0
