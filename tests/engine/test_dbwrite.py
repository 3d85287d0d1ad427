"""Write transactions poll for SQLite's write lock instead of sleeping in its busy handler."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from tocsin import dbwrite
from tocsin.dbwrite import atomic_polling
from tocsin.engine.models import Timer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def locked_twice(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """BEGIN finds the write lock taken twice (another writer), then gets it."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's write lock")
    attempts: list[int] = []
    real_atomic = transaction.atomic

    @contextlib.contextmanager
    def atomic() -> Iterator[None]:
        attempts.append(1)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone()[0] == 0  # polled by us, not SQLite's busy handler
        if len(attempts) <= 2:
            raise OperationalError("database is locked")
        with real_atomic():
            yield

    monkeypatch.setattr(dbwrite.transaction, "atomic", atomic)
    return attempts


def _timer(key: str) -> Timer:
    return Timer.objects.create(kind="test.record", due_at=timezone.now(), key=key)


def _busy_timeout() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        return int(cursor.fetchone()[0])


def test_it_retries_until_it_gets_the_lock(
    locked_twice: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbwrite.contention, "at", float("-inf"))
    configured = _busy_timeout()
    atomic_polling(lambda: _timer("after-the-lock"), wait=10)
    assert len(locked_twice) == 3
    assert Timer.objects.filter(key="after-the-lock").count() == 1
    assert _busy_timeout() == configured  # restored for everything else
    # ... and the worker knows another writer wants the lock (it shortens its batches).
    assert dbwrite.contention.seconds_since() < 60


def test_it_gives_up_after_the_wait(locked_twice: list[int]) -> None:
    with pytest.raises(OperationalError, match="locked"):
        atomic_polling(lambda: _timer("never"), wait=0.0)
    assert len(locked_twice) == 1
    assert not Timer.objects.exists()


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise OperationalError("no such table: nowhere")

    with pytest.raises(OperationalError, match="no such table"):
        atomic_polling(broken)
    assert calls == [1]


# ---- insert_rows / update_rows --------------------------------------------------------------


def _fields(timer: Timer) -> dict[str, object]:
    return {
        f.attname: getattr(timer, f.attname)
        for f in Timer._meta.concrete_fields
        if f.attname not in {"id", "created_at"}
    }


def test_insert_rows_writes_what_save_writes_and_skips_existing_keys() -> None:
    due = timezone.now()
    existing = Timer.objects.create(kind="test.kept", due_at=due, key="taken", payload={"a": 1})
    rows = [
        Timer(kind="test.new", due_at=due, key="fresh", payload={"n": [1, "x"]}, lane="service:3"),
        Timer(kind="test.new", due_at=due, key="taken", payload={"n": 2}),  # key exists: skipped
        Timer(kind="test.new", due_at=due, payload={}),
    ]
    dbwrite.insert_rows(rows, ignore_conflicts=True)

    stored = {t.key: t for t in Timer.objects.exclude(pk=existing.pk)}
    assert set(stored) == {"fresh", None}
    assert _fields(stored["fresh"]) == _fields(rows[0])
    assert stored["fresh"].created_at is not None  # auto_now_add filled as by save()
    assert Timer.objects.get(key="taken").kind == "test.kept"


def test_insert_rows_without_ignore_conflicts_raises_on_a_taken_key() -> None:
    Timer.objects.create(kind="test.kept", due_at=timezone.now(), key="taken")
    with pytest.raises(IntegrityError), transaction.atomic():
        dbwrite.insert_rows([Timer(kind="test.new", due_at=timezone.now(), key="taken")])


def test_update_rows_sets_the_named_fields_of_each_row_only() -> None:
    first, second = _timer("one"), _timer("two")
    first.lane, second.lane = "service:1", "service:2"
    first.kind = "test.changed"  # not named: left as stored
    dbwrite.update_rows([first, second], ["lane"])

    assert list(Timer.objects.order_by("key").values_list("key", "lane", "kind")) == [
        ("one", "service:1", "test.record"),
        ("two", "service:2", "test.record"),
    ]


def test_fetch_raw_runs_a_statement_in_the_drivers_placeholders() -> None:
    mark = "$1" if connection.vendor == "postgresql" else "?"
    table = Timer._meta.db_table
    written = dbwrite.fetch_raw(
        f"INSERT INTO {table} (kind, due_at, payload, lane, token, attempts, last_error, "
        f"created_at) VALUES ({mark}, CURRENT_TIMESTAMP, '{{}}', '', '{'0' * 31}1', 0, '', "
        "CURRENT_TIMESTAMP)",
        ["test.raw"],
    )
    assert written == []  # no RETURNING: no rows, on both drivers
    rows = dbwrite.fetch_raw(f"SELECT kind FROM {table} WHERE kind = {mark}", ["test.raw"])
    assert rows == [("test.raw",)]


