"""The console's catalog editor: plan prices and names in forms, checked like catalog.toml,
saved as versions (who, when, what changed), in force at once, rolled back, exported. A new
price is for new sales only; support staff cannot edit."""

from __future__ import annotations

import copy
import html
import re
import tomllib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from forever.app import Container
from forever.db.models import AuditEntry, CatalogVersion, Payment
from forever.domain.catalog import CatalogError, LiveCatalog, load_catalog, parse_catalog
from forever.domain.payments import InvoiceKind
from forever.services.billing import IncomingPayment
from forever.web.server import build_web_app
from forever.wiring import console, customers
from tests.conftest import STAFF_ID, START
from tests.integration.console_helpers import Signed, sign_in
from tests.integration.test_journeys import person_with

SUPPORT_ID = 900002


@pytest.fixture
async def client(container: Container) -> AsyncIterator[TestClient]:
    container.settings = container.settings.model_copy(
        update={"support_ids": frozenset({SUPPORT_ID})}
    )
    app = build_web_app(container, [console.install_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def form_of(owner: Signed) -> dict[str, str]:
    status, page = await owner.get("/console/catalog")
    assert status == 200
    return {
        name: value
        for name, value in re.findall(
            r'<input id="f-[^"]+" name="([^"]+)"[^>]*value="([^"]*)"', page
        )
    }


async def versions(container: Container) -> list[CatalogVersion]:
    async with container.sessions() as db:
        return list(await db.scalars(select(CatalogVersion).order_by(CatalogVersion.id)))


def payment(telegram_id: int, amount: int, payload: str, charge: str, recurring: bool):
    return IncomingPayment(
        payer_telegram_id=telegram_id,
        currency="XTR",
        amount=amount,
        payload=payload,
        charge_id=charge,
        provider_charge_id=None,
        is_recurring=recurring,
        is_first_recurring=False,
        subscription_expires_at=None,
    )


async def test_a_new_price_is_for_the_next_new_member_not_an_existing_one(
    client: TestClient, container: Container
) -> None:
    uses = customers.build(container)
    container.clock.set(START)  # type: ignore[attr-defined]
    ana = await person_with(container, telegram_id=71, name="Ana")
    basic = container.catalog.plan("basic")
    assert basic is not None and basic.monthly_stars == 150
    before = await uses.invoicing.issue(ana, basic, InvoiceKind.SUBSCRIPTION)
    await uses.record_payment(payment(71, before.amount, before.payload, "st-1", False))

    owner = await sign_in(client, container)
    form = await form_of(owner)
    assert form["basic.monthly_stars"] == "150" and form["basic.name_it"] == "Base"
    status, page = await owner.post(
        "/console/catalog", {**form, "basic.monthly_stars": "180", "basic.name_en": "Starter"}
    )
    assert status == 200, page
    assert "Saved as version 1" in page

    # In force at once, without a restart: the bot's next new member is asked 180.
    plan = container.catalog.plan("basic")
    assert plan is not None and plan.monthly_stars == 180 and plan.name["en"] == "Starter"
    bo = await person_with(container, telegram_id=72, name="Bo", email="bo@example.com")
    issued = await uses.invoicing.issue(bo, plan, InvoiceKind.SUBSCRIPTION)
    assert issued.amount == 180
    # Ana's Stars subscription renews at the price it began with, and is recorded as such.
    container.clock.set(START + timedelta(days=30))  # type: ignore[attr-defined]
    await uses.record_payment(payment(71, 150, before.payload, "st-2", True))
    async with container.sessions() as db:
        amounts = list(await db.scalars(select(Payment.amount).order_by(Payment.id)))
    assert amounts == [150, 150]

    (version,) = await versions(container)
    assert version.created_by == STAFF_ID
    assert ["plans[basic].monthly_stars", 150, 180] in version.changes
    assert ["plans[basic].name.en", "Basic", "Starter"] in version.changes
    # The export is the catalog in force, valid as catalog.toml.
    owner = await sign_in(client, container)  # the first session idled out meanwhile
    response = await client.get("/console/catalog.toml", headers=owner.headers)
    text = await response.text()
    assert response.status == 200 and "attachment" in response.headers["Content-Disposition"]
    assert parse_catalog(text).plan("basic").monthly_stars == 180  # type: ignore[union-attr]
    assert tomllib.loads(text)["plans"][0]["name"]["en"] == "Starter"


async def test_a_russian_or_spanish_name_is_edited_or_left_to_fall_back(
    client: TestClient, container: Container
) -> None:
    owner = await sign_in(client, container)
    form = await form_of(owner)
    assert form["basic.name_ru"] == "Базовый" and form["basic.name_es"] == "Básico"
    change = {"basic.name_ru": "Начальный", "basic.name_es": ""}
    status, page = await owner.post("/console/catalog", {**form, **change})
    assert status == 200, page
    plan = container.catalog.plan("basic")
    assert plan is not None and plan.name["ru"] == "Начальный"
    assert plan.name["es"] == "Basic"  # left empty: the default locale's name
    assert "es" not in container.catalog.raw["plans"][0]["name"]
    assert (await form_of(owner))["basic.name_es"] == ""  # shown empty, not as "Basic"
    (version,) = await versions(container)
    assert ["plans[basic].name.ru", "Базовый", "Начальный"] in version.changes


async def test_rollback_puts_an_earlier_version_back_in_force(
    client: TestClient, container: Container
) -> None:
    owner = await sign_in(client, container)
    form = await form_of(owner)
    await owner.post("/console/catalog", {**form, "plus.monthly_stars": "320"})
    await owner.post("/console/catalog", {**form, "plus.monthly_stars": "350"})
    assert container.catalog.plan("plus").monthly_stars == 350  # type: ignore[union-attr]
    status, page = await owner.post("/console/catalog/rollback", {"version": "1"})
    assert status == 200 and "Back to version 1, saved as version 3" in page
    assert container.catalog.plan("plus").monthly_stars == 320  # type: ignore[union-attr]
    assert [v.note for v in await versions(container)][-1] == "rollback to version 1"
    status, page = await owner.post("/console/catalog/rollback", {"version": "99"})
    assert status == 400 and "No such version." in page


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"basic.monthly_stars": "cheap"}, "basic.monthly_stars", "A whole number of Stars"),
        ({"basic.monthly_stars": "0"}, "basic.monthly_stars", "A whole number of Stars"),
        ({"pro.name_ro": "  "}, "pro.name_ro", "A name is needed"),
        ({"plus.name_en": "x" * 65}, "plus.name_en", "At most 64 characters"),
    ],
)
async def test_bad_input_gets_a_message_next_to_the_field_and_changes_nothing(
    client: TestClient, container: Container, change: dict[str, str], field: str, message: str
) -> None:
    owner = await sign_in(client, container)
    form = await form_of(owner)
    before = container.catalog.raw
    status, page = await owner.post("/console/catalog", {**form, **change})
    assert status == 400
    assert message in page.split(f'id="e-{field}" class="error">', 1)[1].split("</span>")[0]
    assert f'aria-describedby="e-{field}"' in page
    assert container.catalog.raw == before
    assert await versions(container) == []


