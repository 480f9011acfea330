"""Flood control (Telegram's 429s) and on-demand fault injection."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import ApiError, too_many_requests

Clock = Callable[[], float]

_WINDOW = 1.0  # seconds
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
