"""A small pool of persistent SMTP connections over aiosmtplib.

Connections are opened on first use and kept; one idle for a while is checked with NOOP
before use (servers close idle sessions) and replaced if it is gone. A failure during a send
discards that connection; the caller decides whether to retry the message.

The point of no return of a mail is the end of its DATA (the lone "." line): once the server
has it, the mail is delivered whatever happens to us. Everything before (MAIL FROM, RCPT TO,
the message body) overlaps freely across the connections, but the pool lets only one mail at
a time past that point, and keeps the next one waiting until the caller's `on_accepted` (the
durable "sent" mark) has returned. So a crash at any instant can repeat at most one mail of
this process: the one accepted but not yet marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiosmtplib
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from forever.config import Settings, SmtpSecurity
from forever.mail.message import OutgoingMail

log = logging.getLogger(__name__)

IDLE_CHECK_SECONDS = 30.0
START_INPUT = 354
COMPLETED = 250

# Called once the server has accepted a mail, while no other mail of the pool may end its
# DATA; it must not raise.
OnAccepted = Callable[[], Awaitable[None]]


class SmtpSecurityError(aiosmtplib.SMTPException):
    """The server does not offer what SMTP_SECURITY demands: we refuse to send in clear."""


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    pool_size: int = 4
    tls_context: ssl.SSLContext | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> SmtpConfig:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        values: dict[str, object] = {
            "host": settings.smtp_host,
            "port": settings.smtp_port,
            "security": settings.smtp_security,
            "username": settings.smtp_username or None,
            "password": password,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


class _Connection:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.client: aiosmtplib.SMTP | None = None
        self.last_used = 0.0

    async def ensure_open(self, now: float) -> aiosmtplib.SMTP:
        client = self.client
        if client is not None and client.is_connected:
            if now - self.last_used < IDLE_CHECK_SECONDS:
                return client
            try:
                await client.noop()
                return client
            except (aiosmtplib.SMTPException, OSError):
                await self.close()
        self.client = await _open(self.config)
        return self.client

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()


async def _open(config: SmtpConfig) -> aiosmtplib.SMTP:
    client = aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        use_tls=config.security is SmtpSecurity.TLS,
        start_tls=False,  # decided below, never silently skipped
        timeout=config.timeout,
        tls_context=config.tls_context,
    )
    await client.connect()
    try:
        if config.security is SmtpSecurity.STARTTLS:
            await client.ehlo()
            if not client.supports_extension("starttls"):
                raise SmtpSecurityError(
                    "SMTP_SECURITY=starttls but the server does not offer STARTTLS; "
                    "refusing to send in clear text"
                )
            await client.starttls(tls_context=config.tls_context)
        if config.username:
            await client.login(config.username, config.password or "")
    except BaseException:
        client.close()
        raise
    return client


class SmtpPool:
    """`async with pool.connection() as smtp` lends one connection; `send` is the usual use."""

    def __init__(self, config: SmtpConfig) -> None:
        if config.pool_size < 1:
            raise ValueError("an SMTP pool needs at least one connection")
        self.config = config
        self._idle: asyncio.LifoQueue[_Connection] = asyncio.LifoQueue()
        self._all = [_Connection(config) for _ in range(config.pool_size)]
        for connection in self._all:
            self._idle.put_nowait(connection)
        # Only one mail at a time past the end of DATA until its sender has marked it sent.
        self._final = asyncio.Lock()

    @property
    def size(self) -> int:
        return self.config.pool_size

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[aiosmtplib.SMTP]:
        conn = await self._idle.get()
        loop = asyncio.get_running_loop()
        try:
            client = await conn.ensure_open(loop.time())
            try:
                yield client
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError):
                await conn.close()  # the session is in an unknown state: start afresh
                raise
            conn.last_used = loop.time()
        finally:
            self._idle.put_nowait(conn)

    async def send(self, mail: OutgoingMail, on_accepted: OnAccepted | None = None) -> None:
        """One mail transaction. Raises what aiosmtplib raises (SMTPRecipientsRefused,
        SMTPDataError, ...); returns once the server accepted the mail and `on_accepted` ran."""
        async with self.connection() as client:
            await self._transact(client, mail, on_accepted)

    async def _transact(
        self, client: aiosmtplib.SMTP, mail: OutgoingMail, on_accepted: OnAccepted | None
    ) -> None:
        if client.is_ehlo_or_helo_needed:  # the extensions below are known after EHLO
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        options = ["SMTPUTF8"] if mail.smtputf8 else []
        encoding = "utf-8" if mail.smtputf8 else "ascii"
        if mail.smtputf8 and not client.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server")
        data = normalize_message_line_endings(mail.data)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        if client.supports_extension("size"):
            options.insert(0, f"size={len(data)}")
        try:
            await client.mail(mail.sender, options=options, encoding=encoding)
            try:
                await client.rcpt(mail.recipient, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as refused:
                raise aiosmtplib.SMTPRecipientsRefused([refused]) from None
            start = await client.execute_command(b"DATA")
            if start.code != START_INPUT:
                raise aiosmtplib.SMTPDataError(start.code, start.message)
            protocol = client.protocol
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("Connection lost")
            protocol.write(PERIOD_REGEX.sub(b"..", data))  # all but the final "."
            async with self._final:
                done = await client.execute_command(b".")
                if done.code != COMPLETED:
                    raise aiosmtplib.SMTPDataError(done.code, done.message)
                if on_accepted is not None:
                    try:
                        await on_accepted()
                    except Exception:  # the mail is gone: never report it as failed
                        log.exception("after the SMTP server accepted a mail")
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            # Reset the envelope for the connection's next mail.
            with contextlib.suppress(ConnectionError, aiosmtplib.SMTPException):
                await client.rset()
            raise

    async def close(self) -> None:
        for connection in self._all:
            await connection.close()
