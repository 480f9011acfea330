"""The one Jinja2 environment over `message_templates/`.

Chat templates render HTML for Telegram's parse_mode HTML; email templates render an HTML part
(`*.html.j2`) and a plain-text part (`*.txt.j2`, not escaped). Undefined names are errors.

Times are shown in one zone per person (issue 13): `zone_for` resolves it (the person's own,
else their language's usual one, else settings TIMEZONE, the same rule as quiet hours), and
`in_zone` gives a renderer whose every datetime in the context is shown in it; the
`_format.j2` macros name the zone next to every time of day.
"""

from __future__ import annotations

import copy
import gettext
import re
from collections.abc import Callable, Hashable, MutableMapping
from datetime import date, datetime, tzinfo
from functools import cached_property
from pathlib import Path
from types import FunctionType
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    pass_context,
    pass_eval_context,
)
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from markupsafe import Markup, escape

from forever import catalogs
from forever.domain.journeys import zone_or_default
from forever.domain.lazy_text import CONSOLE, Lazy
from forever.domain.locales import (
    CATALOG_LOCALES,
    LOCALES,
    SOURCE_LOCALE,
    fallback_chain,
    resolve,
)

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "message_templates"
KINDS = ("chat", "email", "web")  # one shared template, or an owner's copy per locale


_EVAL_CONTEXT = pass_eval_context(lambda ctx: None).jinja_pass_arg  # type: ignore[attr-defined]


class _QuickCalls(Context):
    """Every call in a template (`_()`, a macro of `_format.j2`, a filter called as a
    function) goes through `Context.call`, which asks the callable three times how it wants
    to be called. A plain function (our gettext, the date formats) answers with one
    attribute: an email's three templates render in about 290 µs instead of 345 on the test
    machine. Anything else (macros, builtins, context-taking functions) keeps Jinja's path."""

    def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if type(__obj) is FunctionType:
            kind = getattr(__obj, "jinja_pass_arg", None)
            if kind is None or kind is _EVAL_CONTEXT:
                kwargs.pop("_block_vars", None)
                kwargs.pop("_loop_vars", None)
                if kind is not None:
                    args = (__self.eval_ctx, *args)
                try:
                    return __obj(*args, **kwargs)
                except StopIteration:
                    return __self.environment.undefined(
                        "value was undefined because a callable raised a StopIteration exception"
                    )
        return super().call(__obj, *args, **kwargs)


class _Environment(Environment):
    context_class = _QuickCalls

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """Templates share the environment's globals dict when they have none of their own.

        Jinja's default is a ChainMap over both, and every render, import and include walks
        it to copy and compare the names: a fifth of the time of a short email part. Nothing
        here passes per-template globals (`get_template(name, globals)`), so no template
        writes into this shared dict."""
        if not d:
            return self.globals
        return super().make_globals(d)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: dict[str, Template] = {}

    def _load_template(self, name: str, globals: MutableMapping[str, Any] | None) -> Template:
        """Every `extends`, `import` and `include` loads a template by name: a plain dict
        first (templates are read once, auto_reload is off), not Jinja's locked LRU cache."""
        if globals:
            return super()._load_template(name, globals)
        found = self._loaded.get(name)
        if found is None:
            found = self._loaded[name] = super()._load_template(name, globals)
        return found


def _autoescape(name: str | None) -> bool:
    return not (name or "").endswith(".txt.j2")


