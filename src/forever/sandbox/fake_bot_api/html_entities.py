"""Telegram's HTML parse mode: HTML -> plain text + MessageEntity list, and back.

The parser follows the behaviour of TDLib's ``parse_html`` (which the Bot API server uses), so
that markup Telegram refuses is refused here with the same wording, and accepted markup yields
the same text and entities. Offsets and lengths of the returned entities are in UTF-16 code
units, as in the Bot API; internally spans are kept in code points until the very end.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlsplit

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
}
# Entities that carry data of their own and survive even when covering only whitespace.
_HIDDEN_DATA = frozenset({"text_link", "text_mention", "custom_emoji", "date_time"})
_SPACES = frozenset(" \t\r\n\v\f\0")
_PLAIN_RUN = re.compile(r"[^<&]+")  # text with no tag and no character reference in it
_TRIMMED = frozenset(" \n")
# Characters Telegram silently removes from message text (bidi overrides, separators, and
# some combining vertical lines).
_REMOVED = frozenset(chr(c) for c in (*range(0x2028, 0x202F), 0x0333, 0x033F, 0x030A))
# A character `normalize` removes or replaces: control characters but the newline, and the above.
_NEEDS_FIXING = re.compile("[\x00-\x09\x0b-\x1f" + re.escape("".join(sorted(_REMOVED))) + "]")
_LINK_SCHEMES = frozenset({"http", "https", "tg", "ton", "tonsite"})
# Order used to sort entities that start at the same offset and have the same length.
_TYPE_ORDER = {
    name: i
    for i, name in enumerate(
        (
            "blockquote",
            "expandable_blockquote",
            "pre",
            "code",
            "text_link",
            "text_mention",
            "custom_emoji",
            "date_time",
            "bold",
            "italic",
            "underline",
            "strikethrough",
            "spoiler",
        )
    )
}


class EntityParseError(ValueError):
    """Markup Telegram would refuse with "can't parse entities: <message>"."""


@dataclass
class Span:
    """An entity during processing: [start, end) in code points, plus its extra fields."""

    type: str
    start: int
    end: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _OpenTag:
    name: str
    attributes: dict[str, str]
    start: int


# -- UTF-16 helpers ----------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _utf16_prefix(text: str) -> list[int]:
    """prefix[i] = UTF-16 length of text[:i]."""
    if text.isascii() or utf16_len(text) == len(text):
        return list(range(len(text) + 1))
    prefix = [0] * (len(text) + 1)
    for i, char in enumerate(text):
        prefix[i + 1] = prefix[i] + (2 if ord(char) > 0xFFFF else 1)
    return prefix


def spans_to_entities(text: str, spans: list[Span]) -> list[dict[str, Any]]:
    prefix = _utf16_prefix(text)
    ordered = sorted(
        spans, key=lambda s: (s.start, -(s.end - s.start), _TYPE_ORDER.get(s.type, 99))
    )
    return [
        {
            "type": s.type,
            "offset": prefix[s.start],
            "length": prefix[s.end] - prefix[s.start],
            **s.extra,
        }
        for s in ordered
    ]


def entities_to_spans(text: str, entities: list[dict[str, Any]]) -> list[Span]:
    """Convert Bot API entities (UTF-16) to spans; raise EntityParseError when out of range."""
    prefix = _utf16_prefix(text)
    total = prefix[-1]
    index_of = {units: i for i, units in enumerate(prefix)}
    spans: list[Span] = []
    for entity in entities:
        offset, length = entity["offset"], entity["length"]
        if offset < 0 or length < 0:
            raise EntityParseError(f"Receive an entity with incorrect offset {offset}")
        if offset + length > total:
            raise EntityParseError(
                f"Entity beginning at UTF-16 offset {offset} ends after the end of the text "
                f"at UTF-16 offset {offset + length}"
            )
        if offset not in index_of or offset + length not in index_of:
            raise EntityParseError(f"Entity at UTF-16 offset {offset} splits a surrogate pair")
        extra = {k: v for k, v in entity.items() if k not in ("type", "offset", "length")}
        spans.append(Span(entity["type"], index_of[offset], index_of[offset + length], extra))
    return spans


# -- HTML -> text + spans ----------------------------------------------------------------------


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_entity(source: str, pos: int) -> tuple[str, int] | None:
    """Decode the character reference at source[pos] == "&"; None if it is not one."""
    end = pos + 1
    n = len(source)
    if end < n and source[end] == "#":
        end += 1
        code = 0
        if end < n and source[end] == "x":
            end += 1
            while end < n and source[end] in "0123456789abcdefABCDEF":
                code = code * 16 + int(source[end], 16)
                end += 1
        else:
            while end < n and source[end].isascii() and source[end].isdigit():
                code = code * 10 + int(source[end])
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None
        char = chr(code)
    else:
        while end < n and source[end].isascii() and source[end].isalpha():
            end += 1
        named = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(source[pos + 1 : end])
        if named is None:
            return None  # unknown named entities stay in the text as typed
        char = named
    if end < n and source[end] == ";":
        end += 1
    return char, end


class _HtmlParser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.n = len(source)
        self.out: list[str] = []  # the text, in pieces
        self.length = 0  # characters in `out`: where the next span starts or ends
        self.spans: list[Span] = []
        self.stack: list[_OpenTag] = []

    def char(self, i: int) -> str:
        return self.source[i] if i < self.n else "\0"

    def fail(self, message: str) -> EntityParseError:
        return EntityParseError(message)

    def parse(self) -> tuple[str, list[Span]]:
        i = 0
        while i < self.n:
            c = self.source[i]
            if c == "&":
                decoded = _decode_entity(self.source, i)
                if decoded is not None:
                    char, i = decoded
                    if 0xD800 <= ord(char) <= 0xDFFF:
                        raise self.fail(
                            "Text contains invalid Unicode characters after decoding HTML "
                            "entities, check for unmatched surrogate code units"
                        )
                    self._emit(char)
                    continue
            if c != "<":
                # Plain text up to the next tag or reference, in one piece ("&" that is no
                # reference stays as typed, alone).
                run = _PLAIN_RUN.match(self.source, i)
                end = run.end() if run is not None else i + 1
                self._emit(self.source[i:end])
                i = end
                continue
            i = self._end_tag(i) if self.char(i + 1) == "/" else self._start_tag(i)
        if self.stack:
            raise self.fail(f"Can't find end tag corresponding to start tag {self.stack[-1].name}")
        return "".join(self.out), self.spans

    def _emit(self, text: str) -> None:
        self.out.append(text)
        self.length += len(text)

    def _start_tag(self, begin: int) -> int:
        offset = _byte_offset(self.source, begin)
        i = begin + 1
        while i < self.n and self.source[i] not in _SPACES and self.source[i] != ">":
            i += 1
        if i >= self.n:
            raise self.fail(f"Unclosed start tag at byte offset {offset}")
        name = self.source[begin + 1 : i].lower()
        if name not in SUPPORTED_TAGS:
            raise self.fail(f'Unsupported start tag "{name}" at byte offset {offset}')
        attributes: dict[str, str] = {}
        while self.char(i) != ">":
            while i < self.n and self.source[i] in _SPACES:
                i += 1
            if i >= self.n:
                raise self.fail(f"Unclosed start tag at byte offset {offset}")
            if self.source[i] == ">":
                break
            attr_begin = i
            while i < self.n and self.source[i] not in _SPACES and self.source[i] not in "=>":
                i += 1
            attr_name = self.source[attr_begin:i]
            if not attr_name:
                raise self.fail(f'Empty attribute name in the tag "{name}" at byte offset {offset}')
            while i < self.n and self.source[i] in _SPACES:
                i += 1
            if self.char(i) != "=":
                if name == "blockquote" and attr_name.lower() == "expandable":
                    attributes["expandable"] = ""
                    continue
                raise self.fail(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{name}" at byte offset {offset}'
                )
            i += 1
            while i < self.n and self.source[i] in _SPACES:
                i += 1
            if i >= self.n:
                raise self.fail(f'Unclosed start tag "{name}" at byte offset {offset}')
            value, i = self._attribute_value(i)
            if i >= self.n:
                raise self.fail(f"Unclosed start tag at byte offset {offset}")
            attributes.setdefault(attr_name, value)
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise self.fail(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        self.stack.append(_OpenTag(name, attributes, self.length))
        return i + 1

    def _attribute_value(self, i: int) -> tuple[str, int]:
        quote = self.source[i]
        if quote not in "'\"":
            # An unquoted name token: letters, digits, periods and hyphens.
            token_begin = i
            while i < self.n and (self.source[i].isalnum() or self.source[i] in ".-"):
                i += 1
            if i < self.n and self.source[i] not in _SPACES and self.source[i] != ">":
                raise self.fail(
                    "Unexpected end of name token at byte offset "
                    f"{_byte_offset(self.source, token_begin)}"
                )
            return self.source[token_begin:i].lower(), i
        i += 1
        chars: list[str] = []
        while i < self.n and self.source[i] != quote:
            if self.source[i] == "&":
                decoded = _decode_entity(self.source, i)
                if decoded is not None:
                    chars.append(decoded[0])
                    i = decoded[1]
                    continue
            chars.append(self.source[i])
            i += 1
        if i < self.n:
            i += 1
        return "".join(chars), i

    def _end_tag(self, begin: int) -> int:
        offset = _byte_offset(self.source, begin)
        if not self.stack:
            raise self.fail(f"Unexpected end tag at byte offset {offset}")
        i = begin + 2
        while i < self.n and self.source[i] not in _SPACES and self.source[i] != ">":
            i += 1
        end_name = self.source[begin + 2 : i].lower()
        while i < self.n and self.source[i] in _SPACES:
            i += 1
        if self.char(i) != ">":
            raise self.fail(f"Unclosed end tag at byte offset {offset}")
        open_tag = self.stack[-1]
        if end_name and end_name != open_tag.name:
            raise self.fail(
                f'Unmatched end tag at byte offset {offset}, expected "</{open_tag.name}>", '
                f'found "</{end_name}>"'
            )
        if self.length > open_tag.start:
            self._close(open_tag, open_tag.start, self.length)
        self.stack.pop()
        return i + 1

    def _close(self, tag: _OpenTag, start: int, end: int) -> None:
        name, attrs = tag.name, tag.attributes
        last = self.spans[-1] if self.spans else None
        same_range = last is not None and last.start == start and last.end == end
        if name in _SIMPLE_TAGS or name == "span":
            self.spans.append(Span(_SIMPLE_TAGS.get(name, "spoiler"), start, end))
        elif name == "tg-emoji":
            emoji_id = attrs.get("emoji-id", "")
            if not emoji_id.isdigit() or int(emoji_id) == 0:
                raise self.fail("Invalid custom emoji identifier specified")
            self.spans.append(Span("custom_emoji", start, end, {"custom_emoji_id": emoji_id}))
        elif name == "tg-time":
            unix = attrs.get("unix", "")
            if not unix.lstrip("-").isdigit():
                raise self.fail("Invalid Unix time specified in tg-time tag")
            extra: dict[str, Any] = {"unix_time": int(unix)}
            if attrs.get("format"):
                extra["date_time_format"] = attrs["format"]
            self.spans.append(Span("date_time", start, end, extra))
        elif name == "a":
            url = attrs.get("href") or "".join(self.out)[start:end]
            span = _link_span(url, start, end)
            if span is not None:
                self.spans.append(span)
        elif name == "pre":
            if same_range and last is not None and last.type == "code" and "language" in last.extra:
                last.type = "pre"
            else:
                self.spans.append(Span("pre", start, end))
        elif name == "code":
            language = attrs.get("class", "")
            language = language[len("language-") :] if language.startswith("language-") else ""
            if same_range and last is not None and last.type == "pre" and language:
                last.extra["language"] = language
            else:
                extra = {"language": language} if language else {}
                self.spans.append(Span("code", start, end, extra))
        elif name == "blockquote":
            kind = "expandable_blockquote" if "expandable" in attrs else "blockquote"
            self.spans.append(Span(kind, start, end))


def _link_span(url: str, start: int, end: int) -> Span | None:
    parts = urlsplit(url.strip())
    if parts.scheme.lower() == "tg" and parts.netloc.lower() == "user":
        user_id = parse_qs(parts.query).get("id", [""])[0]
        if user_id.isdigit():
            user = {"id": int(user_id), "is_bot": False, "first_name": "User"}
            return Span("text_mention", start, end, {"user": user})
    if not parts.scheme:
        if "." not in url or " " in url.strip():
            return None  # Telegram drops links it can't make sense of
        url = "http://" + url.strip()
    elif parts.scheme.lower() not in _LINK_SCHEMES:
        return None
    return Span("text_link", start, end, {"url": url.strip()})


def parse_html(source: str) -> tuple[str, list[Span]]:
    """Parse Telegram HTML; raise EntityParseError with Telegram's message on bad markup."""
    text, spans = _HtmlParser(source).parse()
    # Telegram drops the language of a code entity that is not the inner part of a pre block.
    for span in spans:
        if span.type == "code":
            span.extra.pop("language", None)
    return text, spans


