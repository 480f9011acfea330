"""Command line: run | sandbox | tick | migrate. Errors in settings end with one line, exit 2.

Each command imports what it runs inside its function: not to dodge a cycle (the entry layer
has none), but so that a mistake in the settings is reported at once, before the bot, the
database driver and the scheduler are loaded."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import datetime

from forever.config import ConfigError, Settings, load_settings
from forever.domain.catalog import CatalogError
from forever.domain.clock import parse_instant
from forever.logs import redact, setup_logging

log = logging.getLogger("forever")

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bot.py",
        description="Forever: a subscription engagement bot for Telegram.",
        epilog="Settings come from the environment or .env; see README.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "run",
        help="run the bot for real (needs BOT_TOKEN and SECRET_KEY)",
        description="Run the bot: long polling (or webhook when WEBHOOK_URL is set), the "
        "scheduler, the outbox sender and the web server, in one process.",
    )
    sandbox = sub.add_parser(
        "sandbox",
        help="the whole product on this machine, no token or servers needed",
        description="Start a Bot API stand-in, a mail catcher and the bot with a web page "
        "to play customers and staff, on a fresh SQLite file.",
    )
    sandbox.add_argument("--db", metavar="PATH", help="keep the sandbox database in this file")
    sandbox.add_argument("--port", type=int, default=8080, help="web page port (default 8080)")
    tick = sub.add_parser(
        "tick",
        help="do the scheduled work due at an instant, then exit",
        description="Run every scheduled sweep as if it were AT, hand over the resulting "
        "chat messages and emails, and exit 0. Running it again for the same instant sends "
        "nothing new.",
    )
    tick.add_argument(
        "--at", required=True, metavar="ISO", help="the instant, e.g. 2026-12-01T09:00:00Z"
    )
    usage = sub.add_parser(
        "usage",
        help="add to a customer's usage counter (feeds upgrade prompts)",
        description="Add AMOUNT to this month's usage counter of the customer with this "
        "Telegram id (metric from the catalog unless given). Prints the new value; exit 1 "
        "when nobody has that id.",
    )
    usage.add_argument("telegram_id", type=int, help="the customer's Telegram user id")
    usage.add_argument("--amount", type=int, default=1, help="how much to add (default 1)")
    usage.add_argument("--metric", help="counter name (default: catalog upgrade.usage_metric)")
    sub.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply alembic migrations to DATABASE_URL (safe to run again).",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "tick":
            try:
                at = parse_instant(args.at)
            except ValueError as exc:
                raise ConfigError(f"--at: not an ISO instant ({exc})") from None
            settings.require_secret_key()  # links in the emails it sends are signed
            return _tick(settings, at)
        if args.command == "migrate":
            return _migrate(settings)
        if args.command == "usage":
            if args.amount < 1:
                raise ConfigError("--amount: at least 1")
            return _usage(settings, args.telegram_id, args.amount, args.metric)
        if args.command == "run":
            settings.require_for_run()
            return _run(settings)
        if args.command == "sandbox":
            from forever.sandbox.command import run_sandbox

            return run_sandbox(settings, db_path=args.db, port=args.port)
    except (ConfigError, CatalogError) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    return 0


def _migrate(settings: Settings) -> int:
    from forever.db.migrate import upgrade_to_head

    setup_logging(settings.log_level, settings.log_format.value)
    upgrade_to_head(settings.database_url)
    log.info("database schema is up to date")
    return 0


def _run(settings: Settings) -> int:
    from forever.app import build_container
    from forever.db.migrate import upgrade_to_head
    from forever.runtime import Runtime, serve_forever

    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    container = build_container(settings)  # validates the catalog before anything starts
    setup_logging(
        settings.log_level,
        settings.log_format.value,
        secrets=(token,),
        context={"instance": container.instance},
    )
    upgrade_to_head(settings.database_url)

    async def _main() -> None:
        runtime = Runtime(container, token)
        await runtime.start()
        log.info("Forever is running; press Ctrl+C to stop")
        await serve_forever(runtime)

    asyncio.run(_main())
    return 0


def _tick(settings: Settings, at: datetime) -> int:
    from forever.app import build_container
    from forever.db.migrate import upgrade_to_head
    from forever.domain.clock import ManualClock
    from forever.wiring.email import tick

    setup_logging(settings.log_level, settings.log_format.value)
    container = build_container(settings, clock=ManualClock(at))
    upgrade_to_head(settings.database_url)
    results = asyncio.run(tick(container, at))
    log.info("tick at %s: %s", at.isoformat(), results)
    return 0


def _usage(settings: Settings, telegram_id: int, amount: int, metric: str | None) -> int:
    from forever.app import build_container
    from forever.wiring import customers

    setup_logging(settings.log_level, settings.log_format.value)
    container = build_container(settings)

    async def _main() -> int | None:
        try:
            return await customers.build(container).record_usage(telegram_id, amount, metric)
        finally:
            await container.close()

    value = asyncio.run(_main())
    if value is None:
        print(f"no customer with Telegram id {telegram_id}", file=sys.stderr)
        return 1
    print(value)
    return 0
