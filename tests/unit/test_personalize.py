"""Staff text with a name placeholder: rendered safely, injection attempts refused."""

from __future__ import annotations

import pytest

from forever.services.personalize import (
    TemplateRefused,
    check_template,
    has_placeholders,
    render,
)


def test_greets_by_name_and_escapes_it() -> None:
    text = "<b>Hi {{ name }}</b>, the spring timetable is out"
    check_template(text)
    assert render(text, name="Ana") == "<b>Hi Ana</b>, the spring timetable is out"
    assert render(text, name="<i>Bo</i> & co") == (
        "<b>Hi &lt;i&gt;Bo&lt;/i&gt; &amp; co</b>, the spring timetable is out"
    )


def test_a_default_covers_people_without_a_name() -> None:
    text = 'Hi {{ name|default("there", true) }}!'
    check_template(text)
    assert render(text, name=None) == "Hi there!"
    assert render('Hi {{ name or "friend" }}!', name="") == "Hi friend!"


def test_plain_text_has_no_placeholders() -> None:
    assert not has_placeholders("50% off {this} week")
    assert has_placeholders("Hi {{ name }}")


@pytest.mark.parametrize(
    "attempt",
    [
        "{{ name.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ config }}",
        "{{ self._TemplateReference__context }}",
        "{% for x in range(10**9) %}x{% endfor %}",
        "{{ name|attr('upper')() }}",
        "{{ lipsum.__globals__ }}",
        "{% set x = 1 %}{{ x }}",
        "{{ name * 1000000 }}",
        "{{ name",
        "{% include '/etc/passwd' %}",
    ],
)
def test_template_injection_is_refused(attempt: str) -> None:
    with pytest.raises(TemplateRefused):
        check_template(f"Hello {attempt}")
