"""The schema. Every table the product needs; alembic migrations mirror it.

Conventions: times are UTC (`UTCDateTime`); `events` is append-only and is the base of every
KPI; unique keys make repeated deliveries (payments, outbox rows, updates) harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from forever.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Person(Base):
    """A customer. Erasure blanks the personal columns and keeps the row as a tombstone, so
    anonymous events still count in the numbers."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    username: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str | None] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    # none | unconfirmed | confirmed | undeliverable
    email_status: Mapped[str] = mapped_column(String(16), default="none")
    created_at: Mapped[datetime] = mapped_column(index=True)  # the welcome journey's sweep
    last_seen_at: Mapped[datetime | None] = mapped_column(index=True)  # the inactive sweep
    blocked_at: Mapped[datetime | None]  # the person blocked the bot (403)
    erased_at: Mapped[datetime | None]
    trial_used_at: Mapped[datetime | None]
    # Conversation step for free-text input (e.g. "email"); survives restarts.
    awaiting: Mapped[str | None] = mapped_column(String(32))

    # The owner console's people list, filtered by language, newest first.
    # Its search by @username and by email (without regard to case, as /user looks up).
    __table_args__ = (
        Index("ix_people_language_id", "language", "id"),
        Index("ix_people_lower_username", text("lower(username)")),
        Index("ix_people_lower_email", text("lower(email)")),
        # And ix_people_lower_first_name, by the first name's start: created by 0011_console
        # only (text_pattern_ops on PostgreSQL, which metadata cannot say per dialect here).
    )


class Consent(Base):
    """Consent is a record, not a flag: what was asked, how, when, and its withdrawal."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # email
    purpose: Mapped[str] = mapped_column(String(32))  # marketing
    email: Mapped[str | None] = mapped_column(String(320))
    wording_version: Mapped[str] = mapped_column(String(32))
    wording_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    asked_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]


class Subscription(Base):
    """The current membership of a person (one row each); its history is in `events`."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), unique=True)
    state: Mapped[str] = mapped_column(String(24), default="none", index=True)
    plan_id: Mapped[str | None] = mapped_column(String(32))
    billing: Mapped[str | None] = mapped_column(String(16))
    period_end: Mapped[datetime | None] = mapped_column(index=True)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_until: Mapped[datetime | None]
    paused_credit_seconds: Mapped[int | None] = mapped_column(BigInteger)
    # Telegram's charge id of the first payment of a Stars subscription: needed by
    # editUserStarSubscription to stop or restart renewals.
    star_charge_id: Mapped[str | None] = mapped_column(String(128))
    star_payload: Mapped[str | None] = mapped_column(String(128))
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    canceled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # Optimistic lock: two taps at once cannot both apply.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    # The owner console's people list, filtered by membership state and plan.
    __table_args__ = (Index("ix_subscriptions_state_plan_person", "state", "plan_id", "person_id"),)


class Invoice(Base):
    """An invoice the bot issued. The signed payload names this row; pre-checkout checks it."""

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    plan_id: Mapped[str] = mapped_column(String(32))
    billing: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(8), default="XTR")
    offer_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    telegram_charge_id: Mapped[str] = mapped_column(String(128), unique=True)
    provider_charge_id: Mapped[str | None] = mapped_column(String(128))
    plan_id: Mapped[str] = mapped_column(String(32))
    billing: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(8))
    is_recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    is_first_recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    subscription_expires_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Event(Base):
    """Append-only history of what happened to whom: the base of every KPI."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(48))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_events_kind_at", "kind", "at"),
        Index("ix_events_person_at", "person_id", "at"),
    )


class UsageCounter(Base):
    """A simple usage figure per person that the business feeds (e.g. classes attended)."""

    __tablename__ = "usage_counters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    metric: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[datetime]
    value: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("person_id", "metric", "period_start"),)


class OutboxMessage(Base):
    """A chat message or email waiting to be sent. The idempotency key (person, journey,
    step) makes each one exist at most once; senders claim rows with a lease."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(8))  # email | chat
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    template: Mapped[str] = mapped_column(String(64))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    # pending | sending | sent | failed | suppressed | canceled
    status: Mapped[str] = mapped_column(String(12), default="pending")
    not_before: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    # The claim reads due rows in this order (db/outbox.due_rows).
    __table_args__ = (Index("ix_outbox_status_not_before_id", "status", "not_before", "id"),)


class Suppression(Base):
    """Addresses never to mail again, kept as a hash so erasure leaves no address behind."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # HMAC-SHA256 keyed from SECRET_KEY; `legacy` rows (before 0004) hold an unkeyed SHA-256.
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(32))  # bounced | unsubscribed | erased
    created_at: Mapped[datetime]
    legacy: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AuditEntry(Base):
    """Every staff action: who, what, when, with which arguments."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_telegram_id: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(48))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(index=True)


