"""An upgrade_prompt experiment: the arm's text opens the prompt (escaped, in the person's
language), the holdout gets the usual prompt, and each person is exposed once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from forever.domain.catalog import parse_catalog
from forever.domain.experiments import HOLDOUT, assign
from forever.domain.signing import EXPERIMENT_KEY_PURPOSE, derive_key
from forever.rendering import Renderer
from forever.services.experiments import EXPOSED, ExperimentChooser
from forever.services.upgrades import QueueUpgradePrompts
from forever.telegram.labels import Labels
from forever.telegram.upgrade_prompts import upgrade_prompt_view
from forever.telegram.views import Views
from tests.conftest import ROOT
from tests.fakes.core import FakeEventLog, FakePeople, FakeStore, FakeSubscription, FakeUnitOfWork
from tests.fakes.email import FakeBulkOutbox, FakeUpgradeCandidates
from tests.fakes.experiments import FakeExperimentStore

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
KEY = derive_key("u" * 32, EXPERIMENT_KEY_PURPOSE)
CATALOG = parse_catalog(
    (ROOT / "catalog.toml").read_text(encoding="utf-8")
    + """
[[experiments]]
id = "upgrade_words"
surface = "upgrade_prompt"
holdout = 0.5
variants = [{ id = "coach", prompt = { en = "Your coach <says>: go Pro!", \
  ro = "Antrenorul spune: treci la Pro!", it = "Il coach dice: passa a Pro!" } }]
"""
)


async def test_the_arms_text_opens_the_prompt_and_the_holdout_gets_the_usual_one() -> None:
    store = FakeStore()
    people = FakePeople(store)
    for i in range(40):
        person = people.add(
            telegram_id=20_000 + i, first_name=f"M{i}", trial_used_at=NOW - timedelta(days=4)
        )
        store.subscriptions[person.id] = FakeSubscription(
            id=person.id, person_id=person.id, state="trial", plan_id="plus", billing="trial",
            period_end=NOW + timedelta(days=3),
        )  # fmt: skip
    events = FakeEventLog(store)
    chooser = ExperimentChooser(FakeExperimentStore(store), events, CATALOG, KEY)
    outbox = FakeBulkOutbox(store)
    sweep = QueueUpgradePrompts(
        uow=FakeUnitOfWork(store),
        candidates=FakeUpgradeCandidates(store),
        events=events,
        outbox=outbox,
        catalog=CATALOG,
        experiments=chooser,
    )
    assert await sweep(NOW) == 40
    render = upgrade_prompt_view(Views(Renderer(), Labels(), CATALOG))
    experiment = CATALOG.experiment("upgrade_words")
    assert experiment is not None
    arms: Counter[str] = Counter()
    for row in outbox.rows("chat"):
        arm = assign(KEY, experiment, row.person_id).id
        arms[arm] += 1
        text, _ = render("en", row.context)
        if arm == HOLDOUT:
            assert "prompt_texts" not in row.context
            assert text.startswith("You are halfway through your trial.")
        else:
            assert text.startswith("Your coach &lt;says&gt;: go Pro!\n\n")
            assert render("it", row.context)[0].startswith("Il coach dice: passa a Pro!")
    assert set(arms) == {HOLDOUT, "coach"}
    assert events.kinds().count(EXPOSED) == 40
