"""The vocabulary of the event history: every KPI in /stats is computed from these rows.

Writers use these names (services.ports.EventLog); the `data` each carries is listed so
readers (stats, journeys, the sandbox) agree with writers without reading their code.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    SIGNED_UP = "signed_up"  # language
    EMAIL_GIVEN = "email_given"  # (address is on the person, not in the event)
    CONSENT_ASKED = "consent_asked"  # purpose, wording_version
    CONSENT_CONFIRMED = "consent_confirmed"  # purpose
    UNSUBSCRIBED = "unsubscribed"  # source: link | one_click | chat | bounce
    CONSENT_ENDED = "consent_ended"  # purpose, reason: email_changed (not an unsubscribe)
    TRIAL_STARTED = "trial_started"  # plan, days
    PAYMENT = "payment"  # plan, billing, amount, currency, recurring, charge_id, offer
    ACTIVATED = "activated"  # plan, billing (first paid period, or paid again after lapse)
    RENEWED = "renewed"  # plan, billing
    UPGRADE_PROMPTED = "upgrade_prompted"  # from_plan, to_plan, rule: trial_progress | usage
    ADDON_SUGGESTED = "addon_suggested"  # addon, plan, usage (issue 19; shares the prompt cap)
    PLAN_CHANGED = "plan_changed"  # from_plan, to_plan (an upgrade or a downgrade)
    CANCELED = "canceled"  # plan, source: bot | telegram, access_until
    CANCEL_REASON = "cancel_reason"  # reason
    OFFER_SHOWN = "offer_shown"  # offer, reason
    OFFER_ACCEPTED = "offer_accepted"  # offer
    CANCEL_UNDONE = "cancel_undone"  # source: bot | telegram
    PAUSED = "paused"  # months, until
    RESUMED = "resumed"
    PAYMENT_FAILED = "payment_failed"  # plan
    ACCESS_ENDED = "access_ended"  # plan, billing, previous_state, reason (expiry sweep)
    WINBACK_RECOVERED = "winback_recovered"  # plan, days_since_end, offer
    GRANTED = "granted"  # plan, days, by (staff telegram id)
    EMAIL_SENT = "email_sent"  # template, journey, step, marketing
    EMAIL_BOUNCED = "email_bounced"  # code
    BLOCKED_BOT = "blocked_bot"
    USAGE = "usage"  # metric, value (the counter after the increment)
    ERASED = "erased"
    # A payment given back: charge_id, amount, currency, plan, reason (late_charge_after_cancel
    # | replaced_subscription | wrong_payer | wrong_amount | wrong_plan | staff), by (staff id,
    # for staff; None when the payment decision gave it back: domain.payments.RefundReason).
    # Written when the refund is decided, with the outbox row that asks Telegram for it.
    REFUNDED = "refunded"
    # Membership access (issue 17): chat (id), plus reason for removals (ended | paused |
    # plan | stray) and for declines (no_access | unknown).
    CHAT_ACCESS_GIVEN = "chat_access_given"
    CHAT_REMOVAL_QUEUED = "chat_removal_queued"
    CHAT_JOIN_APPROVED = "chat_join_approved"
    CHAT_JOIN_DECLINED = "chat_join_declined"
    CHAT_MEMBER_CHANGED = "chat_member_changed"  # status
    # Referrals (issue 19). REFERRED is the referred person's: by (member | partner), partner
    # (id), referrer (person id). REWARDED and REVOKED are each side's: role (referrer |
    # referred), days, charge_id (the first payment), referred (person id). REFUSED is the
    # referred person's: referrer, charge_id, reason (same_email).
    REFERRED = "referred"
    REFERRAL_REWARDED = "referral_rewarded"
    REFERRAL_REVOKED = "referral_revoked"
    REFERRAL_REWARD_REFUSED = "referral_reward_refused"
