import pytest

from forever.domain.signing import BadToken, Signer, email_hash


def test_round_trip_and_purpose_separation() -> None:
    signer = Signer("k" * 32)
    token = signer.sign("unsubscribe", "42")
    assert signer.verify("unsubscribe", token) == "42"
    with pytest.raises(BadToken):
        signer.verify("confirm", token)  # same key, other purpose
    with pytest.raises(BadToken):
        Signer("other-key" * 4).verify("unsubscribe", token)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "%%%.%%%", "NDI.AAAAAAAAAAAAAAAA"])
def test_garbage_and_tampering_are_refused(token: str) -> None:
    with pytest.raises(BadToken):
        Signer("k" * 32).verify("unsubscribe", token)


def test_changing_the_body_breaks_the_signature() -> None:
    signer = Signer("k" * 32)
    _body, mac = signer.sign("p", "person:1").split(".")
    forged = signer.sign("p", "person:2").split(".")[0] + "." + mac
    with pytest.raises(BadToken):
        signer.verify("p", forged)


def test_email_hash_ignores_case_and_spaces() -> None:
    assert email_hash(" Ana@Example.com ") == email_hash("ana@example.com")


def test_compact_tokens_fit_a_telegram_start_parameter() -> None:
    import re

    signer = Signer("k" * 32)
    token = signer.sign_compact("winback", "123:discount_30")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", token)
    assert signer.verify_compact("winback", token) == "123:discount_30"
    with pytest.raises(BadToken):
        signer.verify_compact("unsubscribe", token)
    with pytest.raises(BadToken):
        signer.verify_compact("winback", token[:-1] + ("A" if token[-1] != "A" else "B"))
    with pytest.raises(BadToken):
        signer.verify_compact("winback", "short")
