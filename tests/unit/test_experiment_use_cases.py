"""The cancel-offer surface under an experiment, on the fakes: the person's arm decides the offer
(the holdout gets none), the arm is recorded once with its exposure event, what was shown is
what can be accepted, and staff's stop and promote take effect, with the audit log."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from forever.domain.account import Status
from forever.domain.catalog import CancelReason, Catalog, parse_catalog
from forever.domain.events import EventKind
from forever.domain.experiment_stats import Decision
from forever.domain.experiments import HOLDOUT, ExperimentStatus, assign
from forever.domain.signing import EXPERIMENT_KEY_PURPOSE, derive_key
from forever.services.experiment_results import ChangeRefused, ExperimentDesk
from forever.services.experiments import EXPOSED, ExperimentChooser
from forever.services.retention import Retention
from tests.fakes.experiments import FakeExperimentStore
from tests.fakes.lifecycle import CATALOG_PATH, LifecycleWorld
from tests.fakes.staff import FakeAuditLog

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
END = NOW + timedelta(days=20)
KEY = derive_key("k" * 32, EXPERIMENT_KEY_PURPOSE)
STAFF = 777

RUNNING = CATALOG_PATH.read_text(encoding="utf-8").replace(
    'status = "stopped"', 'status = "running"'
)
OFFERS = {"discount": "discount_30", "lower_tier": "lower_tier", HOLDOUT: None}


class ExperimentWorld(LifecycleWorld):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.store_x = FakeExperimentStore(self.store)
        self.chooser = ExperimentChooser(self.store_x, self.events, self.catalog, KEY)
        self.retention = Retention(
            uow=self.uow,
            people=self.people,
            subscriptions=self.subscriptions,
            events=self.events,
            outbox=self.outbox,
            reads=self.reads,
            records=self.records,
            catalog=self.catalog,
            clock=self.clock,
            kick=self.kick,
            experiments=self.chooser,
        )
        self.audit = FakeAuditLog(self.store)
        self.desk = ExperimentDesk(self.uow, self.store_x, self.audit, self.catalog, self.clock)

    def paying(self, telegram_id: int, **over: object) -> int:
        fields: dict[str, object] = dict(
            state="active",
            plan_id="plus",
            billing="monthly",
            period_end=END,
            auto_renew=True,
            star_charge_id=f"charge-{telegram_id}",
            star_payload=f"payload-{telegram_id}",
        )
        fields.update(over)
        return self.member(telegram_id, **fields)

    async def cancel_because(self, pid: int, reason: CancelReason) -> str | None:
        await self.retention.cancel(pid, expected_version=None)
        result = await self.retention.give_reason(pid, expected_version=None, reason=reason)
        assert result.status is Status.DONE
        return result.offer.id if result.offer else None


def _world(text: str = RUNNING) -> ExperimentWorld:
    catalog: Catalog = parse_catalog(text)
    return ExperimentWorld(NOW, catalog=catalog)


@pytest.fixture
def world() -> ExperimentWorld:
    return _world()


async def test_the_persons_arm_decides_the_offer_and_the_holdout_gets_none(
    world: ExperimentWorld,
) -> None:
    experiment = world.catalog.experiments[0]
    seen: Counter[str] = Counter()
    for n in range(60):
        pid = world.paying(1000 + n)
        offer = await world.cancel_because(pid, CancelReason.TOO_EXPENSIVE)
        arm = assign(KEY, experiment, pid)
        assert offer == OFFERS[arm.id]
        seen[arm.id] += 1
        # Recorded at the exposure, once, with its event.
        row = await world.store_x.assignment(experiment.id, pid)
        assert row is not None and row.variant_id == arm.id and row.exposed_at == NOW
        exposed = [e for e in world.store.events if e.person_id == pid and e.kind == EXPOSED]
        assert [e.data["variant"] for e in exposed] == [arm.id]
        shown = [e for e in world.store.events if e.person_id == pid and e.kind == "offer_shown"]
        assert [e.data.get("variant") for e in shown] == ([arm.id] if offer else [])
    assert set(seen) == {HOLDOUT, "discount", "lower_tier"}


async def test_what_was_shown_is_what_can_be_accepted(world: ExperimentWorld) -> None:
    experiment = world.catalog.experiments[0]
    by_arm: dict[str, int] = {}
    n = 0
    while len(by_arm) < 3:
        pid = world.paying(2000 + n)
        by_arm.setdefault(assign(KEY, experiment, pid).id, pid)
        n += 1
    discount, lower = by_arm["discount"], by_arm["lower_tier"]
    for pid in (discount, lower):
        await world.cancel_because(pid, CancelReason.TOO_EXPENSIVE)
    taken = await world.retention.accept_offer(
        discount, expected_version=None, offer_id="discount_30"
    )
    assert taken.result.status is Status.DONE
    # The lower-tier arm was not shown the discount: a forged tap changes nothing.
    forged = await world.retention.accept_offer(
        lower, expected_version=None, offer_id="discount_30"
    )
    assert forged.result.status is Status.STALE
    ok = await world.retention.accept_offer(lower, expected_version=None, offer_id="lower_tier")
    assert ok.result.status is Status.DONE and ok.lower_plan_id == "basic"


async def test_outside_the_audience_or_not_eligible_keeps_the_default(
    world: ExperimentWorld,
) -> None:
    pid = world.paying(3000)
    assert await world.cancel_because(pid, CancelReason.NOT_USING) == "pause_month"
    # A trial canceller could not get a discount: not exposed, the catalog's offer applies.
    trial = world.member(3001, state="trial", plan_id="plus", billing="trial", period_end=END)
    assert await world.cancel_because(trial, CancelReason.TOO_EXPENSIVE) == "lower_tier"
    assert world.store_x.rows == {}
    assert EXPOSED not in world.events.kinds()


async def test_a_stopped_experiment_gives_everyone_the_default(world: ExperimentWorld) -> None:
    await world.desk.stop("too_expensive_offer", staff_id=STAFF)
    for n in range(10):
        pid = world.paying(4000 + n)
        assert await world.cancel_because(pid, CancelReason.TOO_EXPENSIVE) == "discount_30"
    assert world.store_x.rows == {}
    assert world.audit.actions() == ["experiment_stop"]


async def test_a_promoted_arm_becomes_everyones_offer(world: ExperimentWorld) -> None:
    result = await world.desk.promote("too_expensive_offer", "lower_tier", staff_id=STAFF)
    assert result.status is ExperimentStatus.CONCLUDED and result.promoted == "lower_tier"
    for n in range(10):
        pid = world.paying(5000 + n)
        assert await world.cancel_because(pid, CancelReason.TOO_EXPENSIVE) == "lower_tier"
    assert world.store_x.rows == {}  # nobody is assigned any more
    entry = world.audit.entries()[-1]
    assert entry.action == "experiment_promote" and entry.arguments["variant"] == "lower_tier"
    with pytest.raises(ChangeRefused, match="already_concluded"):
        await world.desk.stop("too_expensive_offer", staff_id=STAFF)
    with pytest.raises(ChangeRefused, match="unknown_variant"):
        await world.desk.promote("too_expensive_offer", "free_money", staff_id=STAFF)


async def test_the_recorded_arm_wins_over_new_weights(world: ExperimentWorld) -> None:
    experiment = world.catalog.experiments[0]
    # The business changes the weights later; find someone the new weights would move.
    reweighted = parse_catalog(
        RUNNING.replace('offer = "discount_30", weight = 1', 'offer = "discount_30", weight = 50')
    )
    n = 0
    while True:
        pid = world.paying(6000 + n)
        n += 1
        if assign(KEY, experiment, pid).id != assign(KEY, reweighted.experiments[0], pid).id:
            break
    await world.cancel_because(pid, CancelReason.TOO_EXPENSIVE)
    later = ExperimentChooser(world.store_x, world.events, reweighted, KEY)
    async with world.uow.begin():
        chosen = await later.choose(
            experiment.surface, pid, now=NOW, reason="too_expensive", plan="plus", language="en"
        )
        await world.uow.commit()
    assert chosen is not None and chosen.variant.id == assign(KEY, experiment, pid).id
    assert world.events.kinds(pid).count(EXPOSED) == 1


async def test_results_count_who_kept_paying_30_days_later(world: ExperimentWorld) -> None:
    experiment = world.catalog.experiments[0]
    people = []
    for n in range(30):
        pid = world.paying(7000 + n)
        await world.cancel_because(pid, CancelReason.TOO_EXPENSIVE)
        people.append(pid)
    # Everyone offered a discount takes it and pays; nobody else stays.
    for pid in people:
        if assign(KEY, experiment, pid).id == "discount":
            await world.retention.accept_offer(pid, expected_version=None, offer_id="discount_30")
            world.events.record(EventKind.PAYMENT, NOW + timedelta(days=20), pid, amount=210)
        else:
            world.events.record(EventKind.ACCESS_ENDED, NOW + timedelta(days=20), pid)
    early = await world.desk.results(experiment.id, staff_id=STAFF)
    assert early is not None and all(a.measured == 0 for a in early.verdict.arms)
    world.clock.advance(timedelta(days=31))
    result = await world.desk.results(experiment.id, staff_id=STAFF)
    assert result is not None
    arms = {a.id: a for a in result.verdict.arms}
    counts = Counter(assign(KEY, experiment, p).id for p in people)
    assert arms["discount"].converted == arms["discount"].measured == counts["discount"]
    assert arms["lower_tier"].converted == 0 and arms[HOLDOUT].converted == 0
    assert sum(a.exposed for a in arms.values()) == 30
    # Too few people for a call.
    assert result.verdict.decision is Decision.RUNNING and result.verdict.note == "min_sample"
    assert world.audit.actions() == ["experiment_results", "experiment_results"]