# -- clean-up Telegram applies to every formatted text -----------------------------------------


def normalize(text: str, spans: list[Span], *, allow_empty: bool) -> tuple[str, list[Span]]:
    """Apply Telegram's fix-ups: control characters, whitespace-only entities, trimming.

    Returns ("", []) for an empty result when allow_empty, else raises EntityParseError.
    """
    chars: list[str]
    if _NEEDS_FIXING.search(text) is None:  # the usual case: nothing removed or replaced
        chars = list(text)
        spans = [Span(s.type, s.start, s.end, s.extra) for s in spans]
    else:
        # Map old indices to new ones while removing/replacing characters.
        new_index = [0] * (len(text) + 1)
        chars = []
        for i, char in enumerate(text):
            new_index[i] = len(chars)
            if char == "\r" or char in _REMOVED:
                continue
            chars.append(" " if ord(char) < 32 and char != "\n" else char)
        new_index[len(text)] = len(chars)
        spans = [Span(s.type, new_index[s.start], new_index[s.end], s.extra) for s in spans]

    kept: list[Span] = []
    for span in spans:
        if span.type not in _HIDDEN_DATA:
            while span.start < span.end and chars[span.start] in _TRIMMED:
                span.start += 1
        if span.start < span.end:
            kept.append(span)

    last = len(chars) - 1
    while last >= 0 and chars[last] in _TRIMMED:
        last -= 1
    if last < 0:
        if allow_empty:
            return "", []
        raise EntityParseError("Message must be non-empty")
    end = last + 1
    trimmed: list[Span] = []
    for span in kept:
        if span.start >= end:
            continue
        trimmed.append(Span(span.type, span.start, min(span.end, end), span.extra))
    first_entity = min((s.start for s in trimmed), default=end)
    first = 0
    while first < first_entity and chars[first] in _TRIMMED:
        first += 1
    result = "".join(chars[first:end])
    shifted = [Span(s.type, s.start - first, s.end - first, s.extra) for s in trimmed]
    return result, shifted


