"""Who a broadcast goes to: a segment is a kind plus, for some kinds, a value.

Kept as plain data (stored as JSON on the broadcast) so the picker, the count and the
delivery job agree on one definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SegmentKind(StrEnum):
    ALL = "all"  # everyone who has not blocked the bot
    TRIAL = "trial"  # in a trial now
    PAYING = "paying"  # a paid monthly or yearly membership with access now
    PLAN = "plan"  # access now on one plan (value: plan id)
    CANCELLED = "cancelled"  # cancelled by the person (access may still run)
    LAPSED = "lapsed"  # access ended without a cancellation (trial over, payment failed)
    PAUSED = "paused"  # paused now
    LANGUAGE = "language"  # speaks one locale (value: one of domain.locales.LOCALES)


NEEDS_VALUE = frozenset({SegmentKind.PLAN, SegmentKind.LANGUAGE})


class SegmentError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Segment:
    kind: SegmentKind
    value: str | None = None

    def to_json(self) -> dict[str, str]:
        data = {"kind": self.kind.value}
        if self.value is not None:
            data["value"] = self.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Segment:
        return parse_segment(str(data.get("kind", "")), _opt_str(data.get("value")))


def parse_segment(
    kind: str,
    value: str | None = None,
    *,
    plans: frozenset[str] | None = None,
    locales: frozenset[str] | None = None,
) -> Segment:
    """A checked segment; `plans`/`locales`, when given, limit the allowed values."""
    try:
        segment_kind = SegmentKind(kind)
    except ValueError:
        raise SegmentError(f"unknown segment {kind!r}") from None
    if segment_kind in NEEDS_VALUE:
        if not value:
            raise SegmentError(f"segment {kind} needs a value")
        allowed = plans if segment_kind is SegmentKind.PLAN else locales
        if allowed is not None and value not in allowed:
            raise SegmentError(f"unknown {kind} {value!r}")
        return Segment(segment_kind, value)
    if value:
        raise SegmentError(f"segment {kind} takes no value")
    return Segment(segment_kind)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
