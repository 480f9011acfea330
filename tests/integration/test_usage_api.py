"""POST /api/usage on the bot's web server (issue 19)."""

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from forever.app import Container
from forever.web.server import build_web_app
from forever.wiring.economy import credit_ledger, install_usage_routes
from tests.integration.people import add_person

KEY = "k" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def client(container: Container) -> AsyncIterator[TestClient]:
    container.settings.usage_api_key = SecretStr(KEY)
    await add_person(container, telegram_id=77)
    await credit_ledger(container).buy(77, 10, charge_id="ch", pack_id="credits_100")
    app = build_web_app(container, [install_usage_routes])
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_spend_then_repeat_counts_once(client: TestClient) -> None:
    body = {"telegram_id": 77, "amount": 4, "request_id": "order-1"}
    first = await client.post("/api/usage", json=body, headers=AUTH)
    assert first.status == 200 and await first.json() == {"balance": 6, "repeated": False}
    again = await client.post("/api/usage", json=body, headers=AUTH)
    assert await again.json() == {"balance": 6, "repeated": True}
    short = await client.post(
        "/api/usage", json={**body, "amount": 7, "request_id": "order-2"}, headers=AUTH
    )
    assert short.status == 402 and (await short.json())["balance"] == 6


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"telegram_id": 77, "amount": -1, "request_id": "a"}, 400, "at least 1"),
        ({"telegram_id": 77, "amount": "x", "request_id": "a"}, 400, "whole number"),
        ({"telegram_id": 77, "amount": 10**12, "request_id": "a"}, 400, "at most"),
        ({"telegram_id": 77, "amount": 1}, 400, "request id"),
        ({"telegram_id": "77", "amount": 1, "request_id": "a"}, 400, "telegram_id"),
        ({"telegram_id": 5, "amount": 1, "request_id": "a"}, 404, "no customer"),
        ([1, 2], 400, "JSON object"),
    ],
)
async def test_bad_requests_get_a_clear_error(
    client: TestClient, body: object, status: int, fragment: str
) -> None:
    response = await client.post("/api/usage", json=body, headers=AUTH)
    assert response.status == status
    assert fragment in (await response.json())["error"]


async def test_wrong_key_and_unset_key_are_refused(
    client: TestClient, container: Container
) -> None:
    body = {"telegram_id": 77, "amount": 1, "request_id": "z"}
    wrong = await client.post("/api/usage", json=body, headers={"Authorization": "Bearer no"})
    assert wrong.status == 401
    assert (await client.post("/api/usage", json=body)).status == 401
    container.settings.usage_api_key = None
    off_app = build_web_app(container, [install_usage_routes])
    async with TestClient(TestServer(off_app)) as off:
        response = await off.post("/api/usage", json=body, headers=AUTH)
        assert response.status == 503 and "USAGE_API_KEY" in (await response.json())["error"]
