"""Errors answered to the bot in Telegram's exact shape, and errors raised to test code."""

from __future__ import annotations

from typing import Any

NOT_IMPLEMENTED_HINT = "is not implemented by the Forever fake Bot API test double"


class ApiError(Exception):
    """A refusal sent back to the bot: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> ApiError:
    return ApiError(403, f"Forbidden: {detail}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        f"Too Many Requests: retry after {retry_after}",
        {"retry_after": retry_after},
    )


def conflict(detail: str) -> ApiError:
    return ApiError(409, f"Conflict: {detail}")


def not_implemented(method: str) -> ApiError:
    return bad_request(
        f"method {method} {NOT_IMPLEMENTED_HINT}; add it to the double or avoid calling it"
    )


class FakeBotAPIError(Exception):
    """Base class for errors raised to the test (or sandbox) code that drives the double."""


class UpdateNotHandled(FakeBotAPIError, TimeoutError):
    """The bot did not confirm an update in time (no getUpdates with a higher offset,
    or the webhook never answered 2xx)."""


class UpdateDropped(FakeBotAPIError):
    """A pending update was dropped (drop_pending_updates) before the bot handled it."""
