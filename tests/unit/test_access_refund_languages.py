"""The access, refund and experiment texts (issue 21) are shared templates: they speak Russian
and Spanish from the catalogs, with each language's plural forms, as HTML Telegram accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from forever.rendering import TEMPLATES_DIR, Renderer
from forever.sandbox.fake_bot_api.html_entities import parse_html
from forever.telegram.experiment_texts import ExperimentTexts
from tests.template_samples import CHAT

renderer = Renderer()
texts = ExperimentTexts(renderer)
SHARED = [
    "access_counts",
    "access_declined",
    "access_invite",
    "access_reconcile_staff",
    "access_removed",
    "access_rights_lost_staff",
    "access_staff_card",
    "access_staff_not_found",
    "access_staff_resend_button",
    "access_staff_resent",
    "access_staff_usage",
    "refund_failed",
    "refund_failed_staff",
    "refund_made",
]


def text(template: str, locale: str, /, **context: object) -> str:
    plain, _entities = parse_html(renderer.chat(template, locale, **context))  # Telegram accepts it
    return plain


def test_no_locale_keeps_its_own_copy() -> None:
    for locale in ("en", "ro", "it"):
        for name in [*SHARED, "_experiments"]:
            assert not (TEMPLATES_DIR / "chat" / locale / f"{name}.j2").exists(), (locale, name)
            assert (TEMPLATES_DIR / "chat" / f"{name}.j2").is_file()


@pytest.mark.parametrize(
    ("count", "people", "chats"),
    [
        (1, "1 человек в чатах", "1 чат)."),
        (2, "2 человека в чатах", "2 чата)."),
        (5, "5 человек в чатах", "5 чатов)."),
        (21, "21 человек в чатах", "21 чат)."),
    ],
)
def test_russian_counts_take_the_plural_form_of_their_number(
    count: int, people: str, chats: str
) -> None:
    report = text("access_reconcile_staff", "ru", chats=[("Клуб <b>", -1001, count)], total=count)
    assert report.startswith(f"🧹 Проверка доступа: {people} без доступа")
    assert "Клуб <b> (-1001)" in report
    assert text("access_staff_resent", "ru", count=count).endswith(chats)


@pytest.mark.parametrize(
    ("members", "russian", "spanish"),
    [
        (1, "1 участник plus платит", "1 miembro de plus conserva"),
        (2, "2 участника plus платят", "2 miembros de plus conservan"),
        (5, "5 участников plus платят", "5 miembros de plus conservan"),
        (21, "21 участник plus платит", "21 miembros de plus conservan"),
    ],
)
def test_staff_experiment_texts_have_plural_forms(members: int, russian: str, spanish: str) -> None:
    preview = {
        "plan": "plus",
        "members": members,
        "effective_at": datetime(2026, 12, 31, tzinfo=UTC),
        "rows": [{"billing": "monthly", "old": 250, "new": 300, "members": members}],
    }
    ru, _ = parse_html(texts("migrate_preview", "ru", p=preview))
    es, _ = parse_html(texts("migrate_preview", "es", p=preview))
    assert ru.startswith(russian) and es.startswith(spanish)
    assert "/migrateprice plus confirm" in ru and "/migrateprice plus confirm" in es
    days = {1: "1 дня", 2: "2 дней", 5: "5 дней", 21: "21 дня"}[members]
    assert texts("outcome_name", "ru", surface="plan_price", days=members) == (
        f"оплатил в течение {days}"
    )


@pytest.mark.parametrize("locale", ["ru", "es"])
def test_a_refund_and_an_access_note_read_in_the_language(locale: str) -> None:
    refund = text("refund_made", locale, **CHAT["refund_made"])
    removed = text("access_removed", locale, chat_name="Клуб", reason="plan")
    declined = text("access_declined", locale, **CHAT["access_declined"])
    if locale == "ru":
        assert "мы вернули ваш платёж от 1 декабря 2026\u202fг. на 300 ⭐ за Plus." in refund
        assert "Ваш текущий тариф не включает Клуб" in removed
        assert declined.startswith("Мы не смогли впустить вас в Club channel")
    else:
        assert (
            "te reembolsamos el pago de 300 ⭐ por Plus hecho el 1 de diciembre de 2026" in refund
        )
        assert "Tu plan actual no incluye Клуб" in removed
        assert declined.startswith("No pudimos dejarte entrar en Club channel")
    assert "Ana <b>" in refund  # a name is shown as text, not obeyed


@pytest.mark.parametrize("locale", ["ru", "es"])
def test_every_shared_access_and_refund_text_renders(locale: str) -> None:
    for name in SHARED:
        assert text(name, locale, **CHAT[name]), name
