"""SMTP_SECURITY against a real aiosmtpd server with a throwaway certificate: STARTTLS with
login over a reused connection, and implicit TLS."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from forever.config import SmtpSecurity
from forever.mail.message import build_message
from forever.mail.smtp import SmtpConfig, SmtpPool
from tests.smtp_sink import SmtpSink


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    yield cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


class Accounts:
    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login,
            auth_data.password,
        ) == (b"forever", b"s3cret")
        return AuthResult(success=ok)


def mail() -> Any:
    return build_message(
        mail_from="Forever <hello@forever.test>",
        to="ana@example.com",
        subject="Hi",
        html="<html><p>hi</p></html>",
        text="hi",
        key="k",
        date=datetime(2026, 11, 23, tzinfo=UTC),
    )


async def test_starttls_with_login(certificate: tuple[Path, Path]) -> None:
    sink = SmtpSink(
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=Accounts(),
        auth_required=True,
    )
    sink.start()
    pool = SmtpPool(
        SmtpConfig(
            host="127.0.0.1",
            port=sink.port,
            security=SmtpSecurity.STARTTLS,
            username="forever",
            password="s3cret",
            tls_context=client_context(certificate),
        )
    )
    try:
        await pool.send(mail())
        await pool.send(mail())  # the same connection, reused
    finally:
        await pool.close()
        sink.stop()
    assert len(sink.received) == 2


async def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    sink = SmtpSink(ssl_context=server_context(certificate))
    sink.start()
    pool = SmtpPool(
        SmtpConfig(
            host="127.0.0.1",
            port=sink.port,
            security=SmtpSecurity.TLS,
            tls_context=client_context(certificate),
        )
    )
    try:
        await pool.send(mail())
    finally:
        await pool.close()
        sink.stop()
    assert len(sink.received) == 1
