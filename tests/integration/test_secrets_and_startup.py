"""The bot token never leaks (issue 14), and `bot.py run` waits for Telegram at start.

A Bot API behind a redirect loop makes aiohttp fail with an error that names the request URL,
token included: the token must appear nowhere in the database, the log or any output. `run`
retries an unreachable Telegram with a capped backoff and serves once it answers; a refused
token (401) ends it with one line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from sqlalchemy import select

from forever import cli
from forever.app import Container
from forever.db import outbox
from forever.db.models import Base, BroadcastDelivery, OutboxMessage
from forever.db.repositories.broadcasts import SqlBroadcasts
from forever.logs import describe_error
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.services.broadcast_sender import BroadcastWorker
from forever.telegram.bot_port import BotChatPort
from forever.telegram.broadcasts import TelegramBroadcastTransport
from forever.telegram.staff_texts import StaffTexts
from forever.wiring.email import delivery_worker
from tests.conftest import ROOT, START, TEST_TOKEN
from tests.integration.people import add_person
from tests.integration.test_broadcast_sender import FAST, CountingBucket, seed
from tests.processes import START_WITHIN, reap, spawn

TOKEN_SECRET = TEST_TOKEN.split(":", 1)[1]  # the part that matters


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def redirect_loop() -> AsyncIterator[str]:
    """A "Bot API" answering every request with a redirect to itself."""

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(request.url))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", loop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def looping_bot(redirect_loop: str) -> AsyncIterator[Bot]:
    bot = Bot(TEST_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(redirect_loop)))
    try:
        yield bot
    finally:
        await bot.session.close()


async def database_text(container: Container) -> str:
    """Every value of every table, as text."""
    parts: list[str] = []
    async with container.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def assert_no_token(text: str) -> None:
    assert TEST_TOKEN not in text
    assert TOKEN_SECRET not in text


async def test_the_error_of_a_failed_chat_send_is_stored_without_the_token(
    container: Container, looping_bot: Bot
) -> None:
    person = await add_person(container, telegram_id=4242)
    async with container.sessions.begin() as session:
        await outbox.enqueue(
            session,
            key="chat:1",
            channel="chat",
            person_id=person.id,
            template="help",
            context={},
            marketing=False,
            not_before=START,
            now=START,
        )
    sender = delivery_worker(container, smtp=None, chat=BotChatPort(looping_bot))
    report = await sender.drain()
    assert report.retried == 1
    async with container.sessions() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row is not None and row.status == "pending"
    assert "Redirect" in (row.last_error or "")  # the error is kept, the token is not
    assert "[REDACTED]" in (row.last_error or "")
    assert_no_token(await database_text(container))


async def test_the_error_of_a_failed_broadcast_is_stored_without_the_token(
    container: Container, looping_bot: Bot
) -> None:
    job = await seed(container, [51])
    worker = BroadcastWorker(
        container.uow,
        SqlBroadcasts(container.uow),
        container.people_repo,
        container.events,
        container.clock,
        TelegramBroadcastTransport(looping_bot, StaffTexts(container.renderer)),
        CountingBucket(),
        FAST,
    )
    report = await worker.run(job)
    assert report is not None and report.failed == 1
    async with container.sessions() as session:
        error = await session.scalar(select(BroadcastDelivery.error))
    assert error and "[REDACTED]" in error
    assert_no_token(await database_text(container))


def test_an_escaped_error_is_printed_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:1/bot{TEST_TOKEN}/getMe"
    try:
        raise RuntimeError(f"TooManyRedirects: url={url}")
    except RuntimeError as error:
        cli._print_redacted_exception(type(error), error, error.__traceback__)
        described = describe_error(error)
        formatted = "".join(traceback.format_exception(error))
    assert TEST_TOKEN in formatted  # what Python's own hook would print
    err = capsys.readouterr().err
    assert "Traceback" in err and "TooManyRedirects" in err
    assert_no_token(err)
    assert_no_token(described)


def run_env(database_url: str, api_url: str, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "BOT_"))},
        "BOT_TOKEN": TEST_TOKEN,
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
        "TELEGRAM_API_URL": api_url,
        "DATABASE_URL": database_url,
        "CATALOG_PATH": str(ROOT / "catalog.toml"),
        "MAIL_FROM": "Forever <hello@forever.test>",
        "WEB_PORT": str(free_port()),
        "START_RETRY_MAX_SECONDS": "0.2",
        **extra,
    }


class RunProcess:
    """`bot.py run` as a subprocess, its stdout and stderr collected line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.stdout = ""
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, env: dict[str, str], cwd: Path) -> RunProcess:
        process = await spawn(
            sys.executable,
            str(ROOT / "bot.py"),
            "run",
            env=env,
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stderr is not None and self.process.stdout is not None
        async for raw in self.process.stderr:
            self.lines.append(raw.decode())
            self._changed.set()
        self.stdout = (await self.process.stdout.read()).decode()

    async def wait_for(self, text: str, count: int = 1, within: float = START_WITHIN) -> None:
        async def seen() -> None:
            while sum(text in line for line in self.lines) < count:
                if self._reader.done():
                    raise AssertionError(f"exited before {text!r}: {''.join(self.lines)}")
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 1)

        await asyncio.wait_for(seen(), within)

    async def finish(self) -> int:
        code = await reap(self.process)
        await self._reader
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines) + self.stdout


