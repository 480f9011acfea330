"""`bot.py run` as a real process that the fault tests start, kill -9 and start again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, STAFF_ID, TEST_TOKEN
from tests.processes import START_WITHIN, kill_group, spawn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_env(database_url: str, telegram_url: str, **extra: str) -> dict[str, str]:
    """The environment of `bot.py run` in polling mode against the fake Bot API. Fixed ports:
    the same instance restarted keeps its name (host name and WEB_PORT)."""
    return {
        **os.environ,
        "BOT_TOKEN": TEST_TOKEN,
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
        "TELEGRAM_API_URL": telegram_url,
        "DATABASE_URL": database_url,
        "CATALOG_PATH": str(ROOT / "catalog.toml"),
        "MAIL_FROM": "Forever <hello@forever.test>",
        "ADMIN_IDS": str(STAFF_ID),
        "WEB_PORT": str(free_port()),
        "METRICS_PORT": str(free_port()),
        "LOG_FORMAT": "json",
        **extra,
    }


class BotProcess:
    """One `bot.py run` process at a time; `lines` keeps the JSON log of every one."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.lines: list[dict[str, Any]] = []
        self.starts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self, *, wait: bool = True) -> None:
        assert self._process is None or self._process.returncode is not None
        self._ready = asyncio.Event()
        self.starts += 1
        self._process = await spawn(
            sys.executable,
            str(ROOT / "bot.py"),
            "run",
            env=self.env,
            cwd=self.cwd,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read(self._process))
        if wait:
            await self.wait_ready()

    async def wait_ready(self, within: float = START_WITHIN) -> None:
        await asyncio.wait_for(self._ready.wait(), within)

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            try:
                line = json.loads(raw)
            except ValueError:  # a traceback escaped the logger: keep it, the test fails
                line = {"message": raw.decode(errors="replace"), "level": "RAW"}
            line["run"] = self.starts
            line["at"] = time.monotonic()
            self.lines.append(line)
            if str(line.get("message", "")).startswith("Forever is running"):
                self._ready.set()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def kill(self) -> None:
        """kill -9: nothing is flushed, released or said goodbye to."""
        assert self._process is not None
        kill_group(self._process.pid)
        await self._process.wait()
        if self._reader is not None:
            await self._reader

    async def stop(self) -> int:
        """SIGTERM and wait: the exit code."""
        if self._process is None or self._process.returncode is not None:
            return 0 if self._process is None else int(self._process.returncode or 0)
        self._process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self._process.wait(), 40)
        finally:
            kill_group(self._process.pid)
        if self._reader is not None:
            await self._reader
        return code

    def messages(self, level: str | None = None) -> list[str]:
        return [
            str(line.get("message", ""))
            for line in self.lines
            if level is None or line.get("level") == level
        ]


def with_suppress_lookup(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


async def poll_until(check: Callable[[], Awaitable[bool]], within: float) -> None:
    """Ask the database (another process writes it) until `check` holds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.2)


class Forker:
    """`bot.py run` processes forked from one that has done the imports (forker.py)."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = {**env, "PYTHONPATH": str(ROOT)}
        self.cwd = cwd
        self.lines: list[dict[str, Any]] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._process = await spawn(
            sys.executable,
            "-m",
            "tests.e2e.faults.forker",
            env=self.env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        assert await self._line() == "ready"

    async def _line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), START_WITHIN)
        return line.decode().strip()

    async def _read(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        async for raw in self._process.stderr:
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"message": raw.decode(errors="replace"), "level": "RAW"}
            line["at"] = time.monotonic()
            self.lines.append(line)

    async def spawn(self) -> int:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(b"spawn\n")
        await self._process.stdin.drain()
        return int(await self._line())

    async def kill(self, pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
        with_suppress_lookup(pid, sig)
        while True:  # reaped by the forker at once
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Ends the forker and every child it forked (they share its process group, and die
        with it), whatever state the test left them in."""
        if self._process is None:
            return
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 30)
        finally:
            kill_group(self._process.pid)
            await self._process.wait()
        if self._reader is not None:
            await self._reader

    def messages(self, level: str | None = None) -> list[str]:
        return [
            str(line.get("message", ""))
            for line in self.lines
            if level is None or line.get("level") == level
        ]