# -- text + entities -> sanitised HTML ---------------------------------------------------------


def _open_tag(span: Span) -> tuple[str, str]:
    kind = span.type
    simple = {
        "bold": "b",
        "italic": "i",
        "underline": "u",
        "strikethrough": "s",
        "spoiler": "tg-spoiler",
        "code": "code",
        "blockquote": "blockquote",
    }
    if kind in simple:
        tag = simple[kind]
        return f"<{tag}>", f"</{tag}>"
    if kind == "expandable_blockquote":
        return "<blockquote expandable>", "</blockquote>"
    if kind == "pre":
        language = span.extra.get("language")
        if language:
            return f'<pre><code class="language-{escape(language)}">', "</code></pre>"
        return "<pre>", "</pre>"
    if kind == "text_link":
        return f'<a href="{escape(span.extra["url"])}">', "</a>"
    if kind == "text_mention":
        return f'<a href="tg://user?id={span.extra["user"]["id"]}">', "</a>"
    if kind == "custom_emoji":
        return f'<tg-emoji emoji-id="{escape(span.extra["custom_emoji_id"])}">', "</tg-emoji>"
    if kind == "date_time":
        fmt = span.extra.get("date_time_format")
        attrs = f' format="{escape(fmt)}"' if fmt else ""
        return f'<tg-time unix="{span.extra["unix_time"]}"{attrs}>', "</tg-time>"
    return "", ""  # url, mention, bot_command, ... are plain text in HTML