async def test_the_catalog_rules_refuse_what_the_file_would_refuse(
    client: TestClient, container: Container
) -> None:
    owner = await sign_in(client, container)
    form = await form_of(owner)
    # Unchanged: nothing to save.
    status, page = await owner.post("/console/catalog", form)
    assert status == 400 and "Nothing changed." in page
    assert await versions(container) == []


async def test_support_staff_cannot_edit_the_catalog(
    client: TestClient, container: Container
) -> None:
    support = await sign_in(client, container, SUPPORT_ID)
    status, _ = await support.get("/console/catalog")
    assert status == 403
    status, _ = await support.post("/console/catalog", {"basic.monthly_stars": "1"})
    assert status == 403
    response = await client.get("/console/catalog.toml", headers=support.headers)
    assert response.status == 403
    assert container.catalog.plan("basic").monthly_stars == 150  # type: ignore[union-attr]
    async with container.sessions() as db:
        assert not list(
            await db.scalars(select(AuditEntry).where(AuditEntry.action == "catalog_saved"))
        )


async def test_another_instance_follows_the_newest_version(
    client: TestClient, container: Container
) -> None:
    owner = await sign_in(client, container)
    form = await form_of(owner)
    await owner.post("/console/catalog", {**form, "pro.yearly_stars": "5900"})
    # Another instance (or this one after a restart) starts from the file...
    console.put_in_force(container, load_catalog(container.settings.catalog_path))
    assert container.catalog.plan("pro").yearly_stars == 6000  # type: ignore[union-attr]
    # ...and puts the console's newest version in force on its next look.
    assert await console.follow_catalog(container, container.clock.now()) == 1
    assert container.catalog.plan("pro").yearly_stars == 5900  # type: ignore[union-attr]
    assert await console.follow_catalog(container, container.clock.now()) == 0


