"""The suppression list, as the use cases see it: addresses never to mail again (hard
bounces, unsubscribes, erasure). Stored by db/repositories/suppressions.py."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

REASONS = ("bounced", "unsubscribed", "erased")


class Suppressions(Protocol):
    async def suppress(self, address: str, reason: str, now: datetime) -> bool:
        """Add the address; False when it was already there. Does not commit."""
        ...

    async def among(self, addresses: Iterable[str]) -> set[str]:
        """The addresses (as given) that are on the list."""
        ...
