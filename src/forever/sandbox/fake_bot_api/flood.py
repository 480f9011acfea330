"""Flood control (Telegram's 429s) and on-demand fault injection."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import ApiError, too_many_requests

Clock = Callable[[], float]

_WINDOW = 1.0  # seconds
# Telegram's published limit for one bot: about 30 messages per second, whatever they are.
TELEGRAM_MESSAGES_PER_SECOND = 30
PAID_PER_SECOND = 1000  # Telegram's limit for messages sent with allow_paid_broadcast


class FloodControl:
    """Sliding one-second windows: one global, and optionally one per chat.

    Only outgoing messages count (sendMessage, copyMessage, sendPhoto, ...), as the limits
    Telegram publishes are about messages: ~30 per second overall and about one per second
    per chat. Refused attempts do not count towards the window.

    Paid messages (allow_paid_broadcast) ignore the global broadcasting limit and count
    against their own one instead: 1000 per second, as Telegram documents.
    """

    def __init__(
        self,
        clock: Clock,
        max_per_second: int | None = None,
        max_per_chat_per_second: int | None = None,
        max_paid_per_second: int | None = PAID_PER_SECOND,
    ) -> None:
        self.clock = clock
        self.max_per_second = max_per_second
        self.max_per_chat_per_second = max_per_chat_per_second
        self.max_paid_per_second = max_paid_per_second
        self._global: deque[float] = deque()
        self._paid: deque[float] = deque()
        self._per_chat: dict[int, deque[float]] = {}

    def check(self, chat_id: int | None, *, paid: bool = False) -> None:
        """Raise ApiError 429 if one more message now would exceed a limit, else count it."""
        now = self.clock()
        windows: list[tuple[deque[float], int]] = []
        if paid:
            if self.max_paid_per_second is not None:
                windows.append((self._paid, self.max_paid_per_second))
        elif self.max_per_second is not None:
            windows.append((self._global, self.max_per_second))
        if self.max_per_chat_per_second is not None and chat_id is not None:
            windows.append(
                (self._per_chat.setdefault(chat_id, deque()), self.max_per_chat_per_second)
            )
        for window, limit in windows:
            while window and window[0] <= now - _WINDOW:
                window.popleft()
            if len(window) >= limit:
                wait = window[0] + _WINDOW - now
                raise too_many_requests(max(1, math.ceil(wait)))
        for window, _limit in windows:
            window.append(now)


@dataclass(frozen=True, slots=True)
class EarlyRetry:
    """A call that came back before the `retry_after` of the 429 its caller was given."""

    method: str
    caller: str  # "chat <id>" or, for a call without a chat, its method
    early_by: float  # seconds
    # seconds since the 429 was answered: a call that arrives within a few milliseconds was
    # already on its way (sent concurrently) before its caller could read the 429
    after: float = 0.0


class RetryAfterWatch:
    """Remembers every 429 answered (flood control or injected) and flags a caller that comes
    back before its `retry_after` elapsed. The caller is the chat a call is about (a bot that
    obeys retries the refused message no sooner), or the method for calls without a chat."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.told = 0  # 429s answered
        self.early: list[EarlyRetry] = []
        self._until: dict[str, float] = {}
        self._told_at: dict[str, float] = {}

    @staticmethod
    def caller(method: str, chat_id: object) -> str:
        if isinstance(chat_id, int) or (isinstance(chat_id, str) and chat_id.lstrip("-").isdigit()):
            return f"chat {int(chat_id)}"
        return method.lower()

    def check(self, method: str, chat_id: object) -> None:
        """Record an early retry if this caller was told to wait and has not."""
        who = self.caller(method, chat_id)
        until = self._until.get(who)
        if until is None:
            return
        now = self.clock()
        if now < until:
            told_at = self._told_at.get(who, now)
            self.early.append(EarlyRetry(method, who, until - now, now - told_at))
        else:
            del self._until[who]
            self._told_at.pop(who, None)

    def told_to_wait(self, method: str, chat_id: object, retry_after: float) -> None:
        self.told += 1
        who = self.caller(method, chat_id)
        self._until[who] = max(self._until.get(who, 0.0), self.clock() + retry_after)
        self._told_at[who] = self.clock()


@dataclass
class InjectedFault:
    status: int
    remaining: int
    retry_after: int
    methods: frozenset[str] | None  # lower-cased method names; None = any but update delivery

    def to_error(self) -> ApiError:
        if self.status == 429:
            return too_many_requests(self.retry_after)
        reasons = {500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}
        return ApiError(self.status, reasons.get(self.status, "Internal Server Error"))


# Methods a fault never hits unless named explicitly: breaking update delivery would stall the
# bot's polling loop instead of exercising its error handling.
_DELIVERY_METHODS = frozenset({"getupdates", "setwebhook", "deletewebhook", "getwebhookinfo"})


class FaultInjector:
    def __init__(self) -> None:
        self._faults: list[InjectedFault] = []

    def add(
        self,
        status: int,
        count: int,
        *,
        retry_after: int = 1,
        methods: Iterable[str] | None = None,
    ) -> None:
        names = frozenset(m.lower() for m in methods) if methods is not None else None
        self._faults.append(InjectedFault(status, count, retry_after, names))

    def take(self, method: str) -> ApiError | None:
        """Consume one matching fault for this call, if any."""
        name = method.lower()
        for fault in self._faults:
            if fault.remaining <= 0:
                continue
            if fault.methods is None and name in _DELIVERY_METHODS:
                continue
            if fault.methods is not None and name not in fault.methods:
                continue
            fault.remaining -= 1
            return fault.to_error()
        return None

    @property
    def pending(self) -> int:
        return sum(f.remaining for f in self._faults)

    def clear(self) -> None:
        self._faults.clear()