@pytest.mark.slow
async def test_run_against_a_redirect_loop_never_prints_the_token(
    redirect_loop: str, database_url: str, tmp_path: Path
) -> None:
    run = await RunProcess.start(run_env(database_url, redirect_loop), tmp_path)
    try:
        await run.wait_for("Telegram is not reachable", count=3)
    finally:
        await run.finish()
    assert "TooManyRedirects" in run.output or "Redirect" in run.output
    assert_no_token(run.output)


@pytest.mark.slow
async def test_run_waits_for_telegram_then_serves(database_url: str, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet
    run = await RunProcess.start(run_env(database_url, f"http://127.0.0.1:{port}"), tmp_path)
    try:
        await run.wait_for("Telegram is not reachable", count=3)
        assert run.process.returncode is None  # still trying, not exited
        tries = [line for line in run.lines if "Telegram is not reachable" in line]
        assert "(try 1)" in tries[0] and "(try 3)" in tries[2]
        fake = FakeBotAPI(TEST_TOKEN)
        await fake.start(port=port)  # Telegram comes back, on the port the bot tries
        try:
            await run.wait_for("Forever is running")
            answered = asyncio.Event()
            fake.subscribe(
                lambda event: (
                    answered.set() if event.kind == "message" and event.chat_id == 7002 else None
                )
            )
            user = fake.add_user(7002, "Ana")
            await user.start()
            await asyncio.wait_for(answered.wait(), 30)
            assert "Welcome" in user.last_message.text
            code = await run.finish()
        finally:
            await fake.stop()
    finally:
        await run.finish()
    assert code == 0
    assert_no_token(run.output)


@pytest.mark.slow
async def test_run_with_a_refused_token_ends_with_one_line(
    database_url: str, tmp_path: Path
) -> None:
    other = "987654321:" + "B" * 35  # a well-formed token the Bot API does not know
    async with FakeBotAPI(other) as fake:
        assert fake.base_url is not None
        run = await RunProcess.start(run_env(database_url, fake.base_url), tmp_path)
        try:
            code = await asyncio.wait_for(run.process.wait(), START_WITHIN)
        finally:
            await reap(run.process)
        await run._reader
    assert code == cli.EXIT_CONFIG
    errors = [line for line in run.lines if "401" in line or "error" in line.lower()]
    assert errors == [
        "error: BOT_TOKEN: Telegram refused the token (401 Unauthorized); "
        "check it with @BotFather\n"
    ]
    assert "Traceback" not in run.output
    assert_no_token(run.output)
