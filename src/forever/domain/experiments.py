"""Offer and price experiments: what one is, who it applies to, and which variant a person gets.

A person's variant is a keyed hash of the experiment id and the person id (HMAC-SHA256 with a
key derived from SECRET_KEY), so it is the same in every process, after every restart, in chat
and in email, without asking the database. The database records it at first exposure all the
same, so a later change of weights never moves someone who has already seen a variant.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

HOLDOUT = "holdout"  # the id of the implicit variant that gets nothing (today's default)


class Surface(StrEnum):
    CANCEL_OFFER = "cancel_offer"  # the offer after a cancel reason
    WINBACK_OFFER = "winback_offer"  # the offer a win-back link carries (email and chat)
    TRIAL_LENGTH = "trial_length"  # the trial's days
    PLAN_PRICE = "plan_price"  # a plan's monthly and/or yearly price in Stars
    UPGRADE_PROMPT = "upgrade_prompt"  # the text of the upgrade prompt


class ExperimentStatus(StrEnum):
    RUNNING = "running"  # people are assigned and see their variant
    STOPPED = "stopped"  # nobody is assigned; everyone gets today's default
    CONCLUDED = "concluded"  # over; a promoted winner (if any) is everyone's default


@dataclass(frozen=True, slots=True)
class Audience:
    """Who an experiment applies to. An empty set means anyone."""

    reasons: frozenset[str] = frozenset()
    plans: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()

    def matches(
        self, *, reason: str | None = None, plan: str | None = None, language: str | None = None
    ) -> bool:
        return _in(self.reasons, reason) and _in(self.plans, plan) and _in(self.languages, language)

    def overlaps(self, other: Audience) -> bool:
        """Whether some person could belong to both audiences."""
        return (
            _meet(self.reasons, other.reasons)
            and _meet(self.plans, other.plans)
            and _meet(self.languages, other.languages)
        )


def _in(allowed: frozenset[str], value: str | None) -> bool:
    return not allowed or value in allowed


def _meet(a: frozenset[str], b: frozenset[str]) -> bool:
    return not a or not b or bool(a & b)


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm. One payload field is set, by surface (a price arm may set both prices; the
    holdout sets none)."""

    id: str
    weight: int = 1
    offer: str | None = None  # cancel_offer, winback_offer: an offer id ("none": no offer)
    trial_days: int | None = None  # trial_length
    monthly_stars: int | None = None  # plan_price (one or both of these two)
    yearly_stars: int | None = None  # plan_price: the yearly price (None: the catalog's)
    prompt: dict[str, str] | None = None  # upgrade_prompt: a text per locale
    holdout: bool = False


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    surface: Surface
    variants: tuple[Variant, ...]  # the tested arms, without the holdout
    holdout_share: float = 0.0  # this share of the audience gets today's default
    audience: Audience = field(default_factory=Audience)
    status: ExperimentStatus = ExperimentStatus.RUNNING

    @property
    def holdout(self) -> Variant:
        return Variant(HOLDOUT, weight=0, holdout=True)

    def arms(self) -> tuple[Variant, ...]:
        """Every arm a person can be in: the holdout first when there is one."""
        return ((self.holdout,) if self.holdout_share > 0 else ()) + self.variants

    def variant(self, variant_id: str) -> Variant | None:
        return next((v for v in self.arms() if v.id == variant_id), None)


def bucket(key: bytes, experiment_id: str, person_id: int) -> float:
    """A number in [0, 1) fixed by the key, the experiment and the person."""
    if not key:
        raise ValueError("a key is required")
    message = experiment_id.encode("utf-8") + b"\x00" + str(person_id).encode("ascii")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(key: bytes, experiment: Experiment, person_id: int) -> Variant:
    """The person's arm: the holdout for the first `holdout_share` of buckets, then the
    variants in proportion to their weights."""
    u = bucket(key, experiment.id, person_id)
    if u < experiment.holdout_share:
        return experiment.holdout
    # Rescale what is left to [0, 1) so the weights split the non-holdout share exactly.
    rest = (u - experiment.holdout_share) / (1.0 - experiment.holdout_share)
    total = sum(v.weight for v in experiment.variants)
    point = rest * total
    edge = 0.0
    for variant in experiment.variants:
        edge += variant.weight
        if point < edge:
            return variant
    return experiment.variants[-1]


def running_for(
    experiments: Iterable[Experiment],
    surface: Surface,
    *,
    reason: str | None = None,
    plan: str | None = None,
    language: str | None = None,
    statuses: dict[str, ExperimentStatus] | None = None,
) -> Experiment | None:
    """The running experiment on this surface whose audience holds the person (the catalog
    forbids two overlapping ones, so there is at most one). `statuses` are staff's overrides."""
    for experiment in experiments:
        status = (statuses or {}).get(experiment.id, experiment.status)
        if (
            experiment.surface is surface
            and status is ExperimentStatus.RUNNING
            and experiment.audience.matches(reason=reason, plan=plan, language=language)
        ):
            return experiment
    return None


def overlapping(experiments: Iterable[Experiment]) -> tuple[Experiment, Experiment] | None:
    """The first pair of running experiments on one surface whose audiences overlap."""
    seen: list[Experiment] = []
    for experiment in experiments:
        if experiment.status is not ExperimentStatus.RUNNING:
            continue
        for earlier in seen:
            if earlier.surface is experiment.surface and earlier.audience.overlaps(
                experiment.audience
            ):
                return earlier, experiment
        seen.append(experiment)
    return None