class Broadcast(Base):
    """A staff broadcast: a persisted job that survives restarts."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
    source_chat_id: Mapped[int] = mapped_column(BigInteger)
    source_message_id: Mapped[int] = mapped_column(BigInteger)
    personalized_html: Mapped[str | None] = mapped_column(Text)
    button_text: Mapped[str | None] = mapped_column(String(64))
    button_url: Mapped[str | None] = mapped_column(String(512))
    segment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # draft | queued | running | stopped | done
    status: Mapped[str] = mapped_column(String(12), default="draft", index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Versions per language besides the default content: {locale: {source_chat_id,
    # source_message_id, kind, personalized_html}}; people of another language get the default.
    variants: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Fast paid mode: every copy goes with allow_paid_broadcast (0.1 Star each, up to 1000/s).
    paid: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class BroadcastDelivery(Base):
    """One recipient of one broadcast; recorded so a restart never sends a second copy."""

    __tablename__ = "broadcast_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # pending | sending | delivered | blocked | failed
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("broadcast_id", "person_id"),
        # A claim reads the pending recipients of one broadcast in id order.
        Index("ix_broadcast_deliveries_job_status_id", "broadcast_id", "status", "id"),
        # A customer's reply: which broadcast message of this chat it answers, or the latest.
        Index("ix_broadcast_deliveries_chat", "chat_id"),
    )


class UpdateInbox(Base):
    """Webhook updates stored before Telegram gets its 200, so none is lost or run twice."""

    __tablename__ = "update_inbox"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    processed_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Lease(Base):
    """A named lease (e.g. the scheduler) held by one instance until it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class JourneyTouch(Base):
    """A person whose journey facts changed since the last journey sweep (database triggers
    write these: a new person, an email address or its status, erasure, a subscription's
    state, billing or end, consent, a failed payment, a deleted journey mail). The sweep reads
    its windows only for the instants that passed since the last sweep, plus these people in
    full; `claim` is the sweep round that took the row."""

    __tablename__ = "journey_touches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer)
    claim: Mapped[int | None] = mapped_column(Integer)


class SweepMark(Base):
    """Where an incremental sweep stands: `swept_at`, the instant of the last sweep that
    finished (None: none did, or one is running or failed: the next reads everything), for
    the configuration `fingerprint`; `generation` numbers the rounds."""

    __tablename__ = "sweep_marks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    swept_at: Mapped[datetime | None]
    fingerprint: Mapped[str] = mapped_column(String(64), default="")


class AccessGrant(Base):
    """A chat a person's membership opened (issue 17): `granted` while it gives the chat,
    `removed` once they were taken out. `lost_at`: when the membership stopped giving it (the
    grace period counts from here). `round` grows with each new grant, so outbox keys of a
    second grant differ from the first's. The Telegram id is kept here: an erased person's
    is blanked on `people`, yet they still have to leave the chats."""

    __tablename__ = "access_grants"
    __table_args__ = (UniqueConstraint("person_id", "chat_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    status: Mapped[str] = mapped_column(String(16), default="granted")  # granted | removed
    round: Mapped[int] = mapped_column(Integer, default=1)
    granted_at: Mapped[datetime]
    lost_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]


class AccessMember(Base):
    """Who the bot saw in each chat (chat_member updates): member, administrator, creator,
    restricted, left, kicked; `removing` while a removal is queued."""

    __tablename__ = "access_members"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime]


class AccessLink(Base):
    """The one join-request invite link per chat, made once and reused."""

    __tablename__ = "access_links"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    invite_link: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class ExperimentAssignment(Base):
    """Who saw which arm of an experiment, recorded at the first exposure (with an
    `experiment_exposed` event in the same transaction). One row per experiment and person:
    the arm never changes for them, whatever happens to the weights later."""

    __tablename__ = "experiment_assignments"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(String(48))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    variant_id: Mapped[str] = mapped_column(String(32))
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    surface: Mapped[str] = mapped_column(String(24))
    exposed_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("experiment_id", "person_id"),
        Index("ix_experiment_assignments_experiment_exposed", "experiment_id", "exposed_at"),
    )


class ExperimentOverride(Base):
    """Staff's word on a catalog experiment: stopped, or concluded with a promoted winner
    (which then is everyone's default on that surface and audience)."""

    __tablename__ = "experiment_overrides"

    experiment_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # stopped | concluded
    winner_variant_id: Mapped[str | None] = mapped_column(String(32))
    by_telegram_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]


