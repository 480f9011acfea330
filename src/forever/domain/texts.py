"""Owner overrides of catalog texts (issues 20 and 21): the checks a text passes before it
replaces a catalog message, as the catalogs' own test checks a translation.

A text must use exactly the placeholders of its source message id (`%(name)s` in templates,
`{name}` in buttons) and be HTML that Telegram accepts in a chat message (the tags of its
parse_mode HTML, closed in order; a bare < written &lt;). The reasons are console texts
(`lazy`), shown in the owner's language."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from forever.domain.lazy_text import Lazy, lazy, lazy_plural
from forever.domain.locales import LOCALES as LOCALES  # the languages texts exist in

MAX_TEXT = 4096
MAX_COMMAND = 256  # Telegram's BotCommand description: 1-256 characters

_PERCENT = re.compile(r"%\((\w+)\)[sd]")
_BRACES = re.compile(r"\{(\w+)\}")
_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "tg-spoiler", "span", "blockquote", "tg-emoji",
}  # fmt: skip


def placeholders(text: str) -> set[str]:
    return set(_PERCENT.findall(text)) | set(_BRACES.findall(text))


class _Check(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.error: Lazy | None = None

    def _fail(self, message: Lazy) -> None:
        self.error = self.error or message

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag not in _TAGS:
            self._fail(lazy("Telegram does not know the tag %(tag)s.", tag="<" + tag + ">"))
        elif tag == "span" and names.get("class") != "tg-spoiler":
            self._fail(lazy("Only %(tag)s is allowed.", tag='<span class="tg-spoiler">'))
        self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._fail(
            lazy(
                "%(tag)s is not allowed: Telegram needs an opening and a closing tag.",
                tag="<" + tag + "/>",
            )
        )

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self._fail(lazy("%(tag)s does not close the tag opened last.", tag="</" + tag + ">"))
            return
        self.open.pop()

    def unknown_decl(self, data: str) -> None:
        self._fail(lazy("Declarations are not allowed."))


def html_error(text: str) -> Lazy | None:
    """Why Telegram would refuse `text` as an HTML chat message, or None."""
    if re.search(r"<(?![a-zA-Z/])", text):
        return lazy("A bare %(lt)s is not allowed: write %(entity)s.", lt="<", entity="&lt;")
    check = _Check()
    check.feed(text)
    check.close()
    if check.error:
        return check.error
    if check.open:
        return lazy("%(tag)s is never closed.", tag="<" + check.open[-1] + ">")
    return None


def text_error(
    source: str, text: str, *, percent: bool = True, limit: int = MAX_TEXT
) -> Lazy | None:
    """Why `text` may not replace the catalog message `source`, or None (`percent`: the
    text is %-formatted, as every template message is, so a lone % must be written %%)."""
    if not text.strip():
        return lazy("The text is empty: use the catalog text instead.")
    if len(text) > limit:
        return too_long(limit, len(text))
    want, got = placeholders(source), placeholders(text)
    if want != got:
        return _placeholder_error(want, got)
    return _format_error(text, percent)


def plural_error(source: str, source_plural: str, text: str, *, last: bool) -> Lazy | None:
    """Why `text` may not be one plural form of the catalog message (`source`,
    `source_plural`), or None. As the catalogs' test allows, a form may leave a placeholder
    out (Romanian writes "o zi" for 1) but never add one; the last form (the one most
    numbers take) keeps them all."""
    if not text.strip():
        return lazy("The text is empty: use the catalog text instead.")
    if len(text) > MAX_TEXT:
        return too_long(MAX_TEXT, len(text))
    want, got = placeholders(source) | placeholders(source_plural), placeholders(text)
    if not got <= want or (last and got != want):
        return _placeholder_error(want, got)
    return _format_error(text, True)


def too_long(limit: int, now: int) -> Lazy:
    return lazy_plural(
        "At most %(num)s character (%(now)s now).",
        "At most %(num)s characters (%(now)s now).",
        limit,
        now=now,
    )


def _placeholder_error(want: set[str], got: set[str]) -> Lazy:
    missing = ", ".join(sorted(want - got))
    extra = ", ".join(sorted(got - want))
    allowed = ", ".join(sorted(want))
    if not allowed:
        return lazy(
            "Placeholders must match the source (unknown %(extra)s). Allowed: none.", extra=extra
        )
    if missing and extra:
        return lazy(
            "Placeholders must match the source (missing %(missing)s; unknown %(extra)s). "
            "Allowed: %(allowed)s.",
            missing=missing,
            extra=extra,
            allowed=allowed,
        )
    if missing:
        return lazy(
            "Placeholders must match the source (missing %(missing)s). Allowed: %(allowed)s.",
            missing=missing,
            allowed=allowed,
        )
    return lazy(
        "Placeholders must match the source (unknown %(extra)s). Allowed: %(allowed)s.",
        extra=extra,
        allowed=allowed,
    )


def _format_error(text: str, percent: bool) -> Lazy | None:
    if percent and "%" in _PERCENT.sub("", text).replace("%%", ""):
        return lazy(
            "Write %(double)s for a percent sign (a lone %(single)s breaks the message).",
            double="%%",
            single="%",
        )
    return html_error(text)
