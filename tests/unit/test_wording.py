"""Wording a reader notices: a button named in a text is the button's own label, and plan
names inside sentences keep the sentence's grammar (issue 13, item 10)."""

import pytest

from forever.config import LOCALES
from forever.rendering import Renderer
from forever.telegram.labels import Labels
from tests.template_samples import CHAT, EMAIL

renderer = Renderer()
labels = Labels()

# Plan names as the catalog has them, where they read worst inside a sentence.
PLAN_NAMES = {"en": "Basic", "ro": "De bază", "it": "Base"}


@pytest.mark.parametrize("locale", LOCALES)
def test_cancel_email_names_the_keep_button_exactly(locale: str) -> None:
    _subject, html, text = renderer.email("cancel_confirmed", locale, **EMAIL["cancel_confirmed"])
    keep = labels(locale, "keep")
    assert keep in text
    assert keep in html


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ("offer", "plan"),
        ("winback_offer", "plan"),
    ],
)
def test_plan_names_stand_alone_inside_chat_sentences(template: str, field: str) -> None:
    ro = renderer.chat(template, "ro", **(CHAT[template] | {field: PLAN_NAMES["ro"]}))
    assert "<b>De bază</b>" in ro
    assert "lună de <b>" not in ro and " de <b>De bază" not in ro
    it = renderer.chat(template, "it", **(CHAT[template] | {field: PLAN_NAMES["it"]}))
    assert "<b>Base</b>" in it
    assert "mese di <b>" not in it and " di <b>Base" not in it


@pytest.mark.parametrize("part", [1, 2])
def test_plan_names_stand_alone_inside_email_sentences(part: int) -> None:
    sample = EMAIL["renewal_upcoming"] | {"plan_name": PLAN_NAMES["ro"]}
    ro = renderer.email("renewal_upcoming", "ro", **sample)[part]
    assert "de De bază" not in ro
    assert "planul „De bază”" in ro
    sample = EMAIL["renewal_upcoming"] | {"plan_name": PLAN_NAMES["it"]}
    it = renderer.email("renewal_upcoming", "it", **sample)[part]
    assert "anno di Base" not in it
    assert "piano «Base»" in it
