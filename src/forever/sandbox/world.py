"""The running sandbox: the fake Telegram, the mail catcher, the bot, and the clock.

`Sandbox.start` wires them together in the current event loop and installs the page's routes
(sandbox/api.py) on the bot's own web server, through the Runtime: the page drives the world
through the methods here: add customers, type, press, pay, move the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import AnyHttpUrl, SecretStr
from sqlalchemy import func, select

from forever.app import Container, build_container
from forever.config import SANDBOX_TOKEN, Settings, SmtpSecurity
from forever.db.migrate import upgrade_engine
from forever.db.models import Person
from forever.domain.catalog import AccessChat, Catalog, ChatKind
from forever.runtime import Runtime
from forever.sandbox.api import SandboxApi
from forever.sandbox.clock import SandboxClock
from forever.sandbox.errors import SandboxError
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeEvent, FakeMessage, FakeUser
from forever.sandbox.fake_bot_api.groups import (
    INVITE_LINK_PREFIX,
    JoinRefused,
    add_group,
    groups,
    join,
)
from forever.sandbox.fake_bot_api.state import Subscription
from forever.sandbox.hub import EventHub
from forever.sandbox.mail_catcher import CaughtMail, MailCatcher
from forever.sandbox.views import mail_summary, message_view
from forever.services.credits import Outcome
from forever.telegram.bot_port import BotChatPort
from forever.wiring import console
from forever.wiring import customers as customer_wiring
from forever.wiring.economy import credit_ledger
from forever.wiring.email import drain_outbox, run_due_work
from forever.wiring.promo import promos

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
STAFF_ID = 4242
STAFF_NAME = "Sam"
FIRST_CUSTOMER_ID = 1001
BOT_USERNAME = "forever_sandbox_bot"
SANDBOX_MAIL_FROM = "Forever Sandbox <hello@sandbox.forever.local>"
# How long an action waits for the delivery worker it woke before answering the page.
HAND_OVER_SECONDS = 5.0
# The clock moves in steps, running the scheduled work after each one as the real scheduler
# would. Steps shorter than the 11 quiet night hours guarantee a daytime run every day, so
# deferred emails go out; longer moves take longer steps to stay quick (a step costs ~0.1 s).
SHORT_STEP = timedelta(hours=6)
LONG_STEP = timedelta(hours=10)
LONG_MOVE = timedelta(days=7)
MAX_CLOCK_MOVE = timedelta(days=120)  # past the last win-back email (90 days)
BOT_TIMEOUT = 30.0  # seconds the page waits for the bot to handle an action
_CHAT_KINDS = frozenset({"message", "invoice", "edit", "delete", "user_message"})
MAX_USAGE = 10_000  # one feed of the usage counter
# A promo code ready to try (issue 19): the page offers it to every customer as a chip.
SANDBOX_PROMO_CODE = "WELCOME20"
SANDBOX_PROMO = f"{SANDBOX_PROMO_CODE} percent=20"


__all__ = ["Customer", "Sandbox", "SandboxError", "free_port", "sandbox_settings"]


@dataclass
class Customer:
    user: FakeUser
    email: str  # the address the sandbox suggests this customer types in the chat
    staff: bool = False

    @property
    def id(self) -> int:
        return self.user.id

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.user.id,
            "name": self.user.first_name,
            "language": self.user.language_code or "",
            "email": self.email,
            "staff": self.staff,
            "blocked": self.user.blocked,
        }


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def sandbox_settings(
    base: Settings, *, database_url: str, api_url: str, smtp_port: int, port: int
) -> Settings:
    """The operator's settings with everything that talks to the outside pointed inward."""
    return base.model_copy(
        update={
            "bot_token": SecretStr(SANDBOX_TOKEN),
            "telegram_api_url": AnyHttpUrl(api_url),
            "database_url": database_url,
            "redis_url": None,
            "smtp_host": HOST,
            "smtp_port": smtp_port,
            "smtp_username": None,
            "smtp_password": None,
            "smtp_security": SmtpSecurity.NONE,
            "mail_from": base.mail_from or SANDBOX_MAIL_FROM,
            "public_url": AnyHttpUrl(f"http://{HOST}:{port}"),
            "web_host": HOST,
            "web_port": port,
            # Metrics on a free loopback port: a taken 9464 must not stop the sandbox.
            "metrics_host": HOST,
            "metrics_port": 0,
            # Only the sandbox's own staff member: real ids don't exist in the stand-in.
            "admin_ids": frozenset({STAFF_ID}),
            "webhook_url": None,
            "webhook_secret": None,
        }
    )