class Renderer:
    def __init__(
        self,
        templates_dir: Path = TEMPLATES_DIR,
        default_locale: str = "en",
        timezone: str = "UTC",
    ) -> None:
        self.templates_dir = templates_dir
        self.default_locale = default_locale
        self.default_zone = ZoneInfo(timezone)
        self.zone = self.default_zone  # the zone this renderer shows times in
        # Templates are read once (auto_reload is off): a plain dict in front of Jinja's
        # locked LRU cache, looked up three times per email.
        self._templates: dict[str, Template] = {}
        self._envs: dict[str, Environment] = {}
        self._console_envs: dict[str, Environment] = {}
        self._found: dict[tuple[str, str, str], tuple[Template, str]] = {}

    @cached_property
    def env(self) -> Environment:
        """The English environment: code that loads a template by path (console pages use
        `console_env`)."""
        return self.env_for(SOURCE_LOCALE)

    def env_for(self, locale: str) -> Environment:
        """One environment per locale (built once): its gettext catalog installed for
        `{% trans %}`, `_()` and `ngettext()` (new style: `%(name)s` placeholders, escaped
        values), and CLDR filters that format in that locale unless given another one."""
        env = self._envs.get(locale)
        if env is None:
            env = self._envs[locale] = self._build_env(locale)
        return env

    def console_env(self, locale: str) -> Environment:
        """The owner console's environment for a locale (built once): like `env_for`, but
        every message is looked up in the context `console` (`make i18n` gives the console's
        templates and `lazy()` texts that context, which keeps them out of the customer text
        editor), and a `Lazy` text shown with `{{ }}` is translated."""
        env = self._console_envs.get(locale)
        if env is None:
            env = self._console_envs[locale] = self._build_env(locale, CONSOLE)
            translations = catalogs.translations(locale)
            env.finalize = lambda value: (
                value.translated(translations.pgettext, translations.npgettext)
                if isinstance(value, Lazy)
                else value
            )
        return env

    def console(self, name: str, locale: str, /, **context: Any) -> str:
        """A console page (`console/<name>.html.j2`) in `locale`."""
        template = self.console_env(locale).get_template(f"console/{name}.html.j2")
        context["locale"] = locale
        self._in_reader_zone(context)
        return template.render(context)

    def _build_env(self, locale: str, message_context: str | None = None) -> Environment:
        env = _Environment(
            loader=FileSystemLoader(self.templates_dir),
            autoescape=_autoescape,  # on for all but the .txt.j2 email parts
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # templates are read once and cached
            enable_async=False,
            extensions=["jinja2.ext.i18n"],
        )
        env.policies["ext.i18n.trimmed"] = True  # a {% trans %} block's whitespace folded
        _install_gettext(env, catalogs.translations(locale), message_context)
        env.filters["local"] = _to_local
        env.filters["zone"] = zone_label
        env.filters["stars"] = stars
        env.filters["long_date"] = lambda d, loc=locale: catalogs.long_date(d, loc)
        env.filters["short_time"] = lambda d, loc=locale: catalogs.short_time(d, loc)
        env.filters["short_datetime"] = lambda d, loc=locale: catalogs.short_datetime(d, loc)
        env.filters["days"] = lambda n, loc=locale: catalogs.days(n, loc)
        env.filters["months"] = lambda n, loc=locale: catalogs.months(n, loc)
        env.filters["number"] = lambda n, loc=locale: catalogs.number(n, loc)
        env.filters["tenths"] = lambda n, loc=locale: catalogs.tenths(n, loc)
        env.filters["signed_tenths"] = lambda n, loc=locale: catalogs.signed_tenths(n, loc)
        env.filters["percent"] = lambda n, loc=locale: catalogs.percent(n, loc)
        env.globals["long_date"] = long_date
        env.globals["long_datetime"] = long_datetime
        env.globals["remembered"] = remembered
        env.globals["lang"] = locale  # the language of this environment's catalog
        return env

    def zone_for(self, timezone: str | None, language: str | None = None) -> ZoneInfo:
        """The zone a person reads times in: their own, else their language's usual one,
        else settings TIMEZONE (domain.journeys.zone_or_default, as quiet hours use)."""
        return zone_or_default(timezone, self.default_zone, language)

    def in_zone(self, zone: ZoneInfo) -> Renderer:
        """This renderer (same environment and template cache) showing times in `zone`."""
        if zone == self.zone:
            return self
        _ = self.env  # built once, then shared by the copy
        bound = copy.copy(self)
        bound.zone = zone
        return bound

    def locale_for(self, language: str | None) -> str:
        """Telegram's language_code (e.g. 'it-IT') → one of our locales, along the fallback
        chain ('pt-br' → 'pt' → the default locale)."""
        return resolve(language, LOCALES, self.default_locale)

    def chat(self, template: str, locale: str, /, **context: Any) -> str:
        """Text for Telegram (HTML), stripped of the template's surrounding blank lines."""
        found, context["locale"] = self._find("chat", locale, f"{template}.j2")
        self._in_reader_zone(context)
        return found.render(context).strip()

    def email(self, template: str, locale: str, /, **context: Any) -> tuple[str, str, str]:
        """(subject, html, text) for an email template set: the context is put in the
        reader's zone once for the three parts."""
        subject_t, context["locale"] = self._find("email", locale, f"{template}.subject.txt.j2")
        html_t, _ = self._find("email", locale, f"{template}.html.j2")
        text_t, _ = self._find("email", locale, f"{template}.txt.j2")
        self._in_reader_zone(context)
        subject = subject_t.render(context).strip()
        html = html_t.render(context)
        text = text_t.render(context).strip() + "\n"
        return subject, html, text

    def render(self, path: str, /, **context: Any) -> str:
        """A template by path; `chat|email|web/<locale>/<name>` is found as `chat` finds it."""
        kind, _, rest = path.partition("/")
        locale, _, name = rest.partition("/")
        if kind in KINDS and name:
            found, context["locale"] = self._find(kind, locale, name)
        else:
            found = self._template(path)
        self._in_reader_zone(context)
        return found.render(context)

    def find(self, kind: str, locale: str, name: str) -> tuple[Template, str]:
        """The template `kind/name` is shown with in `locale`, and the locale it speaks (a
        macro file such as `chat/_staff.j2`, imported as a module by its reader)."""
        return self._find(kind, locale, name)

    def _find(self, kind: str, locale: str, name: str) -> tuple[Template, str]:
        """The template a message is shown with, and the locale it speaks (issue 21): the
        locale's own copy (`chat/ro/x.j2`, an owner's override) wins; else the one shared
        template (`chat/x.j2`) in the locale's catalog; else a copy along the fallback chain,
        English last."""
        key = (kind, locale, name)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = self._resolve(kind, locale, name)
        return found

    def _resolve(self, kind: str, locale: str, name: str) -> tuple[Template, str]:
        own = f"{kind}/{locale}/{name}"
        if (self.templates_dir / own).is_file():
            return self.env_for(locale).get_template(own), locale
        shared = f"{kind}/{name}"
        if (self.templates_dir / shared).is_file():
            return self.env_for(locale).get_template(shared), locale
        chain = fallback_chain(locale, CATALOG_LOCALES, self.default_locale)
        for fallback in (*chain[1:], SOURCE_LOCALE):
            path = f"{kind}/{fallback}/{name}"
            if (self.templates_dir / path).is_file():
                return self.env_for(fallback).get_template(path), fallback
        raise TemplateNotFound(own)

    def _in_reader_zone(self, context: dict[str, Any]) -> None:
        zone = context.setdefault("tz", self.zone)
        for name, value in context.items():
            if isinstance(value, datetime) and value.tzinfo is not None:
                context[name] = value.astimezone(zone)  # shown in the reader's zone

    def _template(self, path: str) -> Template:
        template = self._templates.get(path)
        if template is None:
            template = self._templates[path] = self.env.get_template(path)
        return template

    def has(self, path: str) -> bool:
        try:
            self.env.get_template(path)
        except TemplateNotFound:
            return False
        return True


