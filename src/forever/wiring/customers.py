"""Wiring of the customers area: its use cases, and what its chat handlers receive by name."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from forever.db.person_lookups import SqlPersonLookups
from forever.db.repositories.customers import (
    SqlConsents,
    SqlErasure,
    SqlInvoices,
    SqlMarketingOutbox,
    SqlNewPeople,
    SqlPayments,
    SqlSnapshots,
    SqlUsage,
)
from forever.db.repositories.lifecycle import SqlLifecycleRecords
from forever.db.repositories.prices import SqlKeptPrices
from forever.domain.catalog import Catalog
from forever.services.accounts import MarkBlocked
from forever.services.billing import (
    ChoosePlan,
    Invoicing,
    PreCheckout,
    RecordPayment,
    TelegramSubscriptionUpdate,
)
from forever.services.consent import Consents
from forever.services.people import IdentifyPerson, ReadSnapshot, SetLanguage, SetTimezone
from forever.services.privacy import Privacy
from forever.services.signup import Signup
from forever.services.usage import RecordUsage
from forever.web.email_links import EmailLinks
from forever.wiring import lifecycle
from forever.wiring.container import Container
from forever.wiring.experiments import experiment_chooser, personal_prices
from forever.wiring.points import points_ledger
from forever.wiring.promo import promos
from forever.wiring.referrals import referral_rewards


@dataclass(frozen=True, slots=True)
class CustomerUseCases:
    identify_person: IdentifyPerson
    read_snapshot: ReadSnapshot
    set_language: SetLanguage
    set_timezone: SetTimezone
    signup: Signup
    invoicing: Invoicing
    choose_plan: ChoosePlan
    pre_checkout: PreCheckout
    record_payment: RecordPayment
    privacy: Privacy
    consents: Consents
    record_usage: RecordUsage
    telegram_subscription_update: TelegramSubscriptionUpdate


def build(container: Container) -> CustomerUseCases:
    """The customers area's use cases on the container's unit of work and repositories."""
    c = container
    uow, people, subs, events = c.uow, c.people_repo, c.subscriptions, c.events
    new_people = SqlNewPeople(uow)
    snapshots = SqlSnapshots(uow)
    consents = SqlConsents(uow)
    invoices = SqlInvoices(uow)
    payments = SqlPayments(uow)

    def catalog() -> Catalog:
        return c.catalog  # the one in force now

    codes = promos(c)
    invoicing = Invoicing(
        uow,
        invoices,
        c.clock,
        c.signer,
        prices=personal_prices(c),
        kept=SqlKeptPrices(uow),
        promos=codes,
    )
    mark_blocked = MarkBlocked(uow, people, c.clock)
    return CustomerUseCases(
        identify_person=IdentifyPerson(
            uow,
            people,
            new_people,
            events,
            c.clock,
            c.renderer.locale_for,
            lookups=SqlPersonLookups(c.one_trip),
        ),
        read_snapshot=ReadSnapshot(uow, snapshots, c.clock),
        set_language=SetLanguage(uow, people, snapshots, c.clock),
        set_timezone=SetTimezone(uow, people, c.clock),
        signup=Signup(
            uow,
            people,
            subs,
            new_people,
            consents,
            snapshots,
            invoicing,
            c.outbox,
            events,
            catalog,
            c.clock,
            c.signer,
            offer_history=SqlLifecycleRecords(uow),
            experiments=experiment_chooser(c),
        ),
        invoicing=invoicing,
        choose_plan=ChoosePlan(uow, snapshots, invoicing, catalog, c.clock),
        pre_checkout=PreCheckout(uow, invoices, people, catalog, c.clock, c.signer),
        record_payment=RecordPayment(
            uow,
            invoices,
            payments,
            people,
            subs,
            events,
            catalog,
            c.clock,
            c.signer,
            c.outbox,
            c.delivery_kick,
            staff_chat_ids=sorted(c.settings.admin_ids),
            kept=SqlKeptPrices(uow),
            promos=codes,
            points=points_ledger(c),
            follow_up=referral_rewards(c),
        ),
        privacy=Privacy(
            uow,
            people,
            subs,
            consents,
            payments,
            snapshots,
            SqlErasure(uow),
            events,
            c.clock,
            c.outbox,
            c.delivery_kick,
        ),
        consents=Consents(uow, consents, people, SqlMarketingOutbox(uow), events, c.clock),
        record_usage=RecordUsage(uow, people, SqlUsage(uow), events, c.clock, catalog),
        telegram_subscription_update=TelegramSubscriptionUpdate(
            lifecycle.retention(c), mark_blocked, invoicing, catalog
        ),
    )


def chat_dependencies(container: Container) -> dict[str, object]:
    """Dispatcher workflow data: each handler parameter of this name receives the value."""
    use_cases = build(container)
    return {name: getattr(use_cases, name) for name in CustomerUseCases.__dataclass_fields__}


def install_email_routes(app: web.Application, container: Container) -> None:
    """The links in our emails (confirm, one-click unsubscribe) on the web server."""
    EmailLinks(
        build(container).consents,
        container.renderer,
        container.signer,
        business_name=container.catalog.business_name,
        default_locale=container.settings.default_locale,
        bot_username=lambda: container.bot_username,
    ).install(app)