async def test_owners_edit_the_experiments_and_they_are_in_force_at_once(
    client: TestClient, container: Container
) -> None:
    from forever.domain.experiments import ExperimentStatus, Surface
    from forever.wiring.experiments import experiment_chooser

    owner = await sign_in(client, container)
    status, page = await owner.get("/console/catalog")
    assert status == 200
    shown = page.split('name="experiments"', 1)[1].split(">", 1)[1].split("</textarea>")[0]
    text = shown.replace("&#34;", '"').replace("&quot;", '"')
    assert 'id = "too_expensive_offer"' in text and 'status = "stopped"' in text

    status, page = await owner.post(
        "/console/catalog/experiments",
        {"experiments": text.replace('status = "stopped"', 'status = "running"')},
    )
    assert status == 200, page
    assert "Saved as version 1: in force now." in page
    experiment = container.catalog.experiment("too_expensive_offer")
    assert experiment is not None and experiment.status is ExperimentStatus.RUNNING
    (version,) = await versions(container)
    assert version.note == "experiments edited" and version.created_by == STAFF_ID
    assert ["experiments[too_expensive_offer].status", "stopped", "running"] in version.changes
    async with container.sessions() as db:
        actions = list(await db.scalars(select(AuditEntry.action)))
    assert "catalog_saved" in actions

    # Without a restart, the next person who gives the reason is assigned an arm.
    person = await person_with(container, telegram_id=81, name="Cy")
    chooser = experiment_chooser(container)
    async with container.uow.begin():
        choice = await chooser.choose(
            Surface.CANCEL_OFFER, person, now=container.clock.now(), reason="too_expensive"
        )
        await container.uow.commit()
    assert choice is not None and choice.experiment.id == "too_expensive_offer"

    # Removing every experiment is an edit too.
    status, page = await owner.post("/console/catalog/experiments", {"experiments": ""})
    assert status == 200 and "Saved as version 2" in page
    assert container.catalog.experiments == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[experiments]\nid = 1", "Not valid TOML"),
        ('[[plans]]\nid = "free"', "Only [[experiments]] tables here, not &#39;plans&#39;."),
        (
            '[[experiments]]\nid = "x"\nsurface = "cancel_offer"\n'
            'variants = [{ id = "a", offer = "gone" }, { id = "b", offer = "none" }]',
            "experiments[0].variants[0].offer: unknown offer &#39;gone&#39;",
        ),
        (
            '[[experiments]]\nid = "p"\nsurface = "plan_price"\nholdout = 0.5\n'
            'audience = { plans = ["plus", "pro"] }\nvariants = [{ id = "a", monthly_stars = 9 }]',
            "a price experiment names exactly one plan",
        ),
    ],
)
async def test_a_bad_experiment_edit_is_refused_next_to_the_field(
    client: TestClient, container: Container, text: str, message: str
) -> None:
    owner = await sign_in(client, container)
    before = container.catalog.raw
    status, page = await owner.post("/console/catalog/experiments", {"experiments": text})
    assert status == 400
    assert message in page.split('id="e-experiments" class="error">', 1)[1].split("</span>")[0]
    assert 'aria-describedby="e-experiments"' in page
    assert container.catalog.raw == before
    assert await versions(container) == []


async def test_support_staff_cannot_edit_the_experiments(
    client: TestClient, container: Container
) -> None:
    support = await sign_in(client, container, SUPPORT_ID)
    status, _ = await support.post("/console/catalog/experiments", {"experiments": ""})
    assert status == 403
    assert container.catalog.experiments != ()


def the_file(container: Container) -> str:
    """The catalog.toml the bot started with, as an owner would upload it."""
    return Path(container.settings.catalog_path).read_text(encoding="utf-8")


