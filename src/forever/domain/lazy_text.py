"""Texts made where no language is known yet, translated where they are shown (issue 21).

A console service or handler says `lazy("At most %(num)d characters.", num=100)`: the value is
the English text (a `str`, so logs and tests read it as before) and keeps its message id and
values; the console's page environment shows it in the reader's language. `make i18n`
extracts `lazy(...)` ids from the console's Python modules (babel.cfg), in the message context
`CONSOLE`, like every console template message; `lazy_plural(one, many, num)` takes the
plural form the reader's language uses for `num`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CONSOLE = "console"  # the message context of the owner console's own texts
SANDBOX = "sandbox"  # the message context of the sandbox page (forever.sandbox)


class Lazy(str):
    """English now; `translated(pgettext, npgettext)` in another language later."""

    msgid: str
    values: dict[str, Any]
    plural: str  # a count's message: the English plural ("" for none)

    def __new__(cls, msgid: str, /, **values: Any) -> Lazy:
        made = super().__new__(cls, msgid % values if values else msgid)
        made.msgid = msgid
        made.values = values
        made.plural = ""
        return made

    def translated(
        self,
        pgettext: Callable[[str, str], str],
        npgettext: Callable[[str, str, str, int], str] | None = None,
    ) -> str:
        if self.plural and npgettext is not None:
            text = npgettext(CONSOLE, self.msgid, self.plural, self.values["num"])
        else:
            text = pgettext(CONSOLE, self.msgid)
        return text % self.values if self.values else text


def lazy(msgid: str, /, **values: Any) -> Lazy:
    """A console text: `msgid` with `%(name)s` placeholders, filled from `values`."""
    return Lazy(msgid, **values)


def lazy_plural(singular: str, plural: str, num: int, /, **values: Any) -> Lazy:
    """A console text about `num` things: the catalog's plural form for `num` (`%(num)s`)."""
    made = Lazy(singular if num == 1 else plural, num=num, **values)
    made.msgid, made.plural = singular, plural
    return made
