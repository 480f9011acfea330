"""Account, points and promo chat texts (issue 21) in Russian and Spanish: one shared
template each, the catalog's plural forms for every count (Russian 1 / 2 / 5 / 21), and HTML
Telegram accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from forever.rendering import Renderer
from forever.sandbox.fake_bot_api.html_entities import parse_html

WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
RU_DAYS = {1: "1 день", 2: "2 дня", 5: "5 дней", 21: "21 день"}
RU_POINTS = {1: "1 балл", 2: "2 балла", 5: "5 баллов", 21: "21 балл"}
ES_DAYS = {1: "1 día", 2: "2 días", 5: "5 días", 21: "21 días"}
RU_DATE = "1 декабря 2026\u202fг."  # CLDR: a narrow no-break space before "г."
ES_POINTS = {1: "1 punto", 2: "2 puntos", 5: "5 puntos", 21: "21 puntos"}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def chat(renderer: Renderer, template: str, locale: str, /, **context: object) -> str:
    html = renderer.chat(template, locale, **context)
    text, _ = parse_html(html)  # raises on HTML Telegram would refuse
    return text


def account(renderer: Renderer, locale: str, expiring: int) -> str:
    membership = chat(
        renderer,
        "account",
        locale,
        note=None,
        name="Ana",
        plan="Plus",
        state="active",
        billing="monthly",
        until=WHEN,
        paused_until=None,
        renews=True,
        renewal_price=210,
        email=None,
        trial_available=False,
    )
    points = {
        "balance": 150,
        "expiring": {"points": expiring, "by": WHEN},
        "entries": [{"kind": "earn", "amount": 10, "reason": "paid_month", "at": WHEN}],
    }
    return membership + "\n\n" + chat(renderer, "account_points", locale, points=points)


def points(renderer: Renderer, locale: str, n: int) -> str:
    return chat(
        renderer,
        "points",
        locale,
        enabled=True,
        balance=n,
        expiring=None,
        entries=[],
        rewards=[{"name": None, "days": n, "points": n}],
    )


def promo(renderer: Renderer, locale: str, days: int) -> str:
    return chat(
        renderer,
        "promo",
        locale,
        outcome="applied",
        kind="days",
        code="SPRING<20>",
        days=days,
        plan="Plus",
        plans=[],
        percent=None,
        until=WHEN,
    )


@pytest.mark.parametrize("n", [1, 2, 5, 21])
def test_russian_account_points_and_promo_plurals(renderer: Renderer, n: int) -> None:
    text = account(renderer, "ru", n)
    assert "Ваша подписка" in text and "Статус: активна" in text
    assert f"Продление: {RU_DATE}, затем 210 ⭐ каждые 30 дней" in text
    assert "Эл. почта: не указана (/email)" in text
    assert f"({n} {'сгорит' if n in (1, 21) else 'сгорят'} до {RU_DATE})" in text
    assert "начислено +10 (оплаченный месяц подписки)" in text
    extra = {1: "дополнительный день", 2: "дополнительных дня", 5: "дополнительных дней"}
    listed = points(renderer, "ru", n)
    assert f"• {n} {extra.get(n % 10 if n > 20 else n)} подписки: {RU_POINTS[n]}" in listed
    assert f"Ваши баллы: {n}" in listed
    assert promo(renderer, "ru", n) == (
        f"Код SPRING<20> применён: +{RU_DAYS[n]}. "
        f"Доступ к тарифу Plus теперь действует до {RU_DATE}"
    )


@pytest.mark.parametrize("n", [1, 2, 5, 21])
def test_spanish_account_points_and_promo_plurals(renderer: Renderer, n: int) -> None:
    text = account(renderer, "es", n)
    assert "Tu membresía" in text and "Estado: activa" in text
    assert "Próxima renovación: 1 de diciembre de 2026, luego 210 ⭐ cada 30 días" in text
    assert f"({n} {'vence' if n == 1 else 'vencen'} el 1 de diciembre de 2026)" in text
    listed = points(renderer, "es", n)
    extra = "día más" if n == 1 else "días más"
    assert f"• {n} {extra} de membresía: {ES_POINTS[n]}" in listed
    assert promo(renderer, "es", n).startswith(
        f"Código SPRING<20> aplicado: {ES_DAYS[n]} más. Tu acceso a Plus ahora dura hasta el"
    )


@pytest.mark.parametrize("locale", ["ru", "es"])
def test_the_converted_texts_have_no_copy_per_locale(renderer: Renderer, locale: str) -> None:
    """The shared template serves every locale (no chat/<locale>/ copy is left)."""
    from forever.rendering import TEMPLATES_DIR

    for name in ("account", "account_points", "account_wallet", "points", "promo", "shop"):
        for loc in ("en", "ro", "it", locale):
            assert not (TEMPLATES_DIR / "chat" / loc / f"{name}.j2").exists()
        assert (TEMPLATES_DIR / "chat" / f"{name}.j2").exists()


def test_redeemed_points_left_use_russian_plural_forms(renderer: Renderer) -> None:
    def left(balance: int) -> str:
        return chat(
            renderer,
            "points_redeemed",
            "ru",
            outcome="done",
            name="Coaching",
            days=None,
            cost=100,
            balance=balance,
            until=None,
        )

    assert left(1) == "Готово! Теперь у вас есть Coaching. У вас остался 1 балл."
    assert left(2).endswith("У вас осталось 2 балла.")
    assert left(5).endswith("У вас осталось 5 баллов.")
    assert left(21).endswith("У вас остался 21 балл.")