async def upload(owner: Signed, text: str | bytes) -> tuple[int, str]:
    """Posts a catalog.toml file as the page's import form does (multipart, with its token)."""
    if not owner.csrf:
        await owner.get("/console/catalog")
    form = FormData()
    form.add_field("csrf", owner.csrf)
    form.add_field("file", text, filename="catalog.toml", content_type="application/toml")
    response = await owner.client.post("/console/catalog/import", headers=owner.headers, data=form)
    return response.status, await response.text()


async def test_an_imported_catalog_toml_is_a_new_version_in_force_at_once(
    client: TestClient, container: Container
) -> None:
    owner = await sign_in(client, container)
    text = the_file(container)
    status, page = await upload(owner, text)  # the file the bot started with: no change
    assert status == 400 and "Nothing changed." in page
    edited = text.replace(
        'discount_30 = { kind = "discount", percent = 30 }',
        'discount_30 = { kind = "discount", percent = 25 }',
    )
    assert edited != text
    status, page = await upload(owner, edited)
    assert status == 200, page
    assert "Imported catalog.toml: saved as version 1, in force now." in page
    # In force without a restart: the cancel offer is now 25 % off.
    assert container.catalog.offers["discount_30"].percent == 25  # type: ignore[attr-defined]
    (version,) = await versions(container)
    assert version.created_by == STAFF_ID and version.note == "imported catalog.toml"
    assert ["offers.discount_30.percent", 30, 25] in version.changes
    async with container.sessions() as db:
        audit = list(
            await db.scalars(select(AuditEntry).where(AuditEntry.action == "catalog_saved"))
        )
    assert len(audit) == 1 and audit[0].actor_telegram_id == STAFF_ID
    assert audit[0].arguments["note"] == "imported catalog.toml"
    # The versions table on the page shows who and what changed.
    assert "offers.discount_30.percent: 30 → 25" in page


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            lambda t: t.replace("monthly_stars = 150", "monthly_stars = -5", 1),
            "catalog.toml:{line}: plans[0].monthly_stars:",
        ),
        (lambda t: t.replace("[business]", "[business", 1), "not valid TOML"),
        (lambda t: t.replace('kind = "pause"', 'kind = "gift"', 1), "offers.pause_month.kind:"),
    ],
)
async def test_an_import_is_refused_exactly_as_the_file_at_start_and_changes_nothing(
    client: TestClient, container: Container, broken: Any, message: str
) -> None:
    owner = await sign_in(client, container)
    text = broken(the_file(container))
    # The very message the bot prints when it refuses to start with this file.
    with pytest.raises(CatalogError) as at_start:
        parse_catalog(text, source="catalog.toml")
    line = next((i for i, row in enumerate(text.splitlines(), 1) if "-5" in row), 0)
    before = container.catalog
    status, page = await upload(owner, text)
    assert status == 400
    shown = page.split('id="e-import" class="error">', 1)[1].split("</span>")[0]
    assert message.format(line=line) in html.unescape(shown)
    assert html.unescape(shown) == str(at_start.value)
    assert container.catalog is before and container.catalog.raw == before.raw
    assert await versions(container) == []


async def test_offers_and_journeys_are_edited_as_toml_versioned_and_audited(
    client: TestClient, container: Container
) -> None:
    owner = await sign_in(client, container)
    status, page = await owner.get("/console/catalog")
    assert status == 200
    offers = html.unescape(
        page.split('name="offers"', 1)[1].split(">", 1)[1].split("</textarea>")[0]
    )
    journeys = html.unescape(
        page.split('name="journeys"', 1)[1].split(">", 1)[1].split("</textarea>")[0]
    )
    assert "[cancel_reasons]" in offers and "comeback_40" in offers
    assert 'id = "winback"' in journeys

    status, page = await owner.post(
        "/console/catalog/offers", {"offers": offers.replace("percent = 40", "percent = 50")}
    )
    assert status == 200 and "Saved as version 1: in force now." in page, page
    assert container.catalog.offers["comeback_40"].percent == 50  # type: ignore[attr-defined]

    status, page = await owner.post(
        "/console/catalog/journeys", {"journeys": journeys.replace("[7, 30, 90]", "[5, 30]")}
    )
    assert status == 200 and "Saved as version 2: in force now." in page, page
    winback = next(j for j in container.catalog.journeys if j.id == "winback")
    assert winback.days == (5, 30)

    first, second = await versions(container)
    assert first.note == "offers edited" and second.note == "journeys edited"
    assert ["offers.comeback_40.percent", 40, 50] in first.changes
    assert ["journeys[winback].days", [7, 30, 90], [5, 30]] in second.changes
    async with container.sessions() as db:
        actions = list(
            await db.scalars(
                select(AuditEntry.action).where(AuditEntry.actor_telegram_id == STAFF_ID)
            )
        )
    assert actions.count("catalog_saved") == 2