# Demo chats for a catalog that has none (sandbox only), and the posts the page shows inside.
DEMO_CHATS = (
    AccessChat(
        key="sandbox_club",
        chat_id=-1009000000001,
        kind=ChatKind.CHANNEL,
        name={
            "en": "Club channel",
            "ro": "Canalul clubului",
            "it": "Canale del club",
            "ru": "Канал клуба",
            "es": "Canal del club",
        },
    ),
    AccessChat(
        key="sandbox_community",
        chat_id=-1009000000002,
        kind=ChatKind.GROUP,
        name={
            "en": "Members' group",
            "ro": "Grupul membrilor",
            "it": "Gruppo dei membri",
            "ru": "Группа участников",
            "es": "Grupo de miembros",
        },
    ),
)
DEMO_POSTS = {
    ChatKind.CHANNEL: (
        "This week's live classes: Monday, Wednesday and Friday at 7:00.",
        "New in the library: a 20-minute morning flow.",
    ),
    ChatKind.GROUP: (
        "Sam (staff): Welcome! Say hello and tell us what you practise.",
        "Sam (staff): Questions about a pose? Ask here.",
    ),
}


def with_demo_chats(catalog: Catalog) -> Catalog:
    keys = tuple(chat.key for chat in DEMO_CHATS)
    plans = tuple(replace(plan, chats=keys) for plan in catalog.plans)
    return replace(catalog, chats=DEMO_CHATS, plans=plans)


JOIN_ANSWER_POLLS = 40  # × 50 ms: how long a join waits for the bot's answer


