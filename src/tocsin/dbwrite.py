"""Write transactions that take SQLite's write lock promptly under contention.

SQLite has one writer at a time. When the lock is taken, its busy handler sleeps 1, 2, 5 ...
up to 100 ms between tries, so a writer that just missed the lock often waits tens of
milliseconds for nothing, and one that keeps missing it (the worker while alert ingestion
commits back to back) can starve. ``atomic_polling`` sets ``busy_timeout=0`` for its BEGIN and
retries every ``poll`` seconds itself, for up to ``wait`` seconds (the configured timeout),
re-running the whole unit of work: everything of a failed attempt was rolled back. On
PostgreSQL it is a plain ``transaction.atomic()``.

``insert_rows`` writes a worker batch's new rows in multi-row statements, ``update_rows`` its
changed rows with one prepared ``executemany``; ``fetch_raw`` runs a large statement on the
driver's own cursor.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import DatabaseError, OperationalError, connection, models, transaction
from django.db.models import Field, Model
from django.db.models.constants import OnConflict

T = TypeVar("T")

WAIT_SECONDS = 20.0  # as the busy timeout in settings
POLL_SECONDS = 0.0005


class _Contention:
    """When this process last found the write lock taken (monotonic seconds)."""

    at = float("-inf")

    def seconds_since(self) -> float:
        return time.monotonic() - self.at


contention = _Contention()


def atomic_polling(
    work: Callable[[], T],
    *,
    wait: float = WAIT_SECONDS,
    poll: float = POLL_SECONDS,
    dedicated: bool = False,
) -> T:
    """Run ``work`` in one transaction; on SQLite, poll for the write lock (see above).

    ``dedicated``: every write of the calling thread's connection comes through here (the
    ingestion writer), so its busy timeout is set to 0 once per connection and left so,
    instead of being read, set and restored around each call: three statements per group
    commit, each letting go of the GIL and waiting to take it back from the event loop
    thread (measured: a tenth of the writer's time).
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic():
            return work()
    deadline = time.monotonic() + wait
    if dedicated:
        _zero_busy_timeout_once()
        return _attempts(work, deadline, poll)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        configured = int(cursor.fetchone()[0])
        # Zero for all the attempts, restored once: a writer waiting behind the worker polls
        # 2,000 times a second, and two PRAGMAs per attempt were most of that work.
        cursor.execute("PRAGMA busy_timeout = 0")
    try:
        return _attempts(work, deadline, poll)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {configured}")


def _attempts(work: Callable[[], T], deadline: float, poll: float) -> T:
    while True:
        try:
            with transaction.atomic():
                return work()
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            contention.at = time.monotonic()
        time.sleep(poll)


def _zero_busy_timeout_once() -> None:
    """Set the busy timeout of this thread's SQLite connection to 0, once per connection (a
    reconnection gets the configured timeout again, and is set anew)."""
    connection.ensure_connection()
    raw = connection.connection
    if getattr(connection, "tocsin_polling_connection", None) is not raw:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 0")
        setattr(connection, "tocsin_polling_connection", raw)  # noqa: B010 (not a field)


def datetime_adapter() -> Callable[[datetime | None], Any]:
    """``connection.ops.adapt_datetimefield_value``, with a short way for the UTC datetimes
    that ingestion stores by the thousand on SQLite (Django's goes through ``is_aware`` and
    ``make_naive`` for each: the same text, three times the work)."""
    adapt: Callable[[datetime | None], Any] = connection.ops.adapt_datetimefield_value
    if connection.vendor != "sqlite" or connection.timezone is not UTC:
        return adapt

    def adapt_utc(value: datetime | None) -> Any:
        if value is not None and value.tzinfo is UTC:
            return str(value.replace(tzinfo=None))
        return adapt(value)

    return adapt_utc


# ---- set-based writes of the worker's batches ---------------------------------------------


def insert_rows(
    rows: Sequence[Model], *, ignore_conflicts: bool = False, returning: bool = False
) -> None:
    """INSERT model instances of one model with multi-row statements (``VALUES_ROWS`` rows each).

    The rows ``bulk_create`` would write, without its per-value SQL compilation (the largest
    cost of a worker batch that opens incidents: ~28 % of its time went to ``bulk_create``),
    and without ``executemany``, which psycopg binds and sends row by row (client-side, as
    Django's PostgreSQL cursor binds). Values are prepared as the fields' ``get_db_prep_save``
    prepares them (``_Preparer``). ``ignore_conflicts``: a row whose unique key exists is
    skipped, as in ``bulk_create``. ``returning``: each instance gets its new primary key,
    from ``RETURNING`` (rows come back in the order of the VALUES list, as ``bulk_create``
    relies on); otherwise the instances do not get their keys: use that for rows nothing
    reads back by key in the same step (timeline events, timers, deliveries, escalation runs).
    """
    if not rows:
        return
    if returning and ignore_conflicts:
        raise ValueError("a skipped row returns no key: returning and ignore_conflicts exclude")
    meta = type(rows[0])._meta
    fields = [
        field
        for field in meta.local_concrete_fields
        if not (field.primary_key and getattr(rows[0], field.attname) is None)
    ]
    ops = connection.ops
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    head = (
        f"{ops.insert_statement(on_conflict=on_conflict)} {ops.quote_name(meta.db_table)} "
        f"({', '.join(ops.quote_name(field.column) for field in fields)}) VALUES "
    )
    suffix = ops.on_conflict_suffix_sql(fields, on_conflict, None, None) or ""
    prepare = _Preparer(fields)
    params = [prepare(row) for row in rows]
    row_sql = f"({', '.join(['%s'] * len(fields))})"
    if not returning:
        insert_values(head, row_sql, params, suffix)
        return
    assert meta.pk is not None
    keys = insert_values(head, row_sql, params, f" RETURNING {ops.quote_name(meta.pk.column)}")
    if len(keys) != len(rows):  # pragma: no cover - a driver that returns no rows
        raise DatabaseError(f"INSERT ... RETURNING gave {len(keys)} keys for {len(rows)} rows")
    for instance, (key,) in zip(rows, keys, strict=True):
        instance.pk = key
        instance._state.adding = False
        instance._state.db = connection.alias


class _Preparer:
    """What ``field.get_db_prep_save(field.pre_save(row, True), connection)`` gives for each
    field of a row, with the dispatch skipped where it cannot change the value: a ``str`` for
    a text field, an ``int`` for an integer field or a foreign key to one, a ``bool`` for a
    boolean, ``None`` for a nullable field, and UTC datetimes (``datetime_adapter``). Every
    other value (JSON, UUIDs, choices enums, decimals ...) goes through the field as before.
    ``pre_save`` runs only for fields that define their own (``auto_now`` ...)."""

    # Django's own field classes (not subclasses, which may convert) whose preparation
    # returns a value of this type unchanged.
    _IDENTITY: dict[type[Field[Any, Any]], type] = {
        **dict.fromkeys(
            (models.CharField, models.TextField, models.SlugField, models.EmailField), str
        ),
        **dict.fromkeys(
            (
                models.IntegerField,
                models.BigIntegerField,
                models.SmallIntegerField,
                models.PositiveIntegerField,
                models.PositiveBigIntegerField,
                models.PositiveSmallIntegerField,
                models.AutoField,
                models.BigAutoField,
                models.SmallAutoField,
            ),
            int,
        ),
        models.BooleanField: bool,
    }

    def __init__(self, fields: Sequence[Field[Any, Any]]) -> None:
        adapt = datetime_adapter()
        self._plan: list[tuple[Field[Any, Any], str, bool, type | None, Any]] = []
        for field in fields:
            target = field
            if type(field) in (models.ForeignKey, models.OneToOneField):
                target = field.target_field  # type: ignore[attr-defined]
            own_pre_save = type(field).pre_save is not Field.pre_save
            if type(field) in (models.DateTimeField, models.DateField):
                own_pre_save = field.auto_now or field.auto_now_add  # type: ignore[attr-defined]
            identity = self._IDENTITY.get(type(target))
            adapt_time = adapt if type(target) is models.DateTimeField else None
            self._plan.append((field, field.attname, own_pre_save, identity, adapt_time))

    def __call__(self, row: Model) -> list[Any]:
        values: list[Any] = []
        append = values.append
        for field, attname, own_pre_save, identity, adapt_time in self._plan:
            value = field.pre_save(row, True) if own_pre_save else getattr(row, attname)
            if value is None and field.null:
                append(None)
            elif identity is not None and type(value) is identity:
                append(value)
            elif adapt_time is not None and type(value) is datetime and value.tzinfo is UTC:
                append(adapt_time(value))
            else:
                append(field.get_db_prep_save(value, connection))
        return values


VALUES_ROWS = 500  # rows per statement (parameters: SQLite allows 32,766, PostgreSQL 65,535)


def insert_values(
    head: str, row: str, params: Sequence[Sequence[Any]], suffix: str = ""
) -> list[tuple[Any, ...]]:
    """Run ``head`` (``INSERT ... VALUES ``), one ``row`` (a ``(...)`` of ``%s``) per item of
    ``params``, then ``suffix``, as statements of up to ``VALUES_ROWS`` rows (and 30,000
    parameters), in the driver's own placeholders (``fetch_raw``); return the rows the
    statements return (a ``RETURNING`` suffix), in order."""
    per_statement = max(1, min(VALUES_ROWS, 30_000 // max(1, row.count("%s"))))
    returned: list[tuple[Any, ...]] = []
    for start in range(0, len(params), per_statement):
        chunk = params[start : start + per_statement]
        values = values_rows(row, len(chunk), connection.vendor)
        returned += fetch_raw(f"{head}{values}{suffix}", [value for one in chunk for value in one])
    return returned


@functools.lru_cache(maxsize=64)  # up to ~50 KB each: a few MB at most
def values_rows(row: str, rows: int, vendor: str) -> str:
    """``rows`` copies of ``row`` (a ``(...)`` of ``%s`` placeholders), comma-separated, in the
    driver's own placeholders for ``fetch_raw``: sqlite3's ``?``, psycopg's ``$1``, ``$2`` ..."""
    pieces = row.split("%s")
    if vendor != "postgresql":
        return ", ".join(["?".join(pieces)] * rows)
    numbers = itertools.count(1)
    return ", ".join(
        pieces[0] + "".join(f"${next(numbers)}{piece}" for piece in pieces[1:]) for _ in range(rows)
    )


def update_rows(rows: Sequence[Model], fields: Sequence[str]) -> None:
    """UPDATE ``fields`` of saved model instances of one model by primary key, with one
    prepared ``executemany`` (``bulk_update`` builds one ``CASE WHEN`` per field and row)."""
    if not rows:
        return
    meta = type(rows[0])._meta
    concrete = {field.name: field for field in meta.concrete_fields}
    columns = [concrete[name] for name in fields]
    qn = connection.ops.quote_name
    assert meta.pk is not None
    sql = (
        f"UPDATE {qn(meta.db_table)} SET "
        f"{', '.join(f'{qn(field.column)} = %s' for field in columns)} "
        f"WHERE {qn(meta.pk.column)} = %s"
    )
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in columns]
        + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def fetch_raw(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run a statement on the driver's own cursor, in the current transaction; return its rows
    (none for a statement that returns none).

    Django's cursor costs a lot on statements of thousands of parameters: on SQLite it rewrites
    every ``%s`` to ``?`` with a regex, and psycopg parses any query over 4 KB for its ``%s``
    anew, then quotes each value into the SQL (client-side binding). Here sqlite3 gets ``?``
    and psycopg's ``RawCursor`` gets ``$1``: the values are sent apart, nothing is parsed.
    Such a statement is not in ``connection.queries`` (DEBUG); errors are Django's, as usual.
    """
    connection.validate_no_broken_transaction()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        if connection.vendor == "postgresql":
            import psycopg

            with psycopg.RawCursor(connection.connection) as cursor:
                # Unprepared: a prepared statement per batch size would pile up on the server.
                cursor.execute(sql, params, prepare=False)
                return cursor.fetchall() if cursor.description else []
        cursor = connection.connection.cursor()
        try:
            cursor.execute(sql, params)
            rows: list[tuple[Any, ...]] = cursor.fetchall()
        finally:
            cursor.close()
        return rows
