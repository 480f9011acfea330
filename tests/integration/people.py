"""A person row for integration tests, with fields overridable per test."""

from __future__ import annotations

from forever.app import Container
from forever.db.models import Person
from tests.conftest import START


async def add_person(container: Container, **fields: object) -> Person:
    async with container.sessions.begin() as session:
        person = Person(
            telegram_id=fields.pop("telegram_id", 1001),
            first_name=fields.pop("first_name", "Ana"),
            language=fields.pop("language", "en"),
            email=fields.pop("email", "ana@example.com"),
            email_status="unconfirmed",
            created_at=START,
            **fields,
        )
        session.add(person)
    return person
