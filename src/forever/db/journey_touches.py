"""The database triggers that note who needs a second look from the journey sweep.

The journey sweep (db/repositories/journeys.py) reads each step's window only for the trigger
moments that passed since its last run, plus, in full, the people noted in `journey_touches`.
That is the old full scan's answer exactly when every change that can make someone newly due
inside a window already read is noted: a change that only makes someone not due needs no
note (the query checks again). So these triggers note, in the same transaction as the change:

- a new person, and a change of address, address status, erasure or sign-up time; a last
  visit moved back (moved forward, the inactivity moment leaves the windows read so far);
- a new subscription, and a change of its state, billing, period end or person;
- a new or changed consent; a failed payment recorded or changed;
- a journey mail deleted from the outbox (its key no longer says "already queued").

Triggers rather than calls in the use cases, so that no writer (a migration, an admin's SQL,
a use case written later) can forget one. A migration that rebuilds one of these tables (an
SQLite batch "move and copy") drops its triggers: it must call `create_statements` again
(tests/integration/test_journey_touches.py checks that they exist at head).
"""

from __future__ import annotations

# (name, table, event, condition ({ne}: "is distinct from"), the person it notes)
_TRIGGERS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("journey_touch_people_new", "people", "INSERT", None, "NEW.id"),
    (
        "journey_touch_people_change",
        "people",
        "UPDATE",
        "NEW.email {ne} OLD.email OR NEW.email_status {ne} OLD.email_status"
        " OR NEW.erased_at {ne} OLD.erased_at OR NEW.created_at {ne} OLD.created_at"
        " OR NEW.last_seen_at < OLD.last_seen_at",
        "NEW.id",
    ),
    ("journey_touch_subscription_new", "subscriptions", "INSERT", None, "NEW.person_id"),
    (
        "journey_touch_subscription_change",
        "subscriptions",
        "UPDATE",
        "NEW.state {ne} OLD.state OR NEW.billing {ne} OLD.billing"
        " OR NEW.period_end {ne} OLD.period_end OR NEW.person_id {ne} OLD.person_id",
        "NEW.person_id",
    ),
    ("journey_touch_consent_new", "consents", "INSERT", None, "NEW.person_id"),
    (
        "journey_touch_consent_change",
        "consents",
        "UPDATE",
        "NEW.confirmed_at {ne} OLD.confirmed_at OR NEW.withdrawn_at {ne} OLD.withdrawn_at"
        " OR NEW.person_id {ne} OLD.person_id OR NEW.channel {ne} OLD.channel"
        " OR NEW.purpose {ne} OLD.purpose",
        "NEW.person_id",
    ),
    (
        "journey_touch_payment_failed_new",
        "events",
        "INSERT",
        "NEW.kind = 'payment_failed' AND NEW.person_id IS NOT NULL",
        "NEW.person_id",
    ),
    (
        "journey_touch_payment_failed_change",
        "events",
        "UPDATE",
        "NEW.kind = 'payment_failed' AND NEW.person_id IS NOT NULL"
        " AND (NEW.kind {ne} OLD.kind OR NEW.at {ne} OLD.at OR NEW.person_id {ne} OLD.person_id)",
        "NEW.person_id",
    ),
    (
        "journey_touch_outbox_gone",
        "outbox",
        "DELETE",
        "OLD.person_id IS NOT NULL AND OLD.idempotency_key LIKE 'j:%'",
        "OLD.person_id",
    ),
)

NAMES = tuple(name for name, *_ in _TRIGGERS)


def _function(column: str) -> str:
    return "journey_touch_" + column.lower().replace(".", "_")


def create_statements(dialect: str) -> list[str]:
    """DDL that creates the triggers (and, on PostgreSQL, their functions)."""
    out: list[str] = []
    if dialect == "postgresql":
        for column in sorted({col for *_, col in _TRIGGERS}):
            out.append(
                # Names from the constant table above, no outside input.
                f"CREATE OR REPLACE FUNCTION {_function(column)}() RETURNS trigger"  # noqa: S608
                " LANGUAGE plpgsql AS $$ BEGIN"
                f" INSERT INTO journey_touches (person_id) VALUES ({column});"
                " RETURN NULL; END $$"
            )
        for name, table, event, when, column in _TRIGGERS:
            condition = f" WHEN ({when.format(ne='IS DISTINCT FROM')})" if when else ""
            out.append(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{condition}"
                f" EXECUTE FUNCTION {_function(column)}()"
            )
        return out
    for name, table, event, when, column in _TRIGGERS:
        condition = f" WHEN {when.format(ne='IS NOT')}" if when else ""
        out.append(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{condition}"  # noqa: S608
            f" BEGIN INSERT INTO journey_touches (person_id) VALUES ({column}); END"
        )
    return out


def drop_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        out = [f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table, *_ in _TRIGGERS]
        for column in sorted({col for *_, col in _TRIGGERS}):
            out.append(f"DROP FUNCTION IF EXISTS {_function(column)}()")
        return out
    return [f"DROP TRIGGER IF EXISTS {name}" for name in NAMES]
