"""Render user-written message templates safely: Jinja2's sandbox plus time and size limits.

The sandbox blocks Python internals (``{{ ''.__class__ }}`` and friends) and the filesystem
(no loader). Jinja2 has no timeout, so the limits are enforced where a runaway template has to
pass: every ``range()`` becomes a generator that checks the deadline on each step, so does
every ``for`` loop, ``*``, ``**`` and ``%`` refuse results too large to be a message (a string
or list repeated, a huge format width), filters and method calls refuse to build a value over
the size limit, and output is streamed and cut at the size limit. A broken or runaway template
never takes the worker down: it raises TemplateError.
"""

from __future__ import annotations

import functools
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
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
MAX_VALUE = 100_000  # items in a list, characters in a string a template may build
SEQUENCES = (str, bytes, list, tuple)
FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?([-#0 +]*)(\*|\d+)?(?:\.(\*|\d+))?")


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


def _weight(value: Any, limit: int = MAX_VALUE) -> int:
    """Characters and items a value holds, nested ones counted (stops counting past limit)."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list | tuple | set | frozenset):
        return 0
    total = len(value)
    for item in value:
        if total > limit:
            break
        total += _weight(item, limit - total)
    return total


def _too_big(what: str) -> SecurityError:
    return SecurityError(f"{what} larger than {MAX_VALUE} items is not allowed")


def _check_size(value: Any, what: str) -> Any:
    if _weight(value) > MAX_VALUE:
        raise _too_big(what)
    return value


def _check_product(left: Any, right: Any) -> None:
    """``seq * n`` (or ``n * seq``) may not build more than MAX_VALUE items."""
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, SEQUENCES) and isinstance(n, int) and _weight(seq) * n > MAX_VALUE:
            raise _too_big("* building a value")


def _check_widths(widths: Iterable[Any], what: str) -> None:
    """Widths and counts (``center(n)``, ``batch(n)``, ``%0nd``) up to MAX_VALUE."""
    if any(isinstance(w, int) and abs(w) > MAX_VALUE for w in widths):
        raise SecurityError(f"{what} with a width or count over {MAX_VALUE} is not allowed")


def _check_percent(text: Any, args: Any, what: str) -> None:
    """``'%09999999d' % n`` may not pad a value to more than MAX_VALUE characters."""
    if not isinstance(text, str):
        return
    given = args if isinstance(args, tuple) else (args,)
    widths = [int(w) for m in FORMAT_SPEC.finditer(text) for w in m.groups()[1:] if w and w != "*"]
    _check_widths(widths + ([a for a in given if isinstance(a, int)] if "*" in text else []), what)


def _check_format(text: Any, args: Iterable[Any], what: str) -> None:
    """``'{:>99999999}'.format(x)``: the same for format specs (nested ones take the args)."""
    if not isinstance(text, str):
        return
    try:
        specs = [spec or "" for _, _, spec, _ in string.Formatter().parse(text)]
    except ValueError:
        return  # the call itself reports the bad format string
    widths: list[Any] = [int(d) for spec in specs for d in re.findall(r"\d+", spec)]
    if any("{" in spec for spec in specs):
        widths += list(args)
    _check_widths(widths, what)


def _check_replace(value: Any, old: Any, new: Any, what: str) -> None:
    """Every match (every gap, for "") becomes the new text."""
    if isinstance(value, str) and isinstance(old, str) and isinstance(new, str):
        matches = value.count(old) if old else len(value) + 1
        if len(value) + matches * len(new) > MAX_VALUE:
            raise _too_big(f"{what} building a value")


def _check_join(separator: Any, items: Any, what: str) -> None:
    """A separator between every two items."""
    if (
        isinstance(separator, str)
        and isinstance(items, list | tuple)
        and len(separator) * len(items) + _weight(items) > MAX_VALUE
    ):
        raise _too_big(f"{what} building a value")


def _filter_checks(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """What a filter would build, refused before it is built."""
    what = f"filter {name}"
    if name in ("center", "batch", "slice", "indent", "truncate", "wordwrap"):
        _check_widths((*args, *kwargs.values()), what)
    if name == "indent" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 4)
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        if pad * (value.count("\n") + 1) + len(value) > MAX_VALUE:
            raise _too_big(f"{what} building a value")
    if name == "replace" and len(args) >= 2:
        _check_replace(str(value), args[0], args[1], what)
    if name == "join":
        separator = args[0] if args else kwargs.get("d", "")
        _check_join(separator, value, what)
    if name == "format":
        _check_percent(str(value), tuple(args) or tuple(kwargs.values()), what)
    if name == "sum":
        start = args[1] if len(args) > 1 else kwargs.get("start", 0)
        if isinstance(start, SEQUENCES) and isinstance(value, list | tuple):
            _check_size([start, *value], what)


def _bounded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that refuses to build a value over MAX_VALUE items."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        given = args[skip:]
        if given:
            _filter_checks(name, given[0], tuple(given[1:]), kwargs)
        return _check_size(func(*args, **kwargs), f"filter {name} building a value")

    return bounded


WIDTH_METHODS = frozenset(["center", "ljust", "rjust", "zfill", "expandtabs"])
LOOP_GUARD = "tocsin_loop_guard"


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "%", "+"])

    def __init__(self) -> None:
        super().__init__(autoescape=False, keep_trailing_newline=True)
        self.deadline = _Deadline(MAX_SECONDS)
        self.globals = {"range": self._range}
        self.filters.update(FILTERS)
        self.filters = {name: _bounded(name, func) for name, func in self.filters.items()}
        self.filters[LOOP_GUARD] = self._loop_guard

    def _range(self, *args: int) -> Iterator[int]:
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise SecurityError(f"range() is limited to {MAX_RANGE} items")
        for n in numbers:
            self.deadline.check()
            yield n

    def _loop_guard(self, items: Any) -> Iterator[Any]:
        """What every ``for`` loop iterates: the items, checking the deadline on each step (a
        loop with no output never reaches the check between output chunks)."""
        for item in items:
            self.deadline.check()
            yield item

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, LOOP_GUARD, [], [], None, None, lineno=loop.lineno)
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        for operand in (left, right) if operator in ("*", "**") else ():
            if isinstance(operand, int) and abs(operand) > MAX_OPERAND:
                raise SecurityError(f"{operator} with operands over {MAX_OPERAND} is not allowed")
        if operator == "*":
            _check_product(left, right)
        if operator == "%":
            _check_percent(left, right, "%")
        result = super().call_binop(context, operator, left, right)
        return _check_size(result, f"{operator} building a value")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """A method call (``s.center(n)``, ``s.replace(a, b)`` ...) within the size limit."""
        what = str(getattr(__obj, "__name__", "call"))
        # the method's own object (str.format comes wrapped by the sandbox)
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if what in WIDTH_METHODS:
            _check_widths((*args, *kwargs.values()), what)
        if what == "replace" and len(args) >= 2:
            _check_replace(owner, args[0], args[1], what)
        if what == "join" and args:
            _check_join(
                owner, list(args[0]) if isinstance(args[0], list | tuple) else args[0], what
            )
        if what in ("format", "format_map"):
            _check_format(owner, (*args, *kwargs.values()), what)
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_size(result, f"{what} building a value")


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