def to_html(text: str, spans: list[Span]) -> str:
    """Render text + entities as the sanitised HTML Telegram would accept back.

    Overlapping (not nested) entities are closed and reopened around the overlap.
    """
    tagged = [s for s in spans if _open_tag(s)[0]]
    tagged.sort(key=lambda s: (s.start, -(s.end - s.start), _TYPE_ORDER.get(s.type, 99)))
    out: list[str] = []
    stack: list[Span] = []
    pending = deque(tagged)
    # Tags change only where a span starts or ends: the text between two such places is
    # escaped in one piece.
    edges = sorted({0, len(text), *(s.start for s in tagged), *(s.end for s in tagged)})
    done = 0
    for i in edges:
        if i > done:
            out.append(escape(text[done:i], quote=False))
            done = i
        # Close every span ending here, reopening the ones that were above it.
        ending = [s for s in stack if s.end == i]
        if ending:
            depth = min(stack.index(s) for s in ending)
            above = stack[depth:]
            for span in reversed(above):
                out.append(_open_tag(span)[1])
            stack = stack[:depth]
            for span in above:
                if span.end != i:
                    out.append(_open_tag(span)[0])
                    stack.append(span)
        while pending and pending[0].start == i:
            span = pending.popleft()
            if span.end > i:
                out.append(_open_tag(span)[0])
                stack.append(span)
    return "".join(out)
