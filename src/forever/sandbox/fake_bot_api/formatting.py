"""Turn a (text, parse_mode, entities) triple of a request into what Telegram stores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ApiError, bad_request
from .html_entities import (
    EntityParseError,
    Span,
    entities_to_spans,
    normalize,
    parse_html,
    spans_to_entities,
    to_html,
)

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024


@dataclass(frozen=True)
class FormattedText:
    text: str
    entities: tuple[dict[str, Any], ...]
    html: str

    @property
    def entity_list(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self.entities]


EMPTY = FormattedText("", (), "")


def format_text(
    text: str,
    parse_mode: str | None,
    entities: list[dict[str, Any]] | None,
    *,
    is_caption: bool = False,
) -> FormattedText:
    """Parse and check message text or a caption the way Telegram does, or raise ApiError."""
    try:
        if entities:
            # Telegram ignores parse_mode when explicit entities are given.
            spans = entities_to_spans(text, entities)
            plain = text
        else:
            plain, spans = _parse(text, parse_mode)
        plain, spans = normalize(plain, spans, allow_empty=is_caption)
    except EntityParseError as error:
        if str(error) == "Message must be non-empty":
            raise bad_request("message must be non-empty") from error
        raise bad_request(f"can't parse entities: {error}") from error
    limit = MAX_CAPTION_LENGTH if is_caption else MAX_TEXT_LENGTH
    # Telegram counts characters (code points) after entity parsing.
    if len(plain) > limit:
        raise bad_request("message caption is too long" if is_caption else "message is too long")
    return FormattedText(plain, tuple(spans_to_entities(plain, spans)), to_html(plain, spans))


def _parse(text: str, parse_mode: str | None) -> tuple[str, list[Span]]:
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return text, []
    if mode == "html":
        return parse_html(text)
    if mode in ("markdownv2", "markdown"):
        raise ApiError(
            400,
            f"Bad Request: parse_mode {parse_mode} is not supported by the Forever fake Bot API "
            "test double (Telegram accepts it); use parse_mode HTML",
        )
    raise bad_request("unsupported parse_mode")
