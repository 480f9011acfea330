"""Fixtures for several instances in webhook mode against one database and one fake Bot API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from forever.config import Settings
from forever.domain.clock import ManualClock
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import REDIS_TEST_URL, test_db_kind
from tests.e2e.scaleout.harness import WEBHOOK_SECRET, Cluster, WebhookProxy


@pytest.fixture(autouse=True)
def _postgres_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres") and test_db_kind() != "postgres":
        pytest.skip("PostgreSQL only (FOREVER_TEST_DB=postgres)")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of the test's own in the shared Redis, its keys deleted afterwards."""
    prefix = f"forever-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    redis = Redis.from_url(REDIS_TEST_URL)
    try:
        keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
async def proxy() -> AsyncIterator[WebhookProxy]:
    proxy = WebhookProxy()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def webhook_settings(e2e_settings: Settings, proxy: WebhookProxy) -> Settings:
    url = await proxy.start()
    return e2e_settings.model_copy(
        update={"webhook_url": url, "webhook_secret": SecretStr(WEBHOOK_SECRET)}
    )


@pytest.fixture
async def cluster(
    webhook_settings: Settings, clock: ManualClock, proxy: WebhookProxy, tg: FakeBotAPI
) -> AsyncIterator[Cluster]:
    cluster = Cluster(webhook_settings, clock, proxy)
    yield cluster
    await cluster.close()
    tg.assert_no_refused_calls()
