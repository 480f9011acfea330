"""Command line: run | sandbox | tick | migrate. Errors in settings end with one line, exit 2.

Each command imports what it runs inside its function: not to dodge a cycle (the entry layer
has none), but so that a mistake in the settings is reported at once, before the bot, the
database driver and the scheduler are loaded."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
import traceback
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from forever.config import ConfigError, Settings, load_settings
from forever.domain.catalog import CatalogError
from forever.domain.clock import parse_instant
from forever.logs import redact, register_secrets, setup_logging

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger("forever")

EXIT_CONFIG = 2
START_RETRY_FIRST_SECONDS = 1.0


def _print_redacted_exception(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    """sys.excepthook: the traceback of an escaped error, with every secret redacted (an aiohttp
    error names the Bot API URL, token included)."""
    text = "".join(traceback.format_exception(kind, error, tb))
    sys.stderr.write(redact(text))
    sys.stderr.flush()


def _print_redacted_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        _print_redacted_exception(args.exc_type, args.exc_value, args.exc_traceback)


def install_redacting_hooks() -> None:
    sys.excepthook = _print_redacted_exception
    threading.excepthook = _print_redacted_thread_exception


def _loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The asyncio loop's handler: what the default one says, redacted, through logging."""
    message = str(context.get("message") or "unhandled error in the event loop")
    error = context.get("exception")
    if isinstance(error, BaseException):
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        log.error("%s\n%s", redact(message), redact(details.rstrip()))
    else:
        log.error("%s", redact(message))


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
    usage.add_argument(
        "--credits",
        metavar="N",
        help="spend N pay-per-use credits instead (all or nothing; needs --request-id); "
        "prints the balance left, exit 1 when the balance is too small",
    )
    usage.add_argument(
        "--request-id", help="your id for this spend: repeating it never spends twice"
    )
    report = sub.add_parser(
        "report",
        help="print figures for scripts (experiments)",
        description="Print every catalog experiment with its arms, their rates and "
        "intervals, and the call (running, winner, no_difference, stopped).",
    )
    report.add_argument("what", choices=["experiments", "whatif"], help="what to report")
    report.add_argument("--json", action="store_true", help="one JSON document (the contract)")
    report.add_argument("--plan", help="whatif: the plan id")
    report.add_argument("--price", type=int, help="whatif: the monthly price in Stars")
    sub.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply alembic migrations to DATABASE_URL (safe to run again).",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    install_redacting_hooks()
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
        if args.command == "usage" and args.credits is not None:
            from forever.domain.economy import AmountError, parse_amount
            from forever.services.credits import check_request_id

            try:
                credits = parse_amount(args.credits)
                request_id = check_request_id(args.request_id)
            except AmountError as exc:
                raise ConfigError(f"--credits: {exc}") from None
            except ValueError as exc:
                raise ConfigError(f"--request-id: {exc}") from None
            return _spend_credits(settings, args.telegram_id, credits, request_id)
        if args.command == "usage":
            if args.amount < 1:
                raise ConfigError("--amount: at least 1")
            return _usage(settings, args.telegram_id, args.amount, args.metric)
        if args.command == "report" and args.what == "whatif":
            if not args.plan or args.price is None or args.price < 1:
                raise ConfigError("report whatif: needs --plan ID and --price STARS (at least 1)")
            return _whatif(settings, args.plan, args.price, as_json=args.json)
        if args.command == "report":
            return _report(settings, as_json=args.json)
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
    from forever.runtime import Runtime, freeze_start_up_objects, serve_forever

    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    register_secrets(token)
    container = build_container(settings)  # validates the catalog before anything starts
    setup_logging(
        settings.log_level,
        settings.log_format.value,
        secrets=(token,),
        context={"instance": container.instance},
    )
    upgrade_to_head(settings.database_url)

    async def _main() -> None:
        asyncio.get_running_loop().set_exception_handler(_loop_exception_handler)
        runtime = Runtime(container, token)
        try:
            username = await wait_for_telegram(runtime.bot, settings.start_retry_max_seconds)
        except BaseException:
            await runtime.bot.session.close()
            await container.close()
            raise
        container.bot_username = container.bot_username or username
        await runtime.start()
        freeze_start_up_objects()
        log.info("Forever is running; press Ctrl+C to stop")
        await serve_forever(runtime)

    asyncio.run(_main())
    return 0


