"""The console's pure rules: roles, tokens, session expiry; the CSV and heat-map helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forever.domain import console
from forever.web.console_dashboard import heat, parse_days, to_csv

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_roles_and_what_they_may_do() -> None:
    assert console.role_of(1, {1}, {1, 2}) == console.OWNER  # an owner listed twice is owner
    assert console.role_of(2, {1}, {2}) == console.SUPPORT
    assert console.role_of(3, {1}, {2}) is None
    assert all(console.may(console.OWNER, a) for a in console.ALLOWED[console.OWNER])
    support = {a for a in console.ALLOWED[console.OWNER] if console.may(console.SUPPORT, a)}
    assert support == {console.READ, console.INBOX, console.GRANT}


def test_tokens_are_random_and_kept_as_hashes() -> None:
    a, b = console.new_token(), console.new_token()
    assert a != b and len(a) >= 40
    assert console.token_hash(a) != a and len(console.token_hash(a)) == 64
    assert console.csrf_ok(a, console.csrf_token(a))
    assert not console.csrf_ok(a, console.csrf_token(b))


def test_sessions_expire_when_idle_or_old() -> None:
    assert console.session_alive(T0, T0, T0 + timedelta(minutes=29))
    assert not console.session_alive(T0, T0, T0 + timedelta(minutes=30))
    late = T0 + timedelta(hours=12)
    assert not console.session_alive(T0, late - timedelta(minutes=1), late)


def test_csv_quotes_what_a_spreadsheet_would_run() -> None:
    body = to_csv(["a", "b"], [["=HYPERLINK(1)", 3], ["", "-x"], ["plain", "@me"]])
    assert body == "a,b\r\n'=HYPERLINK(1),3\r\n,'-x\r\nplain,'@me\r\n"


def test_heat_keeps_text_readable_and_days_are_checked() -> None:
    assert "color:#ffffff" in heat(1.0) and "color:#1b1b1b" in heat(0.0)
    assert "#f2f2f2" in heat(None)
    assert [parse_days(x) for x in ("", None, "7", "3650", "0", "3651", "1e3", " 9 ")] == [
        30,
        30,
        7,
        3650,
        None,
        None,
        None,
        9,
    ]