@pytest.mark.parametrize(
    ("section", "change", "message"),
    [
        ("offers", lambda t: t.replace('"discount_30", "lower_tier"', '"gone"'), "gone"),
        ("offers", lambda t: t + "\n[[plans]]\nid = 'x'\n", "Only [offers], [cancel_reasons]"),
        ("journeys", lambda t: t.replace('trigger = "signup"', 'trigger = "never"'), "trigger"),
        ("journeys", lambda t: t.replace('template = "welcome"', "template = ["), "Not valid TOML"),
    ],
)
async def test_a_bad_offers_or_journeys_edit_changes_nothing(
    client: TestClient, container: Container, section: str, change: Any, message: str
) -> None:
    owner = await sign_in(client, container)
    _, page = await owner.get("/console/catalog")
    shown = page.split(f'name="{section}"', 1)[1].split(">", 1)[1].split("</textarea>")[0]
    before = container.catalog
    raw_before = copy.deepcopy(before.raw)
    status, page = await owner.post(
        f"/console/catalog/{section}", {section: change(html.unescape(shown))}
    )
    assert status == 400
    error = html.unescape(page.split(f'id="e-{section}" class="error">', 1)[1].split("</span>")[0])
    assert message in error
    assert f'aria-describedby="e-{section}"' in page
    assert container.catalog is before and container.catalog.raw == raw_before
    assert await versions(container) == []


async def test_support_staff_cannot_import_or_edit_offers_and_journeys(
    client: TestClient, container: Container
) -> None:
    support = await sign_in(client, container, SUPPORT_ID)
    for section in ("offers", "journeys"):
        status, _ = await support.post(f"/console/catalog/{section}", {section: ""})
        assert status == 403
    status, _ = await upload(support, "")
    assert status == 403
    assert container.catalog.offers and await versions(container) == []


async def test_a_save_swaps_in_a_new_catalog_and_a_rejected_one_changes_nothing(
    client: TestClient, container: Container
) -> None:
    live = container.catalog
    assert isinstance(live, LiveCatalog)
    first = live.now
    owner = await sign_in(client, container)
    form = await form_of(owner)

    # Rejected by the catalog's rules (a pause offer of 0 months): nothing at all changes.
    _, page = await owner.get("/console/catalog")
    offers = html.unescape(
        page.split('name="offers"', 1)[1].split(">", 1)[1].split("</textarea>")[0]
    )
    status, _ = await owner.post(
        "/console/catalog/offers",
        {"offers": offers.replace('kind = "pause", months = 1', 'kind = "pause", months = 0')},
    )
    assert status == 400
    # And a save whose database write fails (after the checks passed): nothing either.
    editor = console.catalog_editor(container)

    class Broken(Exception):
        pass

    async def failing_add(**_: Any) -> int:
        raise Broken

    editor.versions.add = failing_add  # type: ignore[method-assign]
    with pytest.raises(Broken):
        await editor.edit_plans(staff_id=STAFF_ID, form={**form, "basic.monthly_stars": "999"})
    assert live.now is first and container.catalog is live
    assert live.plan("basic").monthly_stars == 150  # type: ignore[union-attr]
    assert live.offers["pause_month"].months == 1  # type: ignore[attr-defined]
    assert await versions(container) == []

    # A save builds a new catalog and swaps it in whole: the one a reader took before is
    # untouched (no catalog is changed in place), every use case sees the new one.
    status, _ = await owner.post("/console/catalog", {**form, "basic.monthly_stars": "160"})
    assert status == 200
    assert live.now is not first
    assert first.plan("basic").monthly_stars == 150  # type: ignore[union-attr]
    assert container.catalog.plan("basic").monthly_stars == 160  # type: ignore[union-attr]
    # The chat views were given the catalog when the process was built.
    assert container.views.catalog.plan("basic").monthly_stars == 160  # type: ignore[union-attr]