async def wait_for_telegram(
    bot: Bot, max_delay: float, first_delay: float = START_RETRY_FIRST_SECONDS
) -> str | None:
    """Ask Telegram who the bot is until it answers, retrying (first_delay doubling up to
    max_delay, each try logged) while it cannot be reached; a refused token (401) is a setting
    error: ConfigError, one line, exit 2. Returns the bot's username."""
    from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError

    delay = min(first_delay, max_delay)
    attempt = 1
    while True:
        try:
            me = await bot.get_me()
        except TelegramUnauthorizedError:
            raise ConfigError(
                "BOT_TOKEN: Telegram refused the token (401 Unauthorized); check it with @BotFather"
            ) from None
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            log.warning(
                "Telegram is not reachable (try %s): %s; next try in %.1f s",
                attempt,
                redact(f"{type(exc).__name__}: {exc}"),
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
            attempt += 1
            continue
        log.info("Telegram answered: the bot is @%s", me.username)
        return me.username


def _tick(settings: Settings, at: datetime) -> int:
    from forever.app import build_container, new_instance_id
    from forever.db.migrate import upgrade_to_head
    from forever.domain.clock import ManualClock
    from forever.wiring.email import tick

    setup_logging(settings.log_level, settings.log_format.value)
    container = build_container(settings, clock=ManualClock(at))
    # A one-off run: a name of its own, so that `run` restarting on this host (same default
    # name) never takes back rows this tick is sending.
    container.instance = new_instance_id()
    upgrade_to_head(settings.database_url)
    results = asyncio.run(tick(container, at))
    log.info("tick at %s: %s", at.isoformat(), results)
    return 0


def _report(settings: Settings, *, as_json: bool) -> int:
    import json

    from forever.app import build_container
    from forever.services.experiment_results import report
    from forever.wiring.experiments import experiment_desk

    setup_logging(settings.log_level, settings.log_format.value)
    container = build_container(settings)

    async def _main() -> dict[str, Any]:
        try:
            return await report(experiment_desk(container))
        finally:
            await container.close()

    found = asyncio.run(_main())
    if as_json:
        print(json.dumps(found, ensure_ascii=False))
        return 0
    for e in found["experiments"]:
        print(f"{e['id']} ({e['surface']}, {e['status']}): {e['decision']} {e['winner'] or ''}")
        for a in e["variants"]:
            rate = "–" if a["rate"] is None else f"{a['rate']:.1%}"
            low, high = a["ci"]
            print(
                f"  {a['id']}: {a['exposed']} exposed, {a['converted']}/{a['measured']} "
                f"measured succeeded, {rate} (95% {low:.1%}–{high:.1%})"
            )
    return 0


def _whatif(settings: Settings, plan_id: str, price: int, *, as_json: bool) -> int:
    import json
    from dataclasses import asdict

    from forever.app import build_container
    from forever.wiring.experiments import experiment_desk

    setup_logging(settings.log_level, settings.log_format.value)
    container = build_container(settings)

    async def _main() -> Any:
        try:
            return await experiment_desk(container).what_if(plan_id, price)
        finally:
            await container.close()

    found = asyncio.run(_main())
    if found is None:
        print(f"no plan {plan_id!r} in the catalog", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(asdict(found), ensure_ascii=False))
        return 0
    for label, e, needed in (
        (f"at {found.price} Stars", found.at_price, found.needed_at_price),
        (f"today ({found.today_price} Stars)", found.today, found.needed_today),
    ):
        if e is None:
            print(f"{label}: not enough data; {needed} more measured people shown this price")
            continue
        print(
            f"{label}: conversion {e.conversion.value:.1%} "
            f"({e.conversion.low:.1%}-{e.conversion.high:.1%}), paid churn in 90 days "
            f"{e.paid_churn_90d.value:.1%}, MRR after 12 months {e.mrr_12m.value:.0f} "
            f"({e.mrr_12m.low:.0f}-{e.mrr_12m.high:.0f}), 12-month revenue "
            f"{e.revenue_12m.value:.0f} ({e.revenue_12m.low:.0f}-{e.revenue_12m.high:.0f})"
        )
    return 0


def _spend_credits(settings: Settings, telegram_id: int, credits: int, request_id: str) -> int:
    from forever.app import build_container
    from forever.services.credits import Outcome, Result
    from forever.wiring.economy import credit_ledger

    setup_logging(settings.log_level, settings.log_format.value)
    container = build_container(settings)

    async def _main() -> Result:
        try:
            return await credit_ledger(container).use(telegram_id, credits, request_id)
        finally:
            await container.close()

    result = asyncio.run(_main())
    if result.outcome is Outcome.UNKNOWN_PERSON:
        print(f"no customer with Telegram id {telegram_id}", file=sys.stderr)
        return 1
    if result.outcome is Outcome.INSUFFICIENT:
        print(f"not enough credits: the balance is {result.balance}", file=sys.stderr)
        return 1
    print(result.balance)
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
