"""User templates cannot build huge values: a repeated string or list, a format width, a
replace or join, and a loop without output all stay within the size and time limits."""

from __future__ import annotations

import time

import pytest

from tocsin.comms.sandbox import TemplateError, template_render

AMPLIFIERS = [
    "{{ ((range(10000) | list) * 2000) | unique | list | length }}",
    "{{ ('x' * 100000) * 2 }}",
    "{{ [[1] * 100000] * 100000 }}",
    "{{ '%0100000000d' % 1 }}",
    "{{ '%*d' % (100000000, 1) }}",
    "{{ '{:>100000000}'.format(1) }}",
    "{{ '{:>{}}'.format(1, 100000000) }}",
    "{{ ('x' * 100000) | replace('', 'y' * 100000) }}",
    "{{ ('x' * 100000).replace('', 'y' * 1000) }}",
    "{{ 'x' | center(100000000) }}",
    "{{ 'x'.center(100000000) }}",
    "{{ ('a\n' * 50000) | indent(100000) }}",
    "{{ (range(10000) | list) | join('y' * 10000) }}",
    "{{ [1] | batch(100000000, 'x') | list }}",
]


@pytest.mark.parametrize("source", AMPLIFIERS)
def test_a_template_cannot_build_a_huge_value(source: str) -> None:
    began = time.monotonic()
    with pytest.raises(TemplateError, match="not allowed"):
        template_render(source, {})
    assert time.monotonic() - began < 0.5


def test_a_loop_without_output_still_stops_at_the_time_limit() -> None:
    source = (
        "{% set numbers = range(10000) | list %}"
        "{% for a in numbers %}{% for b in numbers %}{% endfor %}{% endfor %}"
    )
    began = time.monotonic()
    with pytest.raises(TemplateError, match="longer than"):
        template_render(source, {})
    assert time.monotonic() - began < 1.5


def test_ordinary_repetition_formatting_and_loops_still_work() -> None:
    source = (
        "{{ '-' * 20 }} {{ '%.2f' % 3.14159 }} {{ '{:,}'.format(users) }} {{ users + 1 }} "
        "{{ 'a b' | replace(' ', '_') }} {{ ['a', 'b'] | join(', ') }} "
        "{% for x in items %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% endfor %}"
        "{{ (range(3) | list) * 2 }}"
    )
    out = template_render(source, {"users": 2_500_000, "items": ["p", "q"]})
    assert out == (
        "-------------------- 3.14 2,500,000 2500001 a_b a, b 1/2:p 2/2:q [0, 1, 2, 0, 1, 2]"
    )
