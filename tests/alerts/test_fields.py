"""decode_json: what neither database can store is refused, whatever the body looks like."""

from __future__ import annotations

import json

import pytest

from tocsin.alerts.sources.base import ParseError
from tocsin.alerts.sources.fields import decode_json


@pytest.mark.parametrize(
    "body",
    [
        rb'{"title": "a\u0000b"}',
        rb'{"a\u0000": "key with a NUL"}',
        rb'{"deep": [{"x": ["\u0000"]}]}',
        rb'{"title": "\ud800"}',
        rb'{"title": "\uDFFF"}',
        rb'{"title": "\uDbFf x"}',
        rb'{"x": "\\\u0000"}',  # an escaped backslash, then a real NUL escape
    ],
)
def test_nul_and_lone_surrogates_are_refused(body: bytes) -> None:
    with pytest.raises(ParseError, match="cannot be stored"):
        decode_json(body)


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (rb'{"x": "\\u0000"}', "\\u0000"),  # the six characters, not a NUL
        (rb'{"x": "\ud83d\ude00"}', "\U0001f600"),  # a surrogate pair is one character
        (rb'{"x": "\u00e9\u1234"}', "\u00e9\u1234"),
        ('{"x": "caf\u00e9 \U0001f600"}'.encode(), "caf\u00e9 \U0001f600"),
    ],
)
def test_storable_text_is_kept(body: bytes, value: str) -> None:
    assert decode_json(body) == {"x": value}


def test_a_large_ordinary_body_decodes_unchanged() -> None:
    data = {"alerts": [{"labels": {f"k{i}": f"v{i}" * 10}, "n": i} for i in range(500)]}

    assert decode_json(json.dumps(data).encode()) == data
