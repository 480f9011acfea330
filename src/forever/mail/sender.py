"""Handing one built message to the SMTP server, and what the server's answer means.

Only SMTP knowledge lives here: whether a refusal is temporary (4xx, a dropped connection: try
again later) or permanent (5xx for the recipient: suppress the address; 5xx for the message:
give it up). What to send, to whom and when is decided before (domain.marketing, the delivery
worker in jobs/).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import aiosmtplib

from forever.mail.message import HeaderInjection, OutgoingMail
from forever.mail.smtp import OnAccepted, SmtpPool, SmtpSecurityError

log = logging.getLogger(__name__)


class Handover(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # temporary: try again later
    BOUNCED = "bounced"  # the recipient is refused for good: suppress the address
    REFUSED = "refused"  # this message is refused for good


@dataclass(frozen=True, slots=True)
class MailResult:
    handover: Handover
    detail: str | None = None


SENT = MailResult(Handover.SENT)


async def hand_over(
    pool: SmtpPool, mail: OutgoingMail, on_accepted: OnAccepted | None = None
) -> MailResult:
    """`on_accepted` runs once the server accepted the mail, before any other mail of the
    pool may be accepted (SmtpPool.send): the place to mark it sent."""
    try:
        await pool.send(mail, on_accepted)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:500]
        if any(code >= 500 for code in codes):
            return MailResult(Handover.BOUNCED, detail)
        return MailResult(Handover.RETRY, detail)
    except aiosmtplib.SMTPDataError as exc:
        detail = f"{exc.code} {exc.message}"[:500]
        if exc.code >= 500:  # the server refuses this message for good
            return MailResult(Handover.REFUSED, detail)
        return MailResult(Handover.RETRY, detail)
    except aiosmtplib.SMTPNotSupported as exc:  # e.g. a Unicode address, no SMTPUTF8
        return MailResult(Handover.REFUSED, str(exc)[:500])
    except SmtpSecurityError as exc:
        log.error("%s", exc)
        return MailResult(Handover.RETRY, str(exc))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        # 4xx answers, refused or dropped connections, timeouts: try again later.
        return MailResult(Handover.RETRY, f"{type(exc).__name__}: {exc}")
    except (ValueError, HeaderInjection) as exc:
        return MailResult(Handover.REFUSED, str(exc)[:500])
    return SENT
