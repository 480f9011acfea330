"""The languages the bot speaks (templates exist for each)."""

LOCALES = ("en", "ro", "it")
