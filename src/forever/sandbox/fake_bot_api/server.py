"""FakeBotAPI: the HTTP server aiogram talks to, and the handle tests use to play users."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import ApiError, UpdateDropped, UpdateNotHandled, bad_request
from .flood import (
    PAID_PER_SECOND,
    TELEGRAM_MESSAGES_PER_SECOND,
    Clock,
    FaultInjector,
    FloodControl,
    RetryAfterWatch,
)
from .http_body import Params, Uploads, read_request
from .limits import BALANCE_TOO_LOW, NANOS_PER_STAR, PAID_MESSAGE_NANOS
from .methods import BotApiMethods, Options, Stats
from .spec import ApiSpec, load_spec
from .state import BotState, FakeEvent, FakeMessage, UserRecord
from .updates import Outcome, PendingUpdate, UpdateQueue
from .users import FakeUser, PaymentResult
from .validation import RequestValidator

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.telegram import TelegramAPIServer

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "7000000001:AAH-fake-token-for-the-forever-bot1"  # noqa: S105 (not a secret)
TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]{35}$")
_MAX_BODY = 50 * 1024 * 1024  # Telegram's upload limit for bots
# Calls that create a message in a chat and therefore count towards flood limits.
_NON_MESSAGE_SENDS = frozenset({"sendchataction", "sendmessagedraft", "sendrichmessagedraft"})
_OTHER_MESSAGE_METHODS = frozenset(
    {"copymessage", "copymessages", "forwardmessage", "forwardmessages"}
)

Listener = Callable[[FakeEvent], Any]


def counts_as_message(method: str) -> bool:
    name = method.lower()
    if name in _OTHER_MESSAGE_METHODS:
        return True
    return name.startswith("send") and name not in _NON_MESSAGE_SENDS


@dataclass
class ApiCall:
    """One request the bot made (or a call carried in a webhook reply)."""

    method: str
    params: dict[str, Any]
    ok: bool = True
    status: int = 200
    description: str | None = None
    result: Any = None
    via_webhook_reply: bool = False
    files: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        outcome = "ok" if self.ok else f"{self.status} {self.description}"
        return f"<ApiCall {self.method} {outcome}>"


class FakeBotAPI:
    """A strict Telegram Bot API double served over real HTTP.

    `max_per_second=FakeBotAPI.TELEGRAM_LIMIT` enforces Telegram's 30 messages per second for
    everything the bot posts (replies too), in one global window. Every 429 answered is
    watched: `retry_after_watch.early` lists callers that came back too soon
    (`assert_429s_obeyed`).

    Usage::

        async with FakeBotAPI() as fake:
            bot = fake.make_bot()
            alice = fake.add_user(1001, "Alice")
            ...
    """

    TELEGRAM_LIMIT = TELEGRAM_MESSAGES_PER_SECOND

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_first_name: str = "Forever",
        bot_username: str = "forever_test_bot",
        max_per_second: int | None = None,
        max_per_chat_per_second: int | None = None,
        max_paid_per_second: int | None = PAID_PER_SECOND,
        star_balance: int = 0,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        update_timeout: float = 10.0,
        pre_checkout_timeout: float = 10.0,
        callback_query_ttl: float = 15.0,
        accept_unknown_file_ids: bool = False,
        provider_tokens: Iterable[str] = (),
        allow_http_webhooks: bool = True,
        webhook_retry_delay: float = 0.1,
        webhook_max_attempts: int = 5,
        first_update_id: int = 1,
    ) -> None:
        if not TOKEN_PATTERN.match(token):
            raise ValueError("token must look like a real one: <digits>:<35 characters>")
        self.token = token
        self.spec: ApiSpec = load_spec()
        self.validator = RequestValidator(self.spec)
        self.clock = clock
        self.update_timeout = update_timeout
        self.pre_checkout_timeout = pre_checkout_timeout
        bot_user = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.state = BotState(bot_user, wall_clock)
        self.queue = UpdateQueue(
            update_types=self.spec.update_types,
            wall_clock=wall_clock,
            webhook_retry_delay=webhook_retry_delay,
            webhook_max_attempts=webhook_max_attempts,
            first_update_id=first_update_id,
        )
        self.queue.inline_call = self._webhook_reply_call
        self.stats = Stats()
        self.flood = FloodControl(
            clock, max_per_second, max_per_chat_per_second, max_paid_per_second
        )
        self.retry_after_watch = RetryAfterWatch(clock)
        self.state.star_nanos = star_balance * NANOS_PER_STAR
        self.faults = FaultInjector()
        self.methods = BotApiMethods(
            self.state,
            self.queue,
            Options(
                accept_unknown_file_ids=accept_unknown_file_ids,
                provider_tokens=frozenset(provider_tokens),
                callback_query_ttl=callback_query_ttl,
                allow_http_webhooks=allow_http_webhooks,
            ),
            self.stats,
            self.emit,
            clock,
        )
        self.calls: list[ApiCall] = []
        self._listeners: list[Listener] = []
        self._users: dict[int, FakeUser] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self.app = web.Application(client_max_size=_MAX_BODY)
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle_call)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner: web.AppRunner | None = None
        self.base_url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = an ephemeral port); return the base URL."""
        # handler_cancellation: a long poll whose client went away ends at once, as in Telegram,
        # instead of lingering and being "terminated by other getUpdates request" later.
        runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        actual_port = runner.addresses[0][1]
        self.base_url = f"http://{host}:{actual_port}"
        return self.base_url

    async def stop(self) -> None:
        await self.queue.close()
        for task in list(self._background):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def api_server(self) -> TelegramAPIServer:
        """aiogram's server description pointing at this double."""
        from aiogram.client.telegram import TelegramAPIServer

        if self.base_url is None:
            raise RuntimeError("start the fake Bot API first")
        return TelegramAPIServer.from_base(self.base_url)

    def make_bot(self, **kwargs: Any) -> Bot:
        """A real aiogram Bot whose session talks to this double (close it when done)."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession

        return Bot(self.token, session=AiohttpSession(api=self.api_server), **kwargs)

    @property
    def bot_user(self) -> dict[str, Any]:
        return dict(self.state.bot_user)

    # -- HTTP ------------------------------------------------------------------------------

    async def _handle_call(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not TOKEN_PATTERN.match(token) or token != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        spec_method = self.spec.find_method(request.match_info["method"])
        if spec_method is None:
            return _error_response(ApiError(404, "Not Found"))
        try:
            params, uploads = await read_request(request)
        except ApiError as error:
            self._record(ApiCall(spec_method.name, {}), error)
            return _error_response(error)
        status, body = await self.execute(spec_method.name, params, uploads)
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        record = self.state.files.get(file_id)
        if record is None or record.data is None:
            return _error_response(ApiError(404, "Not Found"))
        return web.Response(
            body=record.data, content_type=record.mime_type or "application/octet-stream"
        )

    async def execute(
        self, method: str, params: Params, uploads: Uploads | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Run one Bot API call through the full pipeline; return (HTTP status, JSON body)."""
        uploads = uploads or {}
        spec_method = self.spec.find_method(method)
        if spec_method is None:
            return 404, ApiError(404, "Not Found").to_json()
        name = spec_method.name
        call = ApiCall(name, dict(params), files=sorted(uploads))
        self.calls.append(call)
        self.stats.calls_by_method[name] += 1
        self.retry_after_watch.check(name, params.get("chat_id"))
        try:
            fault = self.faults.take(name)
            if fault is not None:
                raise fault
            decoded = self.validator.decode(spec_method, params, uploads)
            call.params = decoded
            paid = counts_as_message(name) and bool(decoded.get("allow_paid_broadcast"))
            if paid and self.state.star_nanos < PAID_MESSAGE_NANOS:
                raise bad_request(BALANCE_TOO_LOW)
            if counts_as_message(name):
                chat_id = decoded.get("chat_id")
                self.flood.check(chat_id if isinstance(chat_id, int) else None, paid=paid)
            if paid:
                # Taken before the call (and given back if it fails), so that concurrent paid
                # sends cannot spend the same last tenth of a Star twice.
                self.state.star_nanos -= PAID_MESSAGE_NANOS
            try:
                result = await self.methods.call(name, decoded)
            except ApiError:
                if paid:
                    self.state.star_nanos += PAID_MESSAGE_NANOS
                raise
            if paid:
                self.stats.paid_messages += 1
        except ApiError as error:
            if error.status == 429:
                self.retry_after_watch.told_to_wait(
                    name,
                    params.get("chat_id"),
                    float((error.parameters or {}).get("retry_after", 0)),
                )
            self._record(call, error, appended=True)
            return error.status, error.to_json()
        call.result = result
        return 200, {"ok": True, "result": result}

    def _record(self, call: ApiCall, error: ApiError, *, appended: bool = False) -> None:
        call.ok = False
        call.status = error.status
        call.description = error.description
        if error.status == 429:
            self.stats.too_many_requests += 1
        elif error.status >= 500:
            self.stats.server_errors += 1
        if not appended:
            self.calls.append(call)
        if error.status not in (409, 429) and error.status < 500:
            log.warning("fake Bot API refused %s: %s", call.method, error.description)

    async def _webhook_reply_call(self, method: str, params: Params, uploads: Uploads) -> None:
        before = len(self.calls)
        await self.execute(method, params, uploads)
        for call in self.calls[before:]:
            call.via_webhook_reply = True

    # -- inspection ------------------------------------------------------------------------

    @property
    def refused(self) -> list[ApiCall]:
        return [c for c in self.calls if not c.ok]

    def calls_to(self, method: str) -> list[ApiCall]:
        name = method.lower()
        return [c for c in self.calls if c.method.lower() == name]

    def assert_429s_obeyed(self, *, in_flight: float = 0.0) -> None:
        """No caller came back before the `retry_after` of the 429 it was given. `in_flight`:
        calls arriving within this many seconds of the 429 are not counted (a bot making
        calls concurrently has some on their way before it can read the 429)."""
        early = [e for e in self.retry_after_watch.early if e.after > in_flight]
        if early:
            lines = "\n".join(f"  {e.method} ({e.caller}): {e.early_by:.3f} s early" for e in early)
            raise AssertionError(f"{len(early)} call(s) ignored a 429's retry_after:\n{lines}")

    def assert_no_refused_calls(self, *, ignore_status: Iterable[int] = ()) -> None:
        ignored = set(ignore_status)
        refused = [c for c in self.refused if c.status not in ignored]
        if refused:
            lines = "\n".join(f"  {c.method}: {c.status} {c.description}" for c in refused)
            raise AssertionError(f"the fake Bot API refused {len(refused)} call(s):\n{lines}")

    # -- the bot's Stars --------------------------------------------------------------------

    def set_star_balance(self, amount: int, nanostar_amount: int = 0) -> None:
        """Set what getMyStarBalance answers; each paid message takes 0.1 Star from it."""
        self.state.star_nanos = amount * NANOS_PER_STAR + nanostar_amount

    @property
    def star_balance(self) -> tuple[int, int]:
        """The bot's Stars now: (whole Stars, nanostars)."""
        return divmod(self.state.star_nanos, NANOS_PER_STAR)

    # -- fault injection -------------------------------------------------------------------

    def inject_errors(
        self,
        status: int,
        count: int = 1,
        *,
        retry_after: int = 1,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Answer the next `count` matching calls with `status` (429 or 5xx).

        Without `methods`, any call except update delivery (getUpdates, webhook setup) is hit.
        """
        if status != 429 and status < 500:
            raise ValueError("inject 429 or a 5xx status")
        self.faults.add(status, count, retry_after=retry_after, methods=methods)

    def inject_429(
        self, count: int = 1, *, retry_after: int = 1, methods: Iterable[str] | None = None
    ) -> None:
        self.inject_errors(429, count, retry_after=retry_after, methods=methods)

    def inject_5xx(
        self, count: int = 1, *, status: int = 502, methods: Iterable[str] | None = None
    ) -> None:
        self.inject_errors(status, count, methods=methods)

    # -- listeners -------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event)` on every bot-side change; returns an unsubscribe function.

        Async listeners are scheduled as tasks so the bot's request is never held up.
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: FakeEvent) -> None:
        for listener in list(self._listeners):
            try:
                outcome = listener(event)
            except Exception:
                log.exception("fake Bot API listener failed")
                continue
            if inspect.isawaitable(outcome):
                task = asyncio.ensure_future(outcome)
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    # -- users -----------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        language_code: str | None = "en",
        username: str | None = None,
        last_name: str | None = None,
        is_premium: bool = False,
        started: bool = False,
    ) -> FakeUser:
        """Create a Telegram user. `started=True` means they already opened the bot before,
        so the bot may message them first (otherwise Telegram answers 403)."""
        record = UserRecord(
            id=user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
            started=started,
        )
        self.state.add_user(record)
        user = FakeUser(self, record)
        self._users[user_id] = user
        return user

    def user(self, user_id: int) -> FakeUser:
        return self._users[user_id]

    @property
    def users(self) -> list[FakeUser]:
        return list(self._users.values())

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to them now fail with 403."""
        self.state.users[user_id].blocked = True
        self.emit(FakeEvent("blocked", user_id))

    def unblock(self, user_id: int) -> None:
        self.state.users[user_id].blocked = False
        self.emit(FakeEvent("unblocked", user_id))

    # -- updates ---------------------------------------------------------------------------

    async def send_update(self, update: dict[str, Any], *, wait: bool = True) -> PendingUpdate:
        """Queue a raw (possibly malformed or forged) update; update_id is added if absent."""
        pending = self.queue.push_payload(dict(update))
        self.emit(FakeEvent("update", None, data={"update": pending.payload}))
        if wait:
            await self.wait_handled(pending)
        return pending

    def _taken_in(self) -> int:
        """Grows by one with every update the bot takes in (or that is otherwise resolved)."""
        return self.queue.last_update_id - len(self.queue.pending)

    async def _while_progressing(self, waiting: Awaitable[Any], limit: float) -> Any:
        """Await `waiting` for as long as the bot keeps taking in updates: it fails only when
        `limit` seconds pass with none taken in. Bulk work (5,000 removals cause 10,000
        chat_member updates) gets the time it needs; a stuck bot still fails in `limit`."""
        task = asyncio.ensure_future(waiting)
        try:
            while True:
                before = self._taken_in()
                try:
                    return await asyncio.wait_for(asyncio.shield(task), limit)
                except TimeoutError:
                    if self._taken_in() == before:
                        raise
        finally:
            if not task.done():
                task.cancel()

    async def wait_handled(self, update: PendingUpdate, within: float | None = None) -> Outcome:
        """Wait until the bot has handled `update` (see module doc of updates); `within`
        seconds without the bot taking in any update fail (progress extends the wait)."""
        limit = self.update_timeout if within is None else within
        try:
            outcome: Outcome = await self._while_progressing(asyncio.shield(update.handled), limit)
        except TimeoutError:
            raise UpdateNotHandled(
                f"update {update.update_id} ({update.kind}) was not confirmed within {limit}s: "
                "is a dispatcher polling this server (handle_as_tasks=False), or is the "
                "webhook answering?"
            ) from None
        if outcome is Outcome.DROPPED:
            raise UpdateDropped(f"update {update.update_id} ({update.kind}) was dropped")
        if outcome is Outcome.FAILED:
            raise UpdateNotHandled(
                f"webhook delivery of update {update.update_id} ({update.kind}) failed: "
                f"{self.queue.webhook.last_error_message if self.queue.webhook else ''}"
            )
        return outcome

    async def wait_until_polled(self, within: float | None = None) -> None:
        """Wait for the bot's first getUpdates call (its dispatcher is then running)."""
        limit = self.update_timeout if within is None else within
        try:
            await asyncio.wait_for(self.queue.polled.wait(), limit)
        except TimeoutError:
            raise UpdateNotHandled(f"the bot did not call getUpdates within {limit}s") from None

    async def settle(self, within: float | None = None) -> None:
        """Wait until every queued update has been handled by the bot; fails after `within`
        seconds in which the bot took in no update (not after `within` seconds in all)."""
        limit = self.update_timeout if within is None else within
        try:
            await self._while_progressing(self.queue.settle(), limit)
        except TimeoutError:
            pending = ", ".join(f"{u.update_id} ({u.kind})" for u in self.queue.pending[:20])
            raise UpdateNotHandled(
                f"{len(self.queue.pending)} update(s) still pending after {limit}s without "
                f"progress: {pending}"
            ) from None

    # -- payments driven from outside the chat ---------------------------------------------

    async def renew_subscription(
        self, user: FakeUser | int, charge_id: str, *, charged_before_cancel: bool = False
    ) -> PaymentResult:
        """Telegram charges the next period of a Stars subscription (a recurring payment);
        `charged_before_cancel`: taken just before a cancel reached Telegram (a race)."""
        return await self._user(user).renew_subscription(
            charge_id, charged_before_cancel=charged_before_cancel
        )

    async def pay_without_pre_checkout(
        self, user: FakeUser | int, invoice: FakeMessage | str, *, amount: int | None = None
    ) -> PaymentResult:
        """A successful_payment from `user` that skipped the bot's pre-checkout check (see
        FakeUser.pay_without_pre_checkout): someone else's invoice link, or an odd amount."""
        return await self._user(user).pay_without_pre_checkout(invoice, amount=amount)

    async def send_subscription_update(
        self, user: FakeUser | int, invoice_payload: str, state: str
    ) -> PendingUpdate:
        """Deliver Update.subscription (BotSubscriptionUpdated): canceled, active or failed."""
        return await self._user(user).subscription_changed(invoice_payload, state)

    def _user(self, user: FakeUser | int) -> FakeUser:
        return self._users[user] if isinstance(user, int) else user


def _error_response(error: ApiError) -> web.Response:
    return web.json_response(error.to_json(), status=error.status)
