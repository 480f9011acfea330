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
