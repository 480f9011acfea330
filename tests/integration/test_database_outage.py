"""PostgreSQL unreachable during a sweep (a proxy in front of it, cut and restored): the sweep
fails cleanly (one log line, the error counted, nothing half-done), and the next sweep after
the database is back does everything due, once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from forever import runtime as runtime_module
from forever.app import build_container
from forever.config import Settings
from forever.db.models import OutboxMessage, Person, Subscription
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from tests.conftest import START, TEST_TOKEN
from tests.conftest import test_db_kind as db_kind
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.skipif(db_kind() != "postgres", reason="PostgreSQL only")

MEMBERS = 30


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.close()


async def seed(runtime: Runtime) -> None:
    """Members whose cancelled subscriptions ended a week ago: the sweep expires them."""
    async with runtime.container.sessions.begin() as session:
        for i in range(MEMBERS):
            person = Person(
                telegram_id=70_000 + i,
                first_name=f"P{i}",
                language="en",
                email=f"m{i}@example.com",
                created_at=START - timedelta(days=60),
            )
            session.add(person)
            await session.flush()
            session.add(
                Subscription(
                    person_id=person.id,
                    state="cancel_scheduled",
                    plan_id="plus",
                    billing="monthly",
                    period_end=START - timedelta(days=7),
                    updated_at=START,
                )
            )


async def snapshot(runtime: Runtime) -> tuple[dict[str, int], int]:
    async with runtime.container.sessions() as session:
        states = dict(
            (
                await session.execute(
                    select(Subscription.state, func.count()).group_by(Subscription.state)
                )
            ).all()
        )
        queued = int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)
    return states, queued


async def test_a_sweep_while_the_database_is_unreachable_fails_cleanly_and_the_next_catches_up(
    settings: Settings, clock: ManualClock, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_url(settings.database_url).set(host="127.0.0.1", port=proxy.port)
    through_proxy = settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False)}
    )
    runtime = Runtime(build_container(through_proxy, clock=clock), TEST_TOKEN)
    errors = runtime.container.metrics.errors
    try:
        await seed(runtime)
        proxy.cut()  # PostgreSQL goes away (for 30 s, say) just as the sweep runs
        clock.advance(timedelta(seconds=30))
        with caplog.at_level(logging.INFO):
            assert await runtime.sweep_once() is None  # failed, and said so; no exception
        failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(failures) == 1 and "database" in failures[0].getMessage()
        assert all(r.exc_info is None for r in caplog.records)  # no traceback
        assert errors.labels("sweeps")._value.get() == 1
        proxy.restore()
        states, queued = await snapshot(runtime)
        assert states == {"cancel_scheduled": MEMBERS} and queued == 0  # nothing half-done

        results = await runtime.sweep_once()
        assert results is not None and results["expire_memberships"] == MEMBERS
        after = await snapshot(runtime)
        assert after[0] == {"expired": MEMBERS}
        assert await runtime.sweep_once() is not None
        assert await snapshot(runtime) == after  # done once, not again
    finally:
        await runtime.bot.session.close()
        await runtime.container.close()


async def test_the_database_lost_mid_sweep_fails_each_sweep_cleanly_and_the_next_run_catches_up(
    settings: Settings,
    clock: ManualClock,
    proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = make_url(settings.database_url).set(host="127.0.0.1", port=proxy.port)
    through_proxy = settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False)}
    )
    runtime = Runtime(build_container(through_proxy, clock=clock), TEST_TOKEN)
    real = runtime_module.run_sweeps

    async def cut_then_sweep(*args: object) -> dict[str, int]:
        proxy.cut()  # after the sweeps lease was taken: gone mid-run
        return await real(*args)  # type: ignore[arg-type]

    try:
        await seed(runtime)
        monkeypatch.setattr(runtime_module, "run_sweeps", cut_then_sweep)
        with caplog.at_level(logging.INFO):
            results = await runtime.sweep_once()
        assert results is not None
        # Every sweep that needs the database failed; the catalog has no chats, so the access
        # sweep had nothing to do and never asked it.
        assert results.pop("chat_access") == 0
        assert results and all(count == -1 for count in results.values())
        assert all(r.exc_info is None for r in caplog.records)  # one line each, no traceback
        assert runtime.container.metrics.errors.labels("sweep_expire_memberships")._value.get() == 1
        monkeypatch.setattr(runtime_module, "run_sweeps", real)
        proxy.restore()
        assert await snapshot(runtime) == ({"cancel_scheduled": MEMBERS}, 0)
        results = await runtime.sweep_once()
        assert results is not None and results["expire_memberships"] == MEMBERS
        assert (await snapshot(runtime))[0] == {"expired": MEMBERS}
    finally:
        await runtime.bot.session.close()
        await runtime.container.close()
