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


def _variants(token: str) -> list[str]:
    body, mac = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # the same bytes with different unused low bits in the body's last character
    last = alphabet.index(body[-1])
    spare_bits = {2: 15, 3: 3}.get(len(body) % 4, 0)
    same_bytes = [
        body[:-1] + alphabet[(last & ~spare_bits) | bits]
        for bits in range(spare_bits + 1)
        if (last & ~spare_bits) | bits != last
    ]
    return [
        f"{body}==.{mac}",  # padding
        f"{body}.{mac}=",
        f"{body}.{mac}\n",  # trailing characters
        f"{body}.{mac} ",
        f"{body}.{mac}.",
        f" {body}.{mac}",
        f"{body}.{mac[:4]}!{mac[4:]}",  # characters base64 would silently skip
        f"{body.replace('-', '+').replace('_', '/')}.{mac.replace('-', '+').replace('_', '/')}",
        *[f"{variant}.{mac}" for variant in same_bytes],
    ]


def test_a_token_is_accepted_in_its_one_canonical_spelling_only() -> None:
    signer = Signer("k" * 32)
    token = signer.sign("confirm", "person:42")  # 9 bytes -> 12 chars, no spare bits
    token2 = signer.sign("confirm", "person:4217")  # 11 bytes -> 15 chars, 2 spare bits
    for good in (token, token2):
        assert signer.verify("confirm", good) in ("person:42", "person:4217")
        for variant in _variants(good):
            if variant == good:
                continue
            with pytest.raises(BadToken):
                signer.verify("confirm", variant)
    compact = signer.sign_compact("winback", "123:discount_30")
    for variant in (compact + "=", compact + "\n", compact[:3] + "!" + compact[3:]):
        with pytest.raises(BadToken):
            signer.verify_compact("winback", variant)
