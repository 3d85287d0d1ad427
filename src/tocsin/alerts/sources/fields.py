"""Reading vendor JSON safely: decode a body, then read typed fields, collecting every problem.

Error messages follow PagerDuty's Events API wording ("'payload.summary' is missing or blank"),
so the PagerDuty endpoint can return them unchanged and every source reads the same way.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.utils.dateparse import parse_datetime

from tocsin.alerts.sources.base import ParseError

_KIND = {dict: "an object", list: "an array", str: "a string", int: "an integer", float: "a number"}


def _finite_float(text: str) -> float:
    # 1e999 parses as inf, which PostgreSQL's jsonb cannot store.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _unstorable(data: Any) -> str:
    """Describe the first string neither database can store (NUL, lone surrogate), if any."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "a string contains a NUL character (\\u0000)"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "a string contains an unpaired surrogate escape (\\ud800-\\udfff)"
    return ""


# A NUL or a lone surrogate can only come from a ``\\u`` escape: a raw NUL is not valid JSON
# and the body was decoded from UTF-8, which has no surrogates. A body without such an escape
# (every real alert) skips ``_unstorable``'s walk over every value (a fifth of the ingestion
# endpoint's own time); one with it (or with an escaped backslash before "u0000") is walked.
_MAYBE_UNSTORABLE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])")

# Deeper bodies are refused: encoding them again for storage would exhaust the stack (a 500),
# and no monitoring tool nests its alerts more than a handful of levels.
MAX_DEPTH = 64

# One decoder for every body: ``json.loads`` with hooks builds a new one per call (measured:
# 2 % of the ingestion path's time).
_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_reject_constant)


def decode_json(body: bytes) -> Any:
    """Decode a UTF-8 JSON body into values that SQLite and PostgreSQL can both store."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"Body is not UTF-8: {exc}") from exc
    try:
        data = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"Body is not valid JSON: {exc}") from exc
    problem = _unstorable(data) if _MAYBE_UNSTORABLE.search(text) else ""
    if problem:
        raise ParseError(f"Body cannot be stored: {problem}")
    # Only a body with many brackets can be deep: every real alert skips the walk.
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(data) > MAX_DEPTH:
        raise ParseError(f"Body is nested too deeply (more than {MAX_DEPTH} levels)")
    return data


def _depth(data: Any) -> int:
    """How many arrays and objects deep ``data`` goes (without recursion)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def decode_object(body: bytes) -> dict[str, Any]:
    """Decode a body that must be a JSON object."""
    data = decode_json(body)
    if not isinstance(data, dict):
        raise ParseError(f"Body must be a JSON object, not {kind_of(data)}")
    return data


def kind_of(value: Any) -> str:
    """Name a JSON value's type for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return _KIND.get(type(value), type(value).__name__)


def web_link(href: Any, text: str, *, base: str = "") -> dict[str, str] | None:
    """A link to show in the UI, or None unless it is an http(s) URL (no ``javascript:``)."""
    if not isinstance(href, str) or not href:
        return None
    url = urljoin(base, href) if base else href
    if urlsplit(url).scheme not in {"http", "https"}:
        return None
    return {"href": url, "text": text}


class Fields:
    """Typed reads from one JSON object; problems accumulate in ``errors`` (shared by children).

    ``null`` counts as absent: Go senders marshal nil maps and slices as ``null``.
    """

    def __init__(
        self, data: Mapping[str, Any], *, path: str = "", errors: list[str] | None = None
    ) -> None:
        self.data = data
        self.path = path
        self.errors: list[str] = errors if errors is not None else []

    def name(self, key: str) -> str:
        """The dotted name of ``key`` for error messages (``payload.summary``)."""
        return f"{self.path}.{key}" if self.path else key

    def value(
        self, key: str, types: tuple[type, ...], expected: str, *, required: bool = False
    ) -> Any:
        """The value at ``key`` if it has one of ``types``; None (and an error) otherwise."""
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                self.errors.append(f"'{self.name(key)}' is missing or blank")
            return None
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            self.errors.append(f"'{self.name(key)}' is invalid (must be {expected})")
            return None
        return value

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        max_length: int | None = None,
        choices: tuple[str, ...] = (),
    ) -> str:
        """A string field ("" when absent or invalid)."""
        value = self.value(key, (str,), "a string", required=required)
        if value is None:
            return ""
        if max_length is not None and len(value) > max_length:
            self.errors.append(
                f"Length of '{self.name(key)}' is incorrect "
                f"(should be at most {max_length} characters)"
            )
        if choices and value not in choices:
            listed = ", ".join(f"'{c}'" for c in choices[:-1]) + f" or '{choices[-1]}'"
            self.errors.append(
                f"'{self.name(key)}' is invalid (must be one of the following: {listed})"
            )
            return ""
        return str(value)

    def integer(self, key: str) -> int | None:
        """An integer field."""
        value = self.value(key, (int,), "an integer")
        return int(value) if value is not None else None

    def mapping(self, key: str, *, required: bool = False) -> dict[str, Any]:
        """An object field, any values."""
        value = self.value(key, (dict,), "an object", required=required)
        return dict(value) if value is not None else {}

    def labels(self, key: str) -> dict[str, str]:
        """An object whose values are all strings (Prometheus labels and annotations)."""
        value = self.mapping(key)
        for name, item in value.items():
            if not isinstance(item, str):
                self.errors.append(f"'{self.name(key)}.{name}' is invalid (must be a string)")
        return {k: v for k, v in value.items() if isinstance(v, str)}

    def numbers(self, key: str) -> dict[str, float | int | None]:
        """An object whose values are numbers or null (Grafana's ``values``)."""
        value = self.mapping(key)
        for name, item in value.items():
            if item is not None and (isinstance(item, bool) or not isinstance(item, int | float)):
                self.errors.append(f"'{self.name(key)}.{name}' is invalid (must be a number)")
        return value

    def items(self, key: str, *, required: bool = False) -> list[Any]:
        """An array field."""
        value = self.value(key, (list,), "an array", required=required)
        return list(value) if value is not None else []

    def objects(self, key: str, *, required: bool = False) -> list[Fields]:
        """An array of objects, each as a child ``Fields`` sharing this one's errors."""
        children = []
        for index, item in enumerate(self.items(key, required=required)):
            path = f"{self.name(key)}[{index}]"
            if isinstance(item, dict):
                children.append(Fields(item, path=path, errors=self.errors))
            else:
                self.errors.append(f"'{path}' is invalid (must be an object)")
        return children

    def child(self, key: str, *, required: bool = False) -> Fields:
        """An object field as a child ``Fields`` sharing this one's errors."""
        return Fields(self.mapping(key, required=required), path=self.name(key), errors=self.errors)

    def time(self, key: str, *, strict: bool = True) -> datetime | None:
        """An RFC 3339 time; Go's zero time (year 1) means "unset". ``strict``: bad format errs."""
        value = self.text(key)
        if not value:
            return None
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            try:
                parsed.astimezone(UTC)  # 9999-12-31T23:00-05:00 is past the last UTC year
            except OverflowError:
                parsed = None
        if parsed is None or parsed.tzinfo is None:
            if strict:
                self.errors.append(f"'{self.name(key)}' is invalid (must be an RFC 3339 time)")
            return None
        return parsed if parsed.year > 1 else None

    def raise_if_errors(self, message: str) -> None:
        """Raise ``ParseError(message, errors)`` if any read went wrong."""
        if self.errors:
            raise ParseError(message, errors=list(self.errors))
