"""Figures for a running job's progress line: share done, a text bar, rate and time left."""

from __future__ import annotations

from dataclasses import dataclass

FULL, EMPTY = "█", "░"


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    rate: float  # per second, over the time this run has been sending
    seconds_left: int | None  # None while the rate is unknown

    @property
    def percent(self) -> int:
        return 100 if self.total <= 0 else min(100, self.done * 100 // self.total)

    def bar(self, width: int = 12) -> str:
        filled = width if self.total <= 0 else min(width, self.done * width // self.total)
        return FULL * filled + EMPTY * (width - filled)


def progress(done: int, total: int, sent_this_run: int, elapsed: float) -> Progress:
    rate = sent_this_run / elapsed if elapsed > 0 and sent_this_run > 0 else 0.0
    left = max(total - done, 0)
    seconds_left = round(left / rate) if rate > 0 else (0 if left == 0 else None)
    return Progress(done=done, total=total, rate=rate, seconds_left=seconds_left)


def duration_text(seconds: float) -> str:
    """Compact duration: 45s, 3m 05s, 1h 02m."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
