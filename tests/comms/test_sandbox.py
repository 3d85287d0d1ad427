"""User templates render in a sandbox: no Python internals, bounded time and size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.comms.sandbox import TemplateError, template_check, template_render

INJECTIONS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ request.application.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ incident.__dict__ }}",
    "{{ config.items() }}",
    "{% set x = [] %}{{ x.append(1) }}",
]


class Incident:
    title = "Checkout down"
    secret = "hunter2"


@pytest.mark.parametrize("source", INJECTIONS)
def test_template_injection_reaches_nothing(source: str) -> None:
    try:
        out = template_render(source, {"incident": Incident()})
    except TemplateError:
        return
    assert "class" not in out and "os" not in out.split() and "hunter2" not in out
    assert "module" not in out and "function" not in out


def test_a_runaway_loop_is_stopped() -> None:
    with pytest.raises(TemplateError):
        template_render(
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", {}
        )


def test_huge_multiplication_is_refused() -> None:
    with pytest.raises(TemplateError, match="not allowed"):
        template_render("{{ 'x' * 100000000 }}", {})
    with pytest.raises(TemplateError):
        template_render("{{ 9 ** 9999999 }}", {})


def test_output_is_capped() -> None:
    with pytest.raises(TemplateError, match="larger than"):
        template_render("{% for i in range(9000) %}{{ 'abcdefghij' }}{% endfor %}", {})


def test_syntax_errors_and_unknown_filters_give_the_line() -> None:
    with pytest.raises(TemplateError, match="line 2"):
        template_check("Severity: {{ incident.severity }}\nNext: {{ incident.next_update_due ")
    with pytest.raises(TemplateError, match="line 3: unknown filter 'datetme'"):
        template_check("a\nb\n{{ incident.started_at | datetme }}")


def test_filters_show_times_in_the_audience_zone_and_durations() -> None:
    started = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    out = template_render(
        "{{ started | datetime('America/New_York') }} / {{ took | duration }} /\n"
        "{{ items | bullets }}",
        {"started": started, "took": timedelta(hours=1, minutes=25), "items": ["a", "b"]},
    )
    assert out == "2026-11-28 03:00 EST / 1h 25m /\n- a\n- b"


def test_missing_values_render_empty_rather_than_failing_at_3am() -> None:
    assert (
        template_render("Commander: {{ incident.commander or 'unassigned' }}", {"incident": {}})
        == "Commander: unassigned"
    )
