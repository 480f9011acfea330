"""The Telegram webhook endpoint (our own, not aiogram's stock handler, which answers 200
before the update is safe): check the secret, validate, ask the flood guard, store, answer,
then process."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Protocol

from aiohttp import web
from pydantic import ValidationError

from forever.metrics import Metrics

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_UPDATE_ID = 2**63 - 1  # the inbox key is a signed 64-bit BIGINT (PostgreSQL and SQLite)
# A real Update nests about ten levels deep. Far deeper JSON that still parses would fail
# later, when stored (a RecursionError: 503, retried forever) or processed, so it is refused.
MAX_NESTING = 64


class UpdateIntake(Protocol):
    """The update inbox as the endpoint sees it (telegram.inbox.UpdateProcessor)."""

    def parse(self, body: dict[str, Any]) -> object:
        """Raises pydantic's ValidationError (or ValueError/TypeError) for a non-Update."""
        ...

    def flood_check(self, update: object) -> tuple[bool, dict[str, Any] | None]:
        """(admitted, reply): the per-user flood guard's verdict on a parsed update; a
        dropped one is answered 200 (with `reply` as the webhook reply) and not stored."""
        ...

    async def store(self, update_id: int, body: dict[str, Any]) -> bool:
        """Persist, claimed by this instance; False for a redelivery."""
        ...

    def process_soon(self, update_id: int, body: dict[str, Any]) -> None: ...


def install_webhook(
    app: web.Application, path: str, secret: str, processor: UpdateIntake, metrics: Metrics
) -> None:
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            metrics.updates.labels("unauthorized").inc()
            return web.Response(status=401, text="wrong or missing secret token")
        raw = await request.read()
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _bad_request(metrics, "body is not JSON")
        except RecursionError:
            return _bad_request(metrics, "body is nested too deeply")
        if not isinstance(body, dict):
            return _bad_request(metrics, "body is not a JSON object")
        if _nesting(body) > MAX_NESTING:
            return _bad_request(metrics, "body is nested too deeply")
        update_id = body.get("update_id")
        if (
            not isinstance(update_id, int)
            or isinstance(update_id, bool)
            or not 0 <= update_id <= MAX_UPDATE_ID
        ):
            return _bad_request(metrics, "update_id missing or not a non-negative 64-bit integer")
        try:
            update = processor.parse(body)
        except (ValidationError, ValueError, TypeError, RecursionError):
            return _bad_request(metrics, "not a Telegram Update")
        admitted, reply = processor.flood_check(update)
        if not admitted:
            # Before storing: a flooder's extra updates cost no database work. Telegram
            # gets its 200, so it does not deliver them again.
            metrics.updates.labels("flood_dropped").inc()
            return web.json_response(reply) if reply is not None else web.Response(status=200)
        try:
            new = await processor.store(update_id, body)
        except Exception:
            # Not stored, so not acknowledged: Telegram will deliver it again.
            log.exception("could not store update %s", update_id, extra={"update_id": update_id})
            metrics.errors.labels("webhook").inc()
            return web.Response(status=503, text="try again later")
        if new:
            metrics.updates.labels("received").inc()
            processor.process_soon(update_id, body)
        else:
            metrics.updates.labels("duplicate").inc()
        return web.Response(status=200)

    app.router.add_post(path, receive)


def _nesting(value: object) -> int:
    """How deeply lists and objects nest (without recursion: the depth is the attack)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _bad_request(metrics: Metrics, reason: str) -> web.Response:
    metrics.updates.labels("malformed").inc()
    return web.Response(status=400, text=reason)