class ConsoleLink(Base):
    """A one-time sign-in link of the owner console: only the token's SHA-256 is kept."""

    __tablename__ = "console_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A signed-in console session (the cookie's token, hashed)."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class AddonPurchase(Base):
    """A one-off Stars purchase of a catalog add-on (issue 19). One row per Telegram charge:
    the same successful payment delivered twice grants the add-on once. A refund ends it."""

    __tablename__ = "addon_purchases"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    addon_id: Mapped[str] = mapped_column(String(32))
    stars: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    telegram_payment_charge_id: Mapped[str] = mapped_column(String(255), unique=True)
    purchased_at: Mapped[datetime]
    ends_at: Mapped[datetime | None] = mapped_column(nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (Index("ix_addon_purchases_person", "person_id", "purchased_at"),)


class CreditEntry(Base):
    """One line of a person's credit ledger (issue 19): a pack bought (+), usage (-) or a
    refunded pack (-, with the part already spent as `shortfall`). `balance_after` never goes
    below zero; `idempotency_key` (the charge id, or the usage request id) makes repeats count
    once."""

    __tablename__ = "credit_entries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    shortfall: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    note: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime]
    # The Stars paid, on a purchase (migration 0018_econ2; None on older rows and other kinds).
    stars: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (Index("ix_credit_entries_person", "person_id", "id"),)


class PromoCode(Base):
    """A promo code staff created (issue 19): `percent` off the next payment for its plans, or
    `days` added to a trial or membership. `uses` counts redemptions; it only grows, by one
    conditional UPDATE, so two people at once never pass `max_uses`."""

    __tablename__ = "promo_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    percent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    plans: Mapped[str] = mapped_column(String(255), default="")  # comma separated; "": all
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class PromoRedemption(Base):
    """A person's use of a code: once per person and code (the unique pair is what makes two
    taps at once redeem once)."""

    __tablename__ = "promo_redemptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("promo_codes.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    redeemed_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("code_id", "person_id", name="uq_promo_redemptions_once"),)


class PromoInvoice(Base):
    """An invoice issued at a percent code's price, with the price it would have had."""

    __tablename__ = "promo_invoices"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    redemption_id: Mapped[int] = mapped_column(ForeignKey("promo_redemptions.id"), index=True)
    full_stars: Mapped[int] = mapped_column(Integer)


class PointEntry(Base):
    """One line of a person's points ledger (issue 19), append-only: points earned (+, with
    `expires_at`), redeemed or expired (-). `balance_after` is never negative (a CHECK, on top
    of the ledger's own rule); `idempotency_key` makes a repeated earning or tap count once.
    `reason` says why (paid_month, milestone, an event kind, a reward id, expiry)."""

    __tablename__ = "point_entries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(16))  # earn | redeem | expire
    amount: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(48))
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_point_entries_person", "person_id", "id"),
        Index("ix_point_entries_expiry", "kind", "expires_at"),
        CheckConstraint("balance_after >= 0", name="balance_not_negative"),
    )


class ReferralCode(Base):
    """A member's own referral code (issue 19): derived from SECRET_KEY and the person's id,
    stored at the first /invite so a link keeps working whatever happens to the key."""

    __tablename__ = "referral_codes"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime]


class Referral(Base):
    """Who brought whom (issue 19): one row per referred person (unique), to a member
    (`referrer_id`) or a catalog partner (`partner_id`). The reward for the first payment is
    given once (`reward_charge_id`, unique) and taken back if that payment is refunded."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), unique=True)
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    partner_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    code: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    # The referred person's first kept payment, and what it gave (or why it gave nothing).
    reward_charge_id: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    first_paid_at: Mapped[datetime | None] = mapped_column(nullable=True)
    referrer_days: Mapped[int] = mapped_column(Integer, default=0)
    referred_days: Mapped[int] = mapped_column(Integer, default=0)
    reward_refused: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        Index("ix_referrals_referrer", "referrer_id"),
        Index("ix_referrals_partner", "partner_id"),
    )


class CatalogVersion(Base):
    """A version of the catalog saved from the owner console: the whole catalog.toml text,
    who saved it, when, and what changed from the version before."""

    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    toml: Mapped[str] = mapped_column(Text)
    changes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(String(200), default="")


# --- owner text overrides (console text editor, issues 20 and 21) ---------------------------


class TextOverride(Base):
    """A version of an owner's text for one catalog message in one locale: the newest row
    per (locale, context, msgid) is in force; an empty text means the catalog's own."""

    __tablename__ = "text_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    locale: Mapped[str] = mapped_column(String(16))
    context: Mapped[str] = mapped_column(String(200), default="")
    msgid: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text, default="")
    saved_by: Mapped[int] = mapped_column(BigInteger)
    saved_at: Mapped[datetime]
