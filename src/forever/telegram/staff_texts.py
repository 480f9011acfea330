"""Words staff see, from `message_templates/chat/_staff.j2` (one macro per message).

Staff messages are many and short, so they live as macros in one file instead of one file
each. The file is shared by every language (issue 21): its texts are message ids, translated
in the gettext catalogs; the renderer finds it as it finds any chat template (a per-locale
copy `chat/<locale>/_staff.j2` would win). Tests render every macro in every language.
"""

from __future__ import annotations

from typing import Any

from forever.rendering import Renderer

STAFF_TEMPLATE = "_staff.j2"


class StaffTexts:
    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def module(self, locale: str) -> Any:
        template, speaks = self.renderer.find("chat", locale, STAFF_TEMPLATE)
        return template.make_module({"tz": self.renderer.default_zone, "locale": speaks})

    def __call__(self, key: str, locale: str, /, **context: Any) -> str:
        macro = getattr(self.module(locale), key)
        return str(macro(**context)).strip()

    def names(self, locale: str) -> list[str]:
        module = self.module(locale)
        return sorted(
            n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))
        )
