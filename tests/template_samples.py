"""Sample contexts for every message template, so each one can be rendered in every locale.

A new template needs an entry here (the rendering test fails until it has one)."""

from datetime import UTC, datetime

from forever.web.console_text_preview import SAMPLES as PREVIEW_SAMPLES

WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
BUSINESS = "Forever Yoga Club"

_PLAN = {
    "id": "plus",
    "name": "Plus",
    "description": "Unlimited live classes & more",
    "monthly": 300,
    "yearly": 3000,
    "saving": 600,
    "saving_percent": 17,
    "features": ["Unlimited live classes", "Video library", "Monthly coaching call"],
    "usage_limit": 40,
    "current": True,
}
_PRO = _PLAN | {
    "id": "pro",
    "name": "Pro",
    "monthly": 600,
    "features": ["Everything in Plus", "Weekly one-to-one session", "Priority booking"],
    "usage_limit": None,
    "current": False,
}

# An upgrade mid-period (domain.payments.upgrade_credit), as views.credit_context gives it.
_CREDIT = {"days": 12, "stars": 60, "bonus": 6, "from_plan": "Basic", "to_plan": "Plus <b>"}

CHAT: dict[str, dict] = {
    "welcome": {
        "name": "Ana <b>",
        "business": BUSINESS,
        "trial_days": 7,
        "trial_plan": "Plus",
    },
    "help": {"business": BUSINESS, "staff_commands": [("stats", "Retention <and> money")]},
    "unknown": {},
    "flood_notice": {},
    "welcome_back": {"name": "Ana <b>", "business": BUSINESS},
    "email_ask": {"trial_days": 7},
    "email_invalid": {"button": "Skip", "signup": True},
    "trial_started": {"plan": "Plus", "until": WHEN},
    "trial_not_available": {},
    "trial_used_email": {},
    "consent_ask": {"business": BUSINESS},
    "consent_pending": {"email": "ana@example.com"},
    "consent_declined": {},
    "email_prompt": {"email": "ana@example.com"},
    "email_saved": {"email": "ana@example.com"},
    "email_unchanged": {"email": "ana@example.com"},
    "no_change": {},
    "plans": {"business": BUSINESS, "plans": [_PLAN, _PRO]},
    "plan_link": {
        "plan": "Plus",
        "price": 210,
        "percent": 30,
        "regular": 300,
        "credit": _CREDIT,
    },
    "upgrade_credit": {"credit": _CREDIT},
    "price_change": {
        "plan_id": "plus",
        "plan_names": {"en": "Plus", "ro": "Plus", "it": "Plus"},
        "billing": "monthly",
        "old": 250,
        "new": 300,
        "starts": WHEN,
    },
    "yearly_renewal": {
        "name": "Ana <b>",
        "plan": "Plus",
        "until": WHEN,
        "ended": False,
        "price": 3000,
    },
    "invoice_title": {
        "plan": "Plus",
        "kind": "monthly",
        "business": BUSINESS,
        "percent": 0,
        "price": 300,
    },
    "invoice_description": {
        "plan": "Plus",
        "kind": "one_month",
        "business": BUSINESS,
        "percent": 30,
        "price": 210,
        "credit": _CREDIT,
    },
    "precheckout_refused": {"reason": "stale"},
    "shop": {
        "packs": [{"name": "100 credits", "credits": 100, "stars": 50}],
        "addons": [{"name": "Coaching call", "description": "One call.", "stars": 150}],
    },
    "shop_unavailable": {},
    "shop_refused": {"reason": "not_allowed"},
    "shop_paid": {"credits": None, "balance": 0, "name": "Coaching call", "until": WHEN},
    "shop_bad_button": {},
    "promo_waiting": {
        "codes": [
            {"code": "SPRING20", "percent": 20, "plans": ["Plus", "Pro <b>"]},
            {"code": "ALL5", "percent": 5, "plans": []},
        ]
    },
    "promo": {
        "outcome": "applied",
        "code": "SPRING<20>",
        "kind": "percent",
        "percent": 20,
        "days": None,
        "plans": ["Plus", "Pro"],
        "plan": "Plus",
        "until": None,
    },
    "low_balance": {"balance": 8, "threshold": 10},
    "addon_suggestion": {
        "name": "Ana <b>",
        "usage": 30,
        "addon": "Coaching call <b>",
        "description": "One 30-minute call with a coach.",
        "stars": 150,
    },
    "account_wallet": {
        "wallet": {
            "balance": 40,
            "entries": [
                {"kind": "usage", "amount": -10, "shortfall": 0, "at": WHEN},
                {"kind": "refund", "amount": -50, "shortfall": 10, "at": WHEN},
            ],
            "addons": [{"name": "Coaching call", "until": None, "quantity": 1}],
        }
    },
    "account_points": {
        "points": {
            "balance": 150,
            "expiring": {"points": 40, "by": WHEN},
            "entries": [
                {"kind": "earn", "amount": 10, "reason": "paid_month", "at": WHEN},
                {"kind": "redeem", "amount": -100, "reason": "week", "at": WHEN},
                {"kind": "expire", "amount": -5, "reason": "expired", "at": WHEN},
            ],
        }
    },
    "points": {
        "enabled": True,
        "balance": 150,
        "expiring": {"points": 40, "by": WHEN},
        "entries": [
            {"kind": "earn", "amount": 5, "reason": "milestone_100", "at": WHEN},
            {"kind": "earn", "amount": 50, "reason": "referral_rewarded", "at": WHEN},
        ],
        "rewards": [
            {"name": "Coaching <b>", "days": None, "points": 300},
            {"name": None, "days": 7, "points": 100},
        ],
    },
    "points_redeemed": {
        "outcome": "done",
        "name": None,
        "days": 7,
        "cost": 100,
        "balance": 50,
        "until": WHEN,
    },
    "points_expiring": {"points": 40, "by": WHEN, "balance": 150},
    "payment_done": {"plan": "Plus", "until": WHEN, "renewed": False, "renews": True},
    "payment_unknown": {},
    "already_subscribed": {"plan": "Plus"},
    "account": {
        "note": None,
        "name": "Ana",
        "plan": "Plus",
        "state": "active",
        "billing": "monthly",
        "until": WHEN,
        "paused_until": None,
        "renews": True,
        "renewal_price": 210,
        "email": "ana@example.com",
        "trial_available": False,
    },
    "nothing_to_cancel": {},
    "cancel_confirm": {"plan": "Plus", "until": WHEN, "trial": False, "past_due": False},
    "canceled": {
        "plan": "Plus",
        "until": WHEN,
        "ended": False,
        "from_telegram": False,
        "email": "ana@example.com",
    },
    "reason_ask": {},
    "reason_thanks": {"skipped": False},
    "offer": {
        "kind": "discount",
        "months": 1,
        "percent": 30,
        "plan": "Plus",
        "lower_plan": "Basic",
        "lower_price": 150,
        "discounted": 210,
        "regular": 300,
        "days": 7,
        "until": WHEN,
        "trial": False,
        "trial_until": WHEN,
    },
    "offer_declined": {},
    "longer_trial": {"plan": "Plus", "until": WHEN},
    "paused": {"until": WHEN},
    "pause_ask": {"until": WHEN},
    "resumed": {"plan": "Plus", "until": WHEN, "active": True, "needs_link": True},
    "undo_done": {"plan": "Plus", "until": WHEN, "renews": True},
    "payment_failed": {"plan": "Plus", "until": WHEN},
    "star_edit_failed": {"is_canceled": True},
    "refund_failed": {"charge_id": "charge<1>"},
    "access_staff_card": {
        "card": {"person": {"first_name": "Ana <b>", "username": "ana", "telegram_id": 42}},
        "lines": [
            {
                "chat": {"name": {"en": "Club", "ro": "Clubul", "it": "Club"}},
                "grant": "granted",
                "since": WHEN,
                "seen": "member",
            },
            {
                "chat": {"name": {"en": "Pro room", "ro": "Camera Pro", "it": "Stanza Pro"}},
                "grant": None,
                "since": None,
                "seen": None,
            },
        ],
    },
    "access_staff_usage": {},
    "access_staff_not_found": {"who": "@nobody<"},
    "access_staff_resend_button": {},
    "access_staff_resent": {"count": 2},
    "access_counts": {
        "rows": [({"name": {"en": "Club", "ro": "Clubul", "it": "Club"}}, 12)],
    },
    "access_rights_lost_staff": {
        "chat_name": "Club <b>",
        "chat_id": -1001,
        "error": "Telegram server says - Bad Request: not enough rights",
    },
    "access_reconcile_staff": {"chats": [("Club <b>", -1001, 2)], "total": 2},
    "access_invite": {
        "chats": ["Club channel", "Community"],
        "plan_name": "Plus",
        "addon_name": "",
    },
    "access_removed": {"chat_name": "Club channel", "reason": "ended"},
    "access_declined": {
        "chat_name": {"en": "Club channel", "ro": "Canalul clubului", "it": "Canale del club"},
        "business": "Forever Yoga Club",
    },
    "payment_refunded_after_cancel": {"plan": "Plus", "amount": 300, "until": WHEN},
    "payment_kept_after_cancel": {"plan": "Plus", "amount": 300, "until": WHEN},
    "payment_refunded_replaced": {"plan": "Basic", "amount": 150, "until": WHEN},
    "payment_refunded_wrong_payer": {"plan": "Plus", "amount": 300, "until": None},
    "payment_refunded_mismatch": {"plan": "Plus", "amount": 1, "until": WHEN},
    "payment_refunded_staff": {
        "reason": "wrong_payer",
        "payer_id": 43,
        "owner_id": 42,
        "charge_id": "charge<1>",
        "amount": 300,
        "currency": "XTR",
        "invoice_amount": 300,
        "invoice_currency": "XTR",
        "plan_id": "plus",
    },
    "refund_failed_staff": {
        "user_id": 42,
        "charge_id": "charge<1>",
        "reason": "wrong_amount",
        "error": "TelegramBadRequest: <CHARGE_NOT_FOUND>",
    },
    "inbox_received": {},
    "staff_reply": {"text": "We open at 9 <b>sharp</b>"},
    "grant_received": {
        "name": "Ana <b>",
        "plan_names": {"en": "Plus", "ro": "Plus", "it": "Plus"},
        "plan_id": "plus",
        "days": 21,
        "until": WHEN,
    },
    "refund_made": {
        "name": "Ana <b>",
        "plan_names": {"en": "Plus", "ro": "Plus", "it": "Plus"},
        "plan_id": "plus",
        "amount": 300,
        "paid_at": WHEN,
        "ended": False,
        "until": WHEN,
    },
    "star_edit_failed_staff": {
        "is_canceled": True,
        "user_id": 42,
        "charge_id": "charge<1>",
        "error": "TelegramServerError: <bad gateway>",
    },
    "upgrade_prompt": {
        "name": "Ana <b>",
        "rule": "usage",
        "usage": 40,
        "current": _PLAN,
        "higher": _PRO,
        "ppu_stars": 650,
    },
    "language_ask": {"zone": "Europe/Rome"},
    "timezone_ask": {"zone": "Europe/Rome"},
    "timezone_set": {"zone": "Europe/Rome", "now": WHEN},
    "language_set": {},
    "privacy": {
        "name": "Ana <b>",
        "username": "ana",
        "email": "ana@example.com",
        "language": "English",
        "plan": "Plus",
        "state": "active",
        "marketing": "pending",
        "payments": 2,
    },
    "privacy_confirm": {},
    "privacy_erased": {},
    "stale": {},
    "not_possible": {},
    "winback_invalid": {},
    "invite": {
        "link": "https://t.me/forever_bot?start=r_abcdefgh23",
        "referrer_days": 7,
        "referred_days": 1,
        "referred": 3,
        "rewarded": 1,
    },
    "referral_start": {
        "outcome": "member",
        "name": "Ana <b>",
        "partner": None,
        "days": 7,
        "their_days": 3,
    },
    "referral_reward": {
        "name": "Ana <b>",
        "role": "referrer",
        "days": 7,
        "points": 50,
        "until": WHEN,
    },
    "referral_revoked": {"role": "referred", "days": 1, "points": 5, "until": WHEN},
    "winback_offer": {
        "kind": "discount",
        "percent": 40,
        "plan": "Plus",
        "price": 180,
        "regular": 300,
    },
}

