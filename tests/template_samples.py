"""Sample contexts for every message template, so each one can be rendered in every locale.

A new template needs an entry here (the rendering test fails until it has one)."""

from datetime import UTC, datetime

WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)

CHAT: dict[str, dict] = {
    "welcome": {
        "name": "Ana <b>",
        "business": "Forever Yoga Club",
        "trial_days": 7,
        "trial_plan": "Plus",
    },
    "help": {"business": "Forever Yoga Club"},
    "unknown": {},
}

BUSINESS = "Forever Yoga Club"
UNSUBSCRIBE = "https://forever.test/u/sample.token"

EMAIL: dict[str, dict] = {
    "consent_confirm": {
        "business": BUSINESS,
        "name": "Ana <script>alert(1)</script>",
        "confirm_url": "https://forever.test/c/sample-token",
    },
    "cancel_confirmed": {
        "business": BUSINESS,
        "name": "Ana",
        "plan_name": "Plus",
        "access_until": WHEN,
        "canceled_at": WHEN,
    },
}
