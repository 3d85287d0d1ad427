"""Reads shared by the timers of one worker batch.

A batch runs in one transaction for a few milliseconds; in a storm its steps mostly page the
same people through the same policy, and re-reading who is on call and each person's rules
for every step was a third of a step's cost. Inside ``batch_memo()`` (the worker's batch),
``memoized(key, compute)`` computes once per key; outside it (web requests, tests) it always
computes. ``batch_now()`` is the batch's one "now", so that memoized reads keyed by time hit.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar, cast

from django.utils import timezone

T = TypeVar("T")

_current: ContextVar[dict[Hashable, Any] | None] = ContextVar("tocsin_batch_memo", default=None)


@contextmanager
def batch_memo() -> Iterator[None]:
    token = _current.set({})
    try:
        yield
    finally:
        _current.reset(token)


def memoized(key: Hashable, compute: Callable[[], T]) -> T:
    memo = _current.get()
    if memo is None:
        return compute()
    if key in memo:
        return cast(T, memo[key])
    value = memo[key] = compute()
    return value


def batch_now() -> datetime:
    """The current batch's instant (``timezone.now()`` outside a batch)."""
    return memoized(("now",), timezone.now)