BUSINESS = "Forever Yoga Club"
UNSUBSCRIBE = "https://forever.test/u/sample.token"
BOT_URL = "https://t.me/forever_bot"
# What the delivery worker adds to every email's context when it renders it.
_LINKS = {"bot_url": BOT_URL, "account_url": f"{BOT_URL}?start=account", "standing": "new"}

_PERSON = {"business": BUSINESS, "name": "Ana"}
# The product's own sample of each email (what the console's preview shows), for one person,
# with what the tests need besides: a hostile name, real-looking links, the unsubscribe link
# of the marketing ones and an owner's broadcast.
_EMAIL: dict[str, dict] = {name: _PERSON | context for name, context in PREVIEW_SAMPLES.items()}
_EMAIL["consent_confirm"] |= {
    "name": "Ana <script>alert(1)</script>",
    "confirm_url": "https://forever.test/c/sample-token",
}
_EMAIL["trial_ended"]["offer_url"] = "https://t.me/forever_bot?start=wb-1-trial_20-20800-abc"
_EMAIL["winback"]["offer_url"] = "https://t.me/forever_bot?start=wb-1-comeback_40-20800-abc"
for _marketing in ("trial_tips", "trial_ended", "inactive", "winback"):
    _EMAIL[_marketing]["unsubscribe_url"] = UNSUBSCRIBE
_EMAIL["console_broadcast"] = _PERSON | {
    "subject": "New classes in December",
    "body_html": "<p>Twelve <b>new</b> classes start on Monday.</p>",
    "body_text": "Twelve new classes start on Monday.",
    "unsubscribe_url": UNSUBSCRIBE,
}

EMAIL: dict[str, dict] = {name: _LINKS | context for name, context in _EMAIL.items()}
