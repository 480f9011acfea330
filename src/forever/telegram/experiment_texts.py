"""Words staff see about experiments, from `message_templates/chat/<locale>/_experiments.j2`
(one macro per message, like the other staff texts, in a file of its own)."""

from __future__ import annotations

from typing import Any

from forever.telegram.staff_texts import StaffTexts

EXPERIMENTS_TEMPLATE = "_experiments.j2"


class ExperimentTexts(StaffTexts):
    def module(self, locale: str) -> Any:
        template, speaks = self.renderer.find("chat", locale, EXPERIMENTS_TEMPLATE)
        return template.make_module({"tz": self.renderer.default_zone, "locale": speaks})