def test_a_dedicated_connection_keeps_busy_timeout_zero_and_sets_it_again_after_reconnecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's busy timeout")
    configured = _busy_timeout()
    assert configured > 0
    statements: list[str] = []

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        atomic_polling(lambda: _timer("first"), dedicated=True)
        assert _busy_timeout() == 0  # left so: the writer's connection polls for every write
        statements.clear()
        atomic_polling(lambda: _timer("second"), dedicated=True)
        assert not [s for s in statements if "busy_timeout" in s]  # not set again
    connection.close()  # a new connection starts with the configured timeout ...
    atomic_polling(lambda: _timer("third"), dedicated=True)
    assert _busy_timeout() == 0  # ... and is set anew
    assert Timer.objects.filter(key__in=["first", "second", "third"]).count() == 3


def test_datetime_adapter_writes_what_django_writes() -> None:
    from datetime import UTC, datetime, timedelta
    from datetime import timezone as tz

    adapt = dbwrite.datetime_adapter()
    for value in [
        datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 3, 30, tzinfo=tz(timedelta(hours=2))),
        None,
    ]:
        assert adapt(value) == connection.ops.adapt_datetimefield_value(value)


def test_insert_rows_writes_more_rows_than_one_statement_takes() -> None:
    due = timezone.now()
    count = 2 * dbwrite.VALUES_ROWS + 7
    dbwrite.insert_rows(
        [Timer(kind="test.many", due_at=due, key=f"k{n}", payload={"n": n}) for n in range(count)],
        ignore_conflicts=True,
    )
    stored = dict(Timer.objects.filter(kind="test.many").values_list("key", "payload"))
    assert len(stored) == count
    assert stored["k0"] == {"n": 0} and stored[f"k{count - 1}"] == {"n": count - 1}


def _models_written_by_insert_rows() -> list[type[Model]]:
    from tocsin.escalation.models import EscalationRun
    from tocsin.incidents.models import Incident, TimelineEvent
    from tocsin.notifications.models import Delivery

    return [Timer, TimelineEvent, EscalationRun, Delivery, Incident]


def _unwrapped(value: object) -> object:
    return (type(value).__name__, value.obj) if type(value).__name__ == "Jsonb" else value  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", _models_written_by_insert_rows(), ids=lambda m: m.__name__)
def test_insert_rows_prepares_every_value_as_the_field_does(model: type[Model]) -> None:
    """The short ways of ``_Preparer`` (str, int, bool, None, UTC datetimes) give exactly what
    the fields' own ``get_db_prep_save`` gives, for every field of every model written so."""
    from datetime import UTC, datetime, timedelta
    from datetime import timezone as tz

    import time_machine

    fields = [f for f in model._meta.local_concrete_fields if not f.primary_key]
    samples: dict[str, list[object]] = {
        "CharField": ["text", "", None],
        "TextField": ["long text", None],
        "IntegerField": [0, 7, None],
        "PositiveIntegerField": [3, None],
        "BigIntegerField": [2**40, None],
        "BooleanField": [True, False],
        "DateTimeField": [
            datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=UTC),
            datetime(2026, 3, 29, 3, 30, tzinfo=tz(timedelta(hours=2))),
            None,
        ],
        "JSONField": [{"a": [1, "x"]}, [], None],
        "UUIDField": [uuid.UUID(int=5), None],
        "ForeignKey": [1, None],
    }
    prepare = dbwrite._Preparer(fields)
    checked = 0
    with time_machine.travel(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), tick=False):
        for round_ in range(3):
            row = model()
            for field in fields:
                values = samples.get(field.get_internal_type(), [])
                if values:
                    setattr(row, field.attname, values[round_ % len(values)])
            expected = [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
            # psycopg's Jsonb wrapper compares by identity: compare what it wraps
            assert [_unwrapped(v) for v in prepare(row)] == [_unwrapped(v) for v in expected]
            checked += len(fields)
    assert checked >= 3 * 5


def test_insert_rows_returning_gives_each_row_its_key_in_order() -> None:
    due = timezone.now()
    count = dbwrite.VALUES_ROWS + 3  # two statements
    rows = [Timer(kind="test.returning", due_at=due, key=f"r{n}") for n in range(count)]
    dbwrite.insert_rows(rows, returning=True)

    stored = dict(Timer.objects.filter(kind="test.returning").values_list("pk", "key"))
    assert [stored[row.pk] for row in rows] == [row.key for row in rows]
    assert not rows[0]._state.adding  # saved: a later save() updates instead of inserting
    rows[0].lane = "service:9"
    rows[0].save(update_fields=["lane"])
    assert Timer.objects.get(key="r0").lane == "service:9"


def test_insert_rows_cannot_return_keys_of_skipped_rows() -> None:
    with pytest.raises(ValueError, match="returning and ignore_conflicts"):
        dbwrite.insert_rows(
            [Timer(kind="x", due_at=timezone.now())], returning=True, ignore_conflicts=True
        )
