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
    "welcome": {"business": BUSINESS, "name": "Ana", "trial_days": 7},
    "trial_tips": {
        "business": BUSINESS,
        "name": "Ana",
        "plan_name": "Plus",
        "usage": 2,
        "usage_metric": "classes",
        "trial_days": 7,
        "unsubscribe_url": UNSUBSCRIBE,
    },
    "trial_ending": {
        "business": BUSINESS,
        "name": "Ana",
        "plan_name": "Plus",
        "days_left": 3,
        "access_until": WHEN,
        "usage": 4,
        "usage_metric": "classes",
    },
    "trial_ended": {
        "business": BUSINESS,
        "name": "Ana",
        "plan_name": "Plus",
        "offer_kind": "discount",
        "offer_percent": 20,
        "offer_until": WHEN,
        "offer_url": "https://t.me/forever_bot?start=wb-1-trial_20-20800-abc",
        "unsubscribe_url": UNSUBSCRIBE,
    },
    "renewal_upcoming": {
        "business": BUSINESS,
        "name": "Ana",
        "plan_name": "Plus",
        "days_left": 1,
        "access_until": WHEN,
    },
    "payment_failed": {
        "business": BUSINESS,
        "name": "Ana",
        "plan_name": "Plus",
        "step": 1,
        "access_until": WHEN,
    },
    "inactive": {
        "business": BUSINESS,
        "name": "Ana",
        "plan_name": "Plus",
        "days_since": 14,
        "usage": 0,
        "usage_metric": "classes",
        "unsubscribe_url": UNSUBSCRIBE,
    },
    "winback": {
        "business": BUSINESS,
        "name": "Ana",
        "plan_name": "Plus",
        "step": 1,
        "cancel_reason": "too_expensive",
        "offer_kind": "discount",
        "offer_percent": 40,
        "offer_plan_name": "",
        "offer_until": WHEN,
        "offer_url": "https://t.me/forever_bot?start=wb-1-comeback_40-20800-abc",
        "unsubscribe_url": UNSUBSCRIBE,
    },
}
