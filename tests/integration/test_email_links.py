"""The unsubscribe and confirm links, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from forever.app import Container
from forever.db import outbox
from forever.db.models import Consent, Event, OutboxMessage, Person
from forever.db.repositories.customers import SqlConsents
from forever.domain.clock import ManualClock
from forever.services import consent
from forever.web.email_links import unsubscribe_token
from forever.web.server import build_web_app
from forever.wiring import customers
from forever.wiring.customers import install_email_routes
from tests.conftest import START


@pytest.fixture
async def client(container: Container) -> AsyncIterator[TestClient]:
    app = build_web_app(container, [install_email_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def subscribed_person(container: Container, language: str = "en") -> tuple[int, str]:
    async with container.uow.begin():
        session = container.uow.session
        person = Person(
            telegram_id=321,
            first_name="Ana",
            language=language,
            email="ana@example.com",
            created_at=START,
        )
        session.add(person)
        await session.flush()
        record = await consent.ask_marketing_consent(
            SqlConsents(container.uow),
            container.outbox,
            container.events,
            person_id=person.id,
            first_name=person.first_name,
            email="ana@example.com",
            wording="w",
            wording_version="v1",
            source="t",
            now=START,
        )
        await outbox.enqueue(
            session,
            key="winback:1",
            channel="email",
            person_id=person.id,
            template="cancel_confirmed",
            context={},
            marketing=True,
            not_before=START + timedelta(days=7),
            now=START,
        )
        await container.uow.commit()
        return person.id, record.token


async def live_consent(container: Container, person_id: int) -> bool:
    return await customers.build(container).consents.has_marketing(person_id)


async def test_confirm_link_confirms_once(container: Container, client: TestClient) -> None:
    person_id, token = await subscribed_person(container, "ro")
    for _ in range(2):
        response = await client.post(f"/c/{token}", data={"token": token}, allow_redirects=False)
        assert response.status == 200
        assert "te-ai abonat" in await response.text()
    assert await live_consent(container, person_id)
    async with container.sessions() as session:
        kinds = list(await session.scalars(select(Event.kind)))
    assert kinds.count("consent_confirmed") == 1


async def test_the_confirm_page_links_back_to_the_bot(
    container: Container, client: TestClient
) -> None:
    """After the double opt-in click the person is on a web page: one tap takes them back
    to the chat (the username the bot learned from Telegram at start)."""
    container.bot_username = "forever_test_bot"
    for language, label in (("en", "Back to the bot"), ("it", "Torna al bot")):
        _, token = await subscribed_person(container, language)
        body = await (await client.post(f"/c/{token}")).text()
        assert '<a href="https://t.me/forever_test_bot" ' in body and label in body
        async with container.sessions.begin() as session:  # next person, same Telegram id
            person = await session.scalar(select(Person).where(Person.telegram_id == 321))
            assert person is not None
            person.telegram_id = None


async def test_get_shows_a_button_and_changes_nothing(
    container: Container, client: TestClient
) -> None:
    person_id, token = await subscribed_person(container)
    await client.post(f"/c/{token}")
    link = unsubscribe_token(container.signer, person_id)
    response = await client.get(f"/u/{link}", allow_redirects=False)
    assert response.status == 200
    body = await response.text()
    assert f'<form method="post" action="/u/{link}">' in body
    assert await live_consent(container, person_id)


@pytest.mark.parametrize("kind", ["urlencoded", "multipart", "empty"])
async def test_one_click_post_unsubscribes_at_once_and_is_idempotent(
    container: Container, client: TestClient, kind: str
) -> None:
    person_id, token = await subscribed_person(container, "it")
    await client.post(f"/c/{token}")
    link = unsubscribe_token(container.signer, person_id)
    for _ in range(2):
        if kind == "urlencoded":
            data: object = {"List-Unsubscribe": "One-Click"}
        elif kind == "multipart":
            form = aiohttp.FormData()
            form.add_field("List-Unsubscribe", "One-Click")
            form._is_multipart = True
            data = form
        else:
            data = None
        response = await client.post(f"/u/{link}", data=data, allow_redirects=False)
        assert response.status == 200
        assert "Set-Cookie" not in response.headers
        assert "annullata" in await response.text()
    assert not await live_consent(container, person_id)
    async with container.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.marketing))
        assert row is not None and row.status == "canceled"
        kinds = list(await session.scalars(select(Event.kind)))
        assert kinds.count("unsubscribed") == 1
        record = await session.scalar(select(Consent))
        assert record is not None and record.withdrawn_at == START


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_bad_or_tampered_tokens_get_a_plain_400(
    container: Container, client: TestClient, method: str
) -> None:
    person_id, token = await subscribed_person(container)
    await client.post(f"/c/{token}")
    good = unsubscribe_token(container.signer, person_id)
    other_person = container.signer.sign("unsubscribe", str(person_id + 1))
    body, mac = good.split(".")
    for bad in ("garbage", f"{body}.{mac[:-2]}xx", other_person, "a" * 500, token):
        response = await client.request(method, f"/u/{bad}", allow_redirects=False)
        assert response.status == 400, bad
        assert "not valid" in await response.text()
    for bad in ("nope", good):
        response = await client.request(method, f"/c/{bad}", allow_redirects=False)
        assert response.status == 400
    assert await live_consent(container, person_id)


async def consent_events(container: Container) -> list[str]:
    async with container.sessions() as session:
        kinds = list(await session.scalars(select(Event.kind)))
    return [k for k in kinds if k.startswith("consent_confirmed")]


@pytest.mark.parametrize(
    ("language", "button"), [("en", "Yes, confirm"), ("ro", "Da, confirm"), ("it", "Sì, confermo")]
)
async def test_opening_the_confirm_link_only_shows_a_button(
    container: Container, client: TestClient, language: str, button: str
) -> None:
    """A mail scanner fetching the link (GET or HEAD) must not opt the person in: only the
    person pressing the button on the page (a POST) confirms."""
    person_id, token = await subscribed_person(container, language)
    for _ in range(2):
        head = await client.head(f"/c/{token}", allow_redirects=False)
        assert head.status == 200
        page = await client.get(f"/c/{token}", allow_redirects=False)
        assert page.status == 200
        body = await page.text()
        assert f'<form method="post" action="/c/{token}">' in body
        assert f'<input type="hidden" name="token" value="{token}">' in body
        assert button in body
        assert not any(w in body for w in ("Thank you", "Mulțumim", "Grazie"))
    assert not await live_consent(container, person_id)
    assert await consent_events(container) == []
    async with container.sessions() as session:
        person = await session.get(Person, person_id)
        assert person is not None and person.email_status != "confirmed"

    pressed = await client.post(f"/c/{token}", data={"token": token}, allow_redirects=False)
    assert pressed.status == 200
    assert {"en": "Thank you", "ro": "Mulțumim", "it": "Grazie"}[language] in await pressed.text()
    assert await live_consent(container, person_id)
    # Opening the link afterwards shows where things stand, with no button.
    again = await (await client.get(f"/c/{token}")).text()
    assert "<form" not in again
    assert any(w in again for w in ("you are subscribed", "te-ai abonat", "sei iscritto"))
    assert await consent_events(container) == ["consent_confirmed"]


@pytest.mark.parametrize(
    ("language", "words"), [("en", "has expired"), ("ro", "a expirat"), ("it", "è scaduto")]
)
async def test_a_confirm_link_expires_after_30_days(
    container: Container, client: TestClient, clock: ManualClock, language: str, words: str
) -> None:
    person_id, token = await subscribed_person(container, language)
    clock.set(START + timedelta(days=29, hours=23))
    page = await client.get(f"/c/{token}")
    assert page.status == 200 and "<form" in await page.text()
    clock.set(START + timedelta(days=30))
    for method in ("GET", "POST"):
        response = await client.request(method, f"/c/{token}", allow_redirects=False)
        assert response.status == 410
        body = await response.text()
        assert words in body and "<form" not in body
    assert not await live_consent(container, person_id)
    assert await consent_events(container) == []
