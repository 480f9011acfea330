"""Staff-written broadcast text with a greeting placeholder such as `Hi {{ name }}!`.

Staff text is untrusted as a template: it is parsed by Jinja2's SandboxedEnvironment and, before
that, checked node by node so only the placeholders below, string constants and a few harmless
filters get through. Anything else (attribute access, calls, loops, other names) is refused with
a message saying what is allowed; the sandbox is the second line if something slips by.
"""

from __future__ import annotations

import html
import re

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

PLACEHOLDERS = frozenset({"name"})
SAFE_FILTERS = frozenset({"default", "d", "upper", "lower", "title", "capitalize", "trim"})
_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.Filter,
    nodes.Or,
)
_MARKERS = re.compile(r"\{\{|\{%|\{#")
# Telegram's HTML has entities inside a placeholder only if staff typed quotes or <>.
_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
MAX_LENGTH = 4096


class TemplateRefused(ValueError):
    """The text is not an allowed template; the message says why, for the staff member (in
    English, as the console shows it); `problem` and `detail` say it for the chat's staff
    texts, which word it in the staff member's language: "syntax" (Jinja's own words as
    detail), "statement" (the node type), "unknown_name", "filter" (the name), "render"."""

    def __init__(self, message: str, problem: str = "render", detail: str = "") -> None:
        super().__init__(message)
        self.problem = problem
        self.detail = detail or message


def has_placeholders(text: str) -> bool:
    return bool(_MARKERS.search(text))


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


def _source(text_html: str) -> str:
    return _EXPRESSION.sub(lambda m: html.unescape(m.group(0)), text_html)


def check_template(text_html: str) -> None:
    """Raise TemplateRefused unless `text_html` is safe to render per person."""
    env = _environment()
    try:
        tree = env.parse(_source(text_html))
    except TemplateSyntaxError as error:
        raise TemplateRefused(
            f"the placeholder is not valid: {error.message}", "syntax", str(error.message)
        ) from None
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            kind = type(node).__name__.lower()
            raise TemplateRefused(
                f"only {{{{ name }}}} placeholders are allowed, not {kind}", "statement", kind
            )
        if isinstance(node, nodes.Name) and node.name not in PLACEHOLDERS:
            raise TemplateRefused(
                f"unknown placeholder {node.name!r}; use {{{{ name }}}}", "unknown_name", node.name
            )
        if isinstance(node, nodes.Filter) and node.name not in SAFE_FILTERS:
            raise TemplateRefused(f"the filter {node.name!r} is not allowed", "filter", node.name)
    render(text_html, name="Ana")


def render(text_html: str, *, name: str | None) -> str:
    """The text for one person (HTML; the name is escaped)."""
    env = _environment()
    try:
        return env.from_string(_source(text_html)).render(name=name or "")
    except (SecurityError, UndefinedError, TemplateSyntaxError) as error:
        raise TemplateRefused(str(error)) from None
