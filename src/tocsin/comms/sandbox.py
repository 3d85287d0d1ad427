"""Render user-written message templates safely: Jinja2's sandbox plus time and size limits.

The sandbox blocks Python internals (``{{ ''.__class__ }}`` and friends) and the filesystem
(no loader). Jinja2 has no timeout, so the limits are enforced where a runaway template has to
pass: every ``range()`` becomes a generator that checks the deadline on each step, ``*`` and
``**`` refuse results too large to be a message, and output is streamed and cut at the size
limit. A broken or runaway template never takes the worker down: it raises TemplateError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SECONDS = 1.0
MAX_OUTPUT = 64 * 1024
MAX_RANGE = 10_000
MAX_OPERAND = 100_000


class TemplateError(ValueError):
    """A template failed to compile or render; ``line`` is its line number when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise TemplateError(f"rendering took longer than {MAX_SECONDS:g} s")


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def __init__(self) -> None:
        super().__init__(autoescape=False, keep_trailing_newline=True)
        self.deadline = _Deadline(MAX_SECONDS)
        self.globals = {"range": self._range}
        self.filters.update(FILTERS)

    def _range(self, *args: int) -> Iterator[int]:
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise SecurityError(f"range() is limited to {MAX_RANGE} items")
        for n in numbers:
            self.deadline.check()
            yield n

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        for operand in (left, right):
            if isinstance(operand, int) and abs(operand) > MAX_OPERAND:
                raise SecurityError(f"{operator} with operands over {MAX_OPERAND} is not allowed")
        return super().call_binop(context, operator, left, right)


# ---- filters ------------------------------------------------------------------------------


def _datetime(value: Any, zone: str = "UTC", fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """``{{ incident.started_at | datetime("America/New_York") }}``."""
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return value.astimezone(tz).strftime(fmt)


def _duration(value: Any) -> str:
    """``{{ incident.duration | duration }}`` -> ``1h 25m``."""
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
    elif isinstance(value, int | float):
        seconds = int(value)
    else:
        return "" if value is None else str(value)
    days, rest = divmod(max(seconds, 0), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m"]
    return " ".join(p for p in parts if p)


def _bullets(value: Any, marker: str = "- ") -> str:
    """``{{ services | bullets }}``: one item a line."""
    if not isinstance(value, list | tuple):
        return "" if value is None else str(value)
    return "\n".join(f"{marker}{item}" for item in value)


FILTERS: dict[str, Callable[..., Any]] = {
    "datetime": _datetime,
    "duration": _duration,
    "bullets": _bullets,
}


# ---- compile and render ---------------------------------------------------------------------


def template_check(source: str) -> None:
    """Compile a template; raise TemplateError with the line on bad syntax or unknown filters."""
    env = _Environment()
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "syntax error", exc.lineno) from exc
    for node in ast.find_all(nodes.Filter):
        if node.name not in env.filters:
            raise TemplateError(f"unknown filter {node.name!r}", node.lineno)
    try:
        env.from_string(source)
    except TemplateSyntaxError as exc:  # pragma: no cover - parse caught it above
        raise TemplateError(exc.message or "syntax error", exc.lineno) from exc


def template_render(source: str, context: dict[str, Any]) -> str:
    """Render ``source`` with ``context`` in the sandbox, within the time and size limits."""
    env = _Environment()
    try:
        template = env.from_string(source)
        chunks, size = [], 0
        for chunk in template.generate(**context):
            env.deadline.check()
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateError(f"output is larger than {MAX_OUTPUT // 1024} KB")
            chunks.append(chunk)
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "syntax error", exc.lineno) from exc
    except (
        SecurityError,
        UndefinedError,
        TypeError,
        ValueError,
        ZeroDivisionError,
        OverflowError,
        RecursionError,
    ) as exc:
        if isinstance(exc, TemplateError):
            raise
        raise TemplateError(f"{type(exc).__name__}: {exc}") from exc
    return "".join(chunks)
