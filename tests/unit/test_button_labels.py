"""Button labels exist in every locale with the same keys and fit Telegram's 64 characters."""

from forever.config import LOCALES
from forever.telegram.labels import Labels


def test_every_locale_has_every_label_within_telegram_limits() -> None:
    labels = Labels()
    keys = labels.keys("en")
    for locale in LOCALES:
        assert labels.keys(locale) == keys, locale
        for key in keys:
            text = labels(
                locale,
                key,
                plan="Plus",
                price="300 ⭐",
                percent=30,
                months="2",
                n=2,
                zone="America/Argentina/ComodRivadavia",
                name="Sessione di coaching",  # points rewards (issue 19)
                points=100000,
                days=366,
            )
            assert 1 <= len(text) <= 64


def test_the_reward_buttons_use_the_plural_forms_of_both_counts() -> None:
    labels = Labels()
    assert labels.redeem_days("en", 1, 1) == "1 extra day · 1 point"
    assert labels.redeem_days("en", 7, 100) == "7 extra days · 100 points"
    assert labels.redeem_days("ro", 1, 50) == "o zi în plus · 50 de puncte"
    assert labels.redeem_days("ro", 7, 19) == "7 zile în plus · 19 puncte"
    assert labels.redeem_days("it", 1, 50) == "1 giorno in più · 50 punti"
    assert labels.redeem_days("it", 7, 100) == "7 giorni in più · 100 punti"
    assert labels.redeem_days("ru", 21, 2) == "21 дополнительный день · 2 балла"
    assert labels.redeem_days("ru", 5, 21) == "5 дополнительных дней · 21 балл"
    assert labels.redeem_days("es", 2, 1) == "2 días extra · 1 punto"
    assert labels.redeem_addon("ro", "Sesiune de coaching", 300) == (
        "Sesiune de coaching · 300 de puncte"
    )
    assert len(labels.redeem_addon("en", "x" * 80, 100000)) == 64
