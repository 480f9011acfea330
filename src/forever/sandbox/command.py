"""`bot.py sandbox`: start everything, say where the page is, stop cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
from urllib.parse import urlsplit

from forever.config import SANDBOX_TOKEN, ConfigError, Settings
from forever.logs import setup_logging
from forever.sandbox.world import Sandbox

log = logging.getLogger("forever.sandbox")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_real_telegram(settings: Settings) -> None:
    """The sandbox never talks to a real Telegram; refuse a setup that looks like one.

    A real BOT_TOKEN next to a TELEGRAM_API_URL off this machine is how `run` is configured:
    starting the sandbox there is almost certainly a mistake, so say so instead of guessing.
    """
    token = settings.bot_token.get_secret_value() if settings.bot_token else None
    if token is None or token == SANDBOX_TOKEN:
        return
    host = urlsplit(str(settings.telegram_api_url)).hostname
    if not _is_loopback(host):
        raise ConfigError(
            f"sandbox: BOT_TOKEN is set and TELEGRAM_API_URL points to {host}, a real "
            "Telegram; the sandbox runs its own stand-in: unset BOT_TOKEN (or run elsewhere "
            "than next to your production .env)"
        )


def run_sandbox(settings: Settings, db_path: str | None = None, port: int = 8080) -> int:
    refuse_real_telegram(settings)
    if not 1 <= port <= 65535:
        raise ConfigError("--port: must be between 1 and 65535")
    setup_logging(settings.log_level, settings.log_format.value)
    # The sandbox runs its jobs every few seconds: their routine lines would drown the rest.
    for noisy in ("alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        asyncio.run(_serve(settings, db_path, port))
    except OSError as exc:
        # Almost always: something else already listens on the port.
        raise ConfigError(f"sandbox: cannot listen on 127.0.0.1:{port} ({exc.strerror})") from None
    return 0


async def _serve(settings: Settings, db_path: str | None, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    sandbox = await Sandbox.start(settings, db_path=db_path, port=port)
    try:
        where = f"database {db_path}" if db_path else "a fresh database (gone when you stop)"
        sys.stdout.write(
            f"\nForever sandbox is running: open {sandbox.url}\n"
            f"  fake Telegram at {sandbox.fake.base_url}, mail catcher at "
            f"127.0.0.1:{sandbox.catcher.port}, {where}\n"
            "  press Ctrl+C to stop\n\n"
        )
        sys.stdout.flush()
        await stop.wait()
    finally:
        log.info("stopping the sandbox")
        await sandbox.stop()