def _as_source(ctx: EvalContext, text: str) -> str:
    """A catalog text as template source: trusted like the templates themselves (it may hold
    <b>), so under autoescape it is Markup and only the values put into it get escaped."""
    return Markup(text) if ctx.autoescape else text  # noqa: S704


def _one_stop(text: str, values: dict[str, Any]) -> str:
    """A value that ends with a full stop (the Russian long date "1 декабря 2026 г.") at the
    end of a sentence, even in bold, is not followed by a second one ("г.." is never shown)."""
    if "." in text:
        for name, value in values.items():
            if isinstance(value, str) and value.endswith("."):
                text = re.sub(rf"(%\({name}\)s(?:</\w+>)*)\.", r"\1", text)
    return text


def _install_gettext(
    env: Environment, translations: gettext.NullTranslations, message_context: str | None = None
) -> None:
    """`_`, `gettext`, `ngettext`, `pgettext`, `npgettext` (and `{% trans %}`) with Jinja's
    new-style semantics (the result is always %-formatted with its keyword arguments; under
    autoescape it is Markup, so the values are escaped), each one plain call: Jinja's own
    wrappers go through the context three times per call, a tenth of an email's time. With
    `message_context`, `_` and `ngettext` look their message up in that context."""

    @pass_eval_context
    def gettext_(ctx: EvalContext, message: str, /, **values: Any) -> str:
        text = translations.gettext(message)
        return _as_source(ctx, _one_stop(text, values)) % values

    @pass_eval_context
    def ngettext_(ctx: EvalContext, one: str, many: str, n: int, /, **values: Any) -> str:
        text = translations.ngettext(one, many, n)
        values.setdefault("num", n)
        return _as_source(ctx, _one_stop(text, values)) % values

    @pass_eval_context
    def pgettext_(ctx: EvalContext, context: str, message: str, /, **values: Any) -> str:
        text = translations.pgettext(context, message)
        return _as_source(ctx, _one_stop(text, values)) % values

    @pass_eval_context
    def npgettext_(
        ctx: EvalContext, context: str, one: str, many: str, n: int, /, **values: Any
    ) -> str:
        text = translations.npgettext(context, one, many, n)
        values.setdefault("num", n)
        return _as_source(ctx, _one_stop(text, values)) % values

    if message_context is not None:
        in_context = message_context

        @pass_eval_context
        def gettext_(ctx: EvalContext, message: str, /, **values: Any) -> str:
            text = translations.pgettext(in_context, message)
            return _as_source(ctx, _one_stop(text, values)) % values

        @pass_eval_context
        def ngettext_(ctx: EvalContext, one: str, many: str, n: int, /, **values: Any) -> str:
            text = translations.npgettext(in_context, one, many, n)
            values.setdefault("num", n)
            return _as_source(ctx, _one_stop(text, values)) % values

    env.globals.update(
        _=gettext_, gettext=gettext_, ngettext=ngettext_, pgettext=pgettext_, npgettext=npgettext_
    )
    env.newstyle_gettext = True  # type: ignore[attr-defined]


