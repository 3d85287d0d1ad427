"""Inserts collected during a set-based worker step and written together at its end.

Opening a hundred incidents in one worker batch writes, per incident, a few timeline events,
an escalation run and a few keyed timers; one INSERT each costs ~0.3 ms of ORM work, more than
the rest of the step. Inside ``deferred_inserts()`` the writers that support it
(``timeline_add``, ``timer_schedule``, ``escalation_start``) hand their new rows to
``defer_insert`` instead of saving them; when the block ends the rows are written with one
INSERT per model, in the order the models were first deferred (rows referring to an incident
come after the incident, which is saved directly).

Only code that does not read those rows back before the block ends may run inside it: the
block is used around the start of freshly inserted incidents, which nothing else can see yet.
Outside the block (web requests, the one-by-one path) ``defer_insert`` returns False and the
caller saves as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models import Model

from tocsin.dbwrite import insert_rows

# model -> (rows in order, whether a row whose unique key exists is skipped)
_Pending = dict[type[Model], tuple[list[Model], bool]]
_current: ContextVar[_Pending | None] = ContextVar("tocsin_deferred_inserts", default=None)


@contextmanager
def deferred_inserts() -> Iterator[None]:
    """Collect the inserts of the block; write them when it ends without an error."""
    pending: _Pending = {}
    token = _current.set(pending)
    try:
        yield
    finally:
        _current.reset(token)
    _flush(pending)


def defer_insert(row: Model, *, ignore_conflicts: bool = False) -> bool:
    """Queue ``row`` for the current block's INSERT; False (nothing queued) outside a block.

    ``ignore_conflicts``: the row is skipped if its unique key exists (keyed timers), exactly
    as the caller's own save would have skipped it.
    """
    pending = _current.get()
    if pending is None:
        return False
    rows, _ignore = pending.setdefault(type(row), ([], ignore_conflicts))
    rows.append(row)
    return True


def _flush(pending: _Pending) -> None:
    from tocsin.engine.models import Timer
    from tocsin.engine.services import timers_insert

    for model, (rows, ignore_conflicts) in pending.items():
        if model is Timer:
            timers_insert([row for row in rows if isinstance(row, Timer)])  # and wakes a worker
        else:
            insert_rows(rows, ignore_conflicts=ignore_conflicts)
