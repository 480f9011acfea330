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


def test_the_extra_days_reward_says_one_day_in_the_singular() -> None:
    labels = Labels()
    assert labels.redeem_days("en", 1, 50) == "1 extra day · 50 points"
    assert labels.redeem_days("en", 7, 100) == "7 extra days · 100 points"
    assert labels.redeem_days("ro", 1, 50) == "1 zi în plus · 50 puncte"
    assert labels.redeem_days("ro", 7, 100) == "7 zile în plus · 100 puncte"
    assert labels.redeem_days("it", 1, 50) == "1 giorno in più · 50 punti"
    assert labels.redeem_days("it", 7, 100) == "7 giorni in più · 100 punti"