class Sandbox:
    """Everything `bot.py sandbox` runs, in one event loop. Build it with `Sandbox.start`."""

    def __init__(
        self,
        *,
        clock: SandboxClock,
        fake: FakeBotAPI,
        catcher: MailCatcher,
        hub: EventHub,
        temp_dir: tempfile.TemporaryDirectory[str] | None,
    ) -> None:
        self.clock = clock
        self.fake = fake
        self.catcher = catcher
        self.hub = hub
        self._temp_dir = temp_dir
        self.customers: dict[int, Customer] = {}
        self.container: Container | None = None
        self.runtime: Runtime | None = None
        self.url = ""
        self._clock_lock = asyncio.Lock()
        self._spends = 0  # makes each "Spend credits" request id new
        self._next_id = FIRST_CUSTOMER_ID
        # Stars subscriptions (by first charge id) whose next renewal the page made fail.
        self._failing_renewals: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        base: Settings,
        *,
        db_path: str | Path | None = None,
        port: int = 8080,
        scheduler: bool = True,
    ) -> Sandbox:
        clock = SandboxClock()
        temp_dir = None
        if db_path is None:
            temp_dir = tempfile.TemporaryDirectory(prefix="forever-sandbox-")
            db_file = Path(temp_dir.name) / "sandbox.db"
        else:
            db_file = await asyncio.to_thread(_prepare_db_file, Path(db_path))
        fake = FakeBotAPI(
            SANDBOX_TOKEN,
            bot_first_name="Forever",
            bot_username=BOT_USERNAME,
            wall_clock=lambda: clock.now().timestamp(),
            update_timeout=BOT_TIMEOUT,
        )
        sandbox = cls(
            clock=clock,
            fake=fake,
            catcher=MailCatcher(clock),
            hub=EventHub(),
            temp_dir=temp_dir,
        )
        try:
            await sandbox._start(base, db_file, port or free_port(), scheduler)
        except BaseException:
            await sandbox.stop()
            raise
        return sandbox

    async def _start(self, base: Settings, db_file: Path, port: int, scheduler: bool) -> None:
        api_url = await self.fake.start(HOST)
        smtp_port = await self.catcher.start(HOST)
        settings = sandbox_settings(
            base,
            database_url=f"sqlite+aiosqlite:///{db_file}",
            api_url=api_url,
            smtp_port=smtp_port,
            port=port,
        )
        self.fake.subscribe(self._on_fake_event)
        self.catcher.subscribe(self._on_mail)
        # The staff member has opened the bot before, so the bot may write to them.
        staff = self.fake.add_user(
            STAFF_ID, STAFF_NAME, language_code="en", username="sam_staff", started=True
        )
        self.customers[STAFF_ID] = Customer(staff, "sam@staff.sandbox.test", staff=True)
        self.container = build_container(settings, clock=self.clock)
        if not self.container.catalog.chats:
            # A catalog without chats still shows membership access in the sandbox: a demo
            # channel and group (in the sandbox only), opened by every plan.
            self.container.catalog = with_demo_chats(self.container.catalog)
        # Membership access: the catalog's chats exist in the sandbox's Telegram, owned by
        # the staff member, with the bot an administrator that may invite and ban.
        for chat in self.container.catalog.chats:
            kind = "channel" if chat.kind is ChatKind.CHANNEL else "supergroup"
            group = add_group(self.fake.state, chat.chat_id, chat.name["en"], kind=kind)
            group.statuses[STAFF_ID] = "creator"
        await upgrade_engine(self.container.engine)
        await self._restore_customers()
        await self._seed_promo_code()
        # The page's routes go on the bot's own web server, next to the product's.
        self.runtime = Runtime(self.container, SANDBOX_TOKEN, routes=[self._install_page])
        # handle_as_tasks=False: an action on the page returns once the bot has answered it.
        await self.runtime.start(scheduler=scheduler, handle_as_tasks=False)
        await self.fake.wait_until_polled()
        self.url = f"http://{HOST}:{self.runtime.web_port}/"

    async def _seed_promo_code(self) -> None:
        """WELCOME20, 20% off the next payment for any plan, made by Sam (once per database)."""
        assert self.container is not None
        codes = promos(self.container)
        if not any(c.spec.code == SANDBOX_PROMO_CODE for c in await codes.listing()):
            await codes.create(staff_id=STAFF_ID, text=SANDBOX_PROMO)

    def club_json(self) -> list[dict[str, Any]]:
        """The catalog's chats as the page shows them: who is inside, and the posts."""
        if self.container is None:
            return []
        present = ("member", "administrator", "creator", "restricted")
        out = []
        for chat in self.container.catalog.chats:
            group = groups(self.fake.state).get(chat.chat_id)
            if group is None:
                continue
            out.append(
                {
                    "id": chat.chat_id,
                    "title": group.title,
                    "kind": chat.kind.value,
                    "members": [uid for uid, s in group.statuses.items() if s in present],
                    "posts": list(DEMO_POSTS[chat.kind]),
                }
            )
        return out

    async def stop(self) -> None:
        self.hub.close()
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None
        elif self.container is not None:
            await self.container.close()
        await self.catcher.stop()
        await self.fake.stop()
        if self._temp_dir is not None:
            self._temp_dir.cleanup()
            self._temp_dir = None

    def _install_page(self, app: web.Application, container: Container) -> None:
        SandboxApi(self).install(app)

        async def console_as_sam(request: web.Request) -> web.Response:
            return await console.signed_in(container, STAFF_ID)

        # The owner console, signed in as Sam at once (the sandbox's staff persona).
        app.router.add_get("/sandbox/console", console_as_sam)

    @property
    def settings(self) -> Settings:
        assert self.container is not None
        return self.container.settings

    @property
    def business_name(self) -> str:
        return self.container.catalog.business_name if self.container else ""

    @property
    def chat(self) -> BotChatPort:
        """The running bot's chat port: what the clock's work hands chat messages over to."""
        assert self.runtime is not None
        return self.runtime.chat

    # -- customers -------------------------------------------------------------------------

    def add_customer(self, name: str, language: str) -> Customer:
        user_id = self._next_id
        self._next_id += 1
        slug = "".join(c for c in name.lower() if c.isascii() and c.isalnum()) or "customer"
        user = self.fake.add_user(user_id, name, language_code=language or None)
        customer = Customer(user, f"{slug}.{user_id}@example.com")
        self.customers[user_id] = customer
        self.hub.publish({"type": "customer", "customer": customer.to_json()})
        return customer

    async def _restore_customers(self) -> None:
        """With --db, bring back the customers of earlier runs (their chats start empty):
        scheduled messages can reach them, and new customers get new ids."""
        assert self.container is not None
        async with self.container.sessions() as session:
            rows = (
                await session.execute(
                    select(Person.telegram_id, Person.first_name, Person.language)
                    .where(Person.telegram_id.is_not(None), Person.erased_at.is_(None))
                    .order_by(Person.telegram_id)
                )
            ).all()
        for telegram_id, first_name, language in rows:
            if telegram_id is None:  # excluded by the query; here for the type checker
                continue
            if telegram_id in self.customers or telegram_id == self.fake.state.bot_user["id"]:
                continue
            user = self.fake.add_user(
                telegram_id, first_name or "Customer", language_code=language, started=True
            )
            self.customers[telegram_id] = Customer(user, f"customer.{telegram_id}@example.com")
            self._next_id = max(self._next_id, telegram_id + 1)

    def customer(self, user_id: int) -> Customer:
        customer = self.customers.get(user_id)
        if customer is None:
            raise LookupError(f"no customer with id {user_id}")
        return customer

    def chat_json(self, user_id: int) -> dict[str, Any]:
        customer = self.customer(user_id)
        return {
            "customer": customer.to_json(),
            "messages": [message_view(m) for m in customer.user.history if not m.deleted],
        }

    # -- actions (each returns after the bot has handled it) -------------------------------

    async def send_text(self, user_id: int, text: str) -> None:
        await self.customer(user_id).user.send_text(text)
        await self.hand_over()

    async def start_bot(self, user_id: int, payload: str | None = None) -> None:
        await self.customer(user_id).user.start(payload)
        await self.hand_over()

    async def press(self, user_id: int, message_id: int, row: int, column: int) -> dict[str, Any]:
        user = self.customer(user_id).user
        message = user.chat.messages.get(message_id)
        if message is None or message.deleted or not message.from_bot:
            raise SandboxError("that message is no longer in the chat")
        try:
            button = message.inline_keyboard[row][column]
        except IndexError:
            raise SandboxError("that button is no longer there") from None
        if "callback_data" in button:
            answer = await user.press(button["callback_data"], message=message)
            await self.hand_over()
            text = getattr(answer, "text", None)
            alert = bool(getattr(answer, "show_alert", False))
            return {"answer": text, "alert": alert}
        if button.get("pay") or _is_invoice_link(button.get("url")):
            return await self._pay(user, message if button.get("pay") else button["url"])
        url = button.get("url") or ""
        if url.startswith(INVITE_LINK_PREFIX):
            return await self._join(user, url)
        raise SandboxError("this button opens a link; the page opens it for you")

    async def _join(self, user: FakeUser, link: str) -> dict[str, Any]:
        """An invite to one of the catalog's chats: the join request is answered by the bot."""
        try:
            await join(self.fake, user.id, link)
        except JoinRefused as exc:
            raise SandboxError(str(exc)) from None
        await self.hand_over()
        for group in groups(self.fake.state).values():
            if link in group.links:
                # The answer may be with the outbox worker already: wait for it, briefly.
                for _ in range(JOIN_ANSWER_POLLS):
                    if user.id not in group.requests:
                        break
                    await asyncio.sleep(0.05)
                inside = group.status(user.id) in ("member", "administrator", "creator")
                verb = "joined" if inside else "was not let into"
                return {"answer": f"{user.first_name} {verb} {group.title}", "alert": False}
        return {"answer": None, "alert": False}

    async def pay(
        self, user_id: int, *, message_id: int | None, link: str | None
    ) -> dict[str, Any]:
        user = self.customer(user_id).user
        if link is not None:
            if not _is_invoice_link(link):
                raise SandboxError("not a Telegram invoice link (https://t.me/$...)")
            return await self._pay(user, link)
        message = user.chat.messages.get(message_id or 0)
        if message is None or message.invoice is None:
            raise SandboxError("no invoice with that id in this chat")
        return await self._pay(user, message)

    async def _pay(self, user: FakeUser, invoice: FakeMessage | str) -> dict[str, Any]:
        try:
            result = await user.pay(invoice)
        except LookupError as exc:
            raise SandboxError(str(exc)) from None
        await self.hand_over()
        return {"paid": result.accepted, "error": result.error_message}

    # -- what happens outside the chat (usage, a failed renewal, a block) -----------------

    async def feed_usage(self, user_id: int, amount: int) -> dict[str, Any]:
        """What `bot.py usage` does (the business feeds the counter), then the due work, so
        a usage-based upgrade prompt shows at once (unless it is night for the customer)."""
        self.customer(user_id)
        if not 1 <= amount <= MAX_USAGE:
            raise SandboxError(f"feed between 1 and {MAX_USAGE} at a time")
        assert self.container is not None
        record_usage = customer_wiring.build(self.container).record_usage
        value = await record_usage(user_id, amount)
        if value is None:
            raise SandboxError("this customer has not opened the bot yet: press /start first")
        async with self._clock_lock:
            work = await self.run_due_work()
        return {"usage": value, "work": work}

    async def spend_credits(self, user_id: int, amount: int) -> dict[str, Any]:
        """What `POST /api/usage` and `bot.py usage --credits` do (the same ledger call, a new
        request id each time), then hand over what it queued: the low-balance notice."""
        self.customer(user_id)
        assert self.container is not None
        self._spends += 1
        request_id = f"sandbox-{user_id}-{self.clock.now().timestamp():.0f}-{self._spends}"
        try:
            result = await credit_ledger(self.container).use(user_id, amount, request_id)
        except ValueError as exc:
            raise SandboxError(str(exc)) from None
        if result.outcome is Outcome.UNKNOWN_PERSON:
            raise SandboxError("this customer has not opened the bot yet: press /start first")
        if result.outcome is Outcome.INSUFFICIENT:
            raise SandboxError(
                f"not enough credits: {result.balance} left; buy a pack in /shop first"
            )
        await self.hand_over()
        return {"balance": result.balance}

    async def fail_renewal(self, user_id: int, *, now: bool) -> dict[str, Any]:
        """The customer's Stars balance runs dry: Telegram's renewal of their subscription
        fails, and the bot gets a `subscription` update with state "failed". `now`: as if the
        renewal were due now; else their next renewal (when the clock reaches it) fails."""
        self.customer(user_id)
        subscription = self._renewing_subscription(user_id)
        if subscription is None:
            raise SandboxError("this customer has no Stars subscription that renews")
        if not now:
            self._failing_renewals.add(subscription.charge_ids[0])
            return {"failing": True, "at": subscription.expires_at}
        await self._fail(subscription)
        async with self._clock_lock:
            work = await self.run_due_work()
        return {"failed": True, "work": work}

    def set_blocked(self, user_id: int, blocked: bool) -> dict[str, Any]:
        """The customer blocks (or unblocks) the bot in Telegram: sends to them get 403 and
        the bot marks them when it next tries; writing to the bot again unblocks."""
        customer = self.customer(user_id)
        if customer.staff:
            raise SandboxError("the staff member keeps the bot open")
        if blocked:
            self.fake.block(user_id)
        else:
            self.fake.unblock(user_id)
        self.hub.publish({"type": "customer", "customer": customer.to_json()})
        return customer.to_json()

    def set_star_balance(self, amount: int) -> dict[str, Any]:
        """The bot's Telegram Stars (getMyStarBalance): what paid broadcasts spend."""
        self.fake.set_star_balance(amount)
        whole, nanos = self.fake.star_balance
        return {"amount": whole, "nanostar_amount": nanos}

    def _renewing_subscription(self, user_id: int) -> Subscription | None:
        found = [s for s in self.fake.state.subscriptions if s.user_id == user_id and s.active]
        return max(found, key=lambda s: s.expires_at) if found else None

    async def _fail(self, subscription: Subscription) -> None:
        self._failing_renewals.discard(subscription.charge_ids[0])
        subscription.canceled_by_user = True  # Telegram stops the subscription: no charges
        await self.fake.send_subscription_update(
            subscription.user_id, subscription.invoice.payload, "failed"
        )
        await self.hand_over()

    # -- the clock -------------------------------------------------------------------------

    async def advance(self, delta: timedelta) -> dict[str, Any]:
        if delta <= timedelta(0):
            raise SandboxError("move the clock forward by a positive amount")
        if delta > MAX_CLOCK_MOVE:
            raise SandboxError(f"move at most {MAX_CLOCK_MOVE.days} days at a time")
        async with self._clock_lock:
            # Counted on the offset, so "+1 day" is exactly a day however long the work takes.
            target = self.clock.offset + delta
            step = LONG_STEP if delta > LONG_MOVE else SHORT_STEP
            totals: dict[str, int] = {}
            while (remaining := target - self.clock.offset) > timedelta(0):
                self.clock.advance(min(step, remaining))
                await self._renew_due_subscriptions()
                results = await self.run_due_work()
                for name, count in results.items():
                    totals[name] = totals.get(name, 0) + max(count, 0)
                # The page's clock runs forward as the work is done.
                self.hub.publish(self.clock_json())
        return {**self.clock_json(), "work": totals}

    def clock_json(self) -> dict[str, Any]:
        return {
            "type": "clock",
            "now": self.clock.now().isoformat(),
            "offset_seconds": int(self.clock.offset.total_seconds()),
        }

    async def jump_to(self, instant: datetime) -> dict[str, Any]:
        delta = self.clock.until(instant)
        if delta <= timedelta(0):
            raise SandboxError("that moment has passed: the clock only moves forward")
        return await self.advance(delta)

    async def hand_over(self) -> None:
        """Send what the last action queued (a confirmation email, say) at once, so it is in
        the inbox when the page hears back, instead of at the outbox worker's next round."""
        assert self.container is not None and self.runtime is not None
        if self.runtime.outbox is not None:
            # The commit that queued it may have woken the delivery worker already.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HAND_OVER_SECONDS):
                    await self.runtime.outbox.loop.settled()
        await drain_outbox(self.container, self.runtime.chat)

    async def run_due_work(self) -> dict[str, int]:
        assert self.container is not None and self.runtime is not None
        return await run_due_work(self.container, self.clock.now(), self.runtime.chat)

    async def _renew_due_subscriptions(self) -> None:
        """Telegram charges a Stars subscription when its period ends, unless cancelled."""
        now = self.clock.now().timestamp()
        for subscription in list(self.fake.state.subscriptions):
            if subscription.active and subscription.expires_at <= now:
                if subscription.charge_ids[0] in self._failing_renewals:
                    await self._fail(subscription)  # the page made this renewal fail
                    continue
                try:
                    await self.fake.renew_subscription(
                        subscription.user_id, subscription.charge_ids[0]
                    )
                except Exception:
                    log.exception("sandbox: renewing a Stars subscription failed")
                    subscription.canceled_by_user = True  # don't retry every step

    # -- events to the page ----------------------------------------------------------------

    def _on_fake_event(self, event: FakeEvent) -> None:
        if event.kind in _CHAT_KINDS and event.message is not None:
            self.hub.publish(
                {
                    "type": "message",
                    "chat_id": event.chat_id,
                    "message": message_view(event.message),
                }
            )
        elif event.kind == "chat_action":
            self.hub.publish({"type": "typing", "chat_id": event.chat_id})

    async def _on_mail(self, mail: CaughtMail) -> None:
        mail.customer_id = await self._customer_for(mail.rcpt_tos)
        self.hub.publish({"type": "mail", "mail": mail_summary(mail)})

    async def _customer_for(self, addresses: list[str]) -> int | None:
        wanted = {a.lower() for a in addresses}
        for customer in self.customers.values():
            if customer.email.lower() in wanted:
                return customer.id
        if self.container is None:
            return None
        async with self.container.sessions() as session:
            found = await session.scalar(
                select(Person.telegram_id)
                .where(func.lower(Person.email).in_(sorted(wanted)))
                .limit(1)
            )
        return int(found) if found is not None else None


def _prepare_db_file(path: Path) -> Path:
    path = path.expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _is_invoice_link(url: object) -> bool:
    return isinstance(url, str) and url.startswith("https://t.me/$")