def stars(n: int) -> str:
    """`{{ amount|stars }}`: "1 500 ⭐", grouped by a narrow space in every language (button
    labels are built outside any locale, and a Stars amount reads the same everywhere)."""
    return f"{int(n):,}".replace(",", "\u202f") + " ⭐"


def long_date(locale: str) -> Callable[[date], Markup]:
    """`{% set date = long_date("ro") %}` in a `_format.j2`: "1 decembrie 2026", the
    locale's long date from CLDR (escaped, as Markup)."""

    def format_date(d: date) -> Markup:
        return escape(catalogs.long_date(d, locale))

    return format_date


def long_datetime(locale: str, at: str) -> Callable[[datetime], Markup]:
    """`{% set datetime = long_datetime("it", ", ore ") %}`: "1 dicembre 2026, ore 10:30
    (Europe/Rome)": the CLDR date, `at`, the CLDR time of day and the zone it is shown in."""
    between = escape(at)

    def format_datetime(d: datetime) -> Markup:
        day = escape(catalogs.long_date(d, locale))
        time = escape(catalogs.short_time(d, locale))
        zone = escape(zone_label(d))
        # Safe: every part is escaped.
        return Markup(f"{day}{between}{time} ({zone})")  # noqa: S704

    return format_datetime


REMEMBERED = 1024  # results kept per macro; cleared when full


def remembered(macro: Callable[..., Any]) -> Callable[..., Any]:
    """A macro whose output depends on its arguments only (a link, a button), rendered once
    per distinct arguments; the results live on the imported `_format.j2` module, which an
    import without context builds once (see make_globals). The key holds each argument's
    type ("a<b" as text and as Markup render differently) and time zone (equal instants in
    two zones compare equal)."""
    results: dict[tuple[Hashable, ...], Any] = {}

    def call(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            return macro(*args, **kwargs)
        key = tuple((type(a), a, getattr(a, "tzinfo", None)) for a in args)
        try:
            found = results.get(key)
        except TypeError:  # an unhashable argument
            return macro(*args)
        if found is None:
            if len(results) >= REMEMBERED:
                results.clear()
            found = results[key] = macro(*args)
        return found

    return call


@pass_context
def _to_local(context: Context, value: datetime, zone: ZoneInfo | str | None = None) -> datetime:
    """`{{ when|local }}`: the instant in the zone of this render (`tz`), or in `zone`."""
    if isinstance(zone, str):
        zone = ZoneInfo(zone)
    target = zone or context.get("tz")
    return value.astimezone(target) if isinstance(target, tzinfo) else value


def zone_label(value: datetime | tzinfo | None) -> str:
    """`{{ when|zone }}`: the name of the zone a time is shown in (Europe/Rome, UTC)."""
    zone = value.tzinfo if isinstance(value, datetime) else value
    if isinstance(zone, ZoneInfo):
        return zone.key
    if zone is None:
        return ""
    return zone.tzname(None) or "UTC"
