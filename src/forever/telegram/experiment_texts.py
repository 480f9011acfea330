"""Words staff see about experiments, from the shared `message_templates/chat/_experiments.j2`
(one macro per message, like the other staff texts, in a file of its own), in each locale's
catalog (issue 21)."""

from __future__ import annotations

from typing import Any

from forever.telegram.staff_texts import StaffTexts

EXPERIMENTS_TEMPLATE = "_experiments.j2"


class ExperimentTexts(StaffTexts):
    def module(self, locale: str) -> Any:
        env = self.renderer.env_for(locale)
        template = env.get_template(f"chat/{EXPERIMENTS_TEMPLATE}")
        return template.make_module({"tz": self.renderer.default_zone, "locale": locale})
