"""A group commit stores exactly what its alerts give when applied one at a time, in order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from tests.alerts.helpers import PD_KEY
from tocsin.alerts import services
from tocsin.alerts.models import Alert, Integration, Service
from tocsin.alerts.services import IngestItem, IngestResult, alerts_ingest, alerts_ingest_many
from tocsin.alerts.sources.base import NormalizedAlert
from tocsin.engine.models import Timer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LONG = "checkout/" + "x" * 300  # over the column's 255 characters: stored hashed

# (integration id, stored fingerprint, n-th alert of that key): the same in both runs.
Identity = tuple[int, str, int]


def trigger(key: str, **fields: Any) -> NormalizedAlert:
    values: dict[str, Any] = {
        "title": f"Latency high on {key[:20]}",
        "source_severity": "critical",
        "labels": {"alertname": "HighLatency", "key": key[:20]},
        "details": {"seen": T0, "key": key[:20]},  # a datetime: stored with default=str
    }
    return NormalizedAlert(fingerprint=key, status="firing", **{**values, **fields})


def resolve(key: str) -> NormalizedAlert:
    return NormalizedAlert(fingerprint=key, status="resolved", title="")


def ack(key: str) -> NormalizedAlert:
    return NormalizedAlert(fingerprint=key, status="firing", title="", acknowledge=True)


def items(*deliveries: tuple[Integration, list[NormalizedAlert]]) -> list[IngestItem]:
    """One delivery a second, so that each alert's outbox timer tells which delivery it is."""
    return [
        IngestItem(integration=integration, alerts=alerts, now=T0 + timedelta(seconds=n))
        for n, (integration, alerts) in enumerate(deliveries)
    ]


def one_at_a_time(batch: list[IngestItem]) -> list[IngestResult]:
    """Each alert of each delivery in a transaction of its own: the reference."""
    results = []
    for item in batch:
        total = IngestResult()
        for alert in item.alerts:
            alone = alerts_ingest(integration=item.integration, alerts=[alert], now=item.now)
            for field in dataclasses.fields(IngestResult):
                name = field.name
                setattr(total, name, getattr(total, name) + getattr(alone, name))
        results.append(total)
    return results


def identities() -> dict[int, Identity]:
    seen: dict[tuple[int, str], int] = {}
    found = {}
    for alert_id, integration_id, fingerprint in Alert.objects.order_by("id").values_list(
        "id", "integration_id", "fingerprint"
    ):
        n = seen[integration_id, fingerprint] = seen.get((integration_id, fingerprint), -1) + 1
        found[alert_id] = (integration_id, fingerprint, n)
    return found


def stored() -> tuple[dict[Identity, dict[str, Any]], list[tuple[Identity, datetime, str]]]:
    """Every alert's columns but its ids, and the ``alert.process`` timers in insert order."""
    named = identities()
    alerts = {
        named[row["id"]]: {k: v for k, v in row.items() if k not in {"id", "public_id"}}
        for row in Alert.objects.values()
    }
    timers = [
        (named[timer.payload["alert"]], timer.due_at, timer.lane)
        for timer in Timer.objects.filter(kind="alert.process").order_by("id")
    ]
    return alerts, timers


def forget() -> None:
    Alert.objects.all().delete()
    Timer.objects.all().delete()


def assert_same_as_one_at_a_time(batch: list[IngestItem]) -> list[IngestResult]:
    results = alerts_ingest_many(batch)
    in_one_go = stored()
    forget()
    assert results == one_at_a_time(batch)
    assert in_one_go == stored()
    return results


@pytest.fixture
def search(db: None) -> Service:
    """A second service, with a severity map of its own."""
    svc = Service.objects.create(name="Search", severity_map={"critical": "P2"})
    Integration.objects.create(service=svc, kind="pagerduty", key="search-pd-1")
    return svc


def integration(key: str) -> Integration:
    return Integration.objects.select_related("service").get(key=key)


def mixed() -> list[IngestItem]:
    """Triggers, repeats, resolves and acknowledges on four integrations of two services."""
    pd, am, wh = integration(PD_KEY), integration("am-checkout-1"), integration("wh-checkout-1")
    other = integration("search-pd-1")
    return items(
        (pd, [trigger("disk")]),
        (pd, [trigger("disk", title="Disk still full", source_severity="warning")]),
        (am, [trigger("disk"), trigger("cpu"), trigger("disk")]),
        (pd, [resolve("disk")]),
        (pd, [trigger("disk")]),
        (pd, [ack("disk")]),
        (pd, [ack("disk")]),
        (pd, [ack("never-seen")]),
        (pd, [resolve("never-seen")]),
        (am, [trigger(LONG), resolve("cpu"), trigger(LONG, labels={"n": "2"}), trigger("cpu")]),
        (other, [trigger("disk"), trigger(LONG)]),
        (am, [resolve(LONG)]),
        (pd, [trigger("disk")]),
        (wh, [trigger("disk", starts_at=T0 - timedelta(minutes=5), source_severity="")]),
    )


@pytest.mark.parametrize("rows_per_statement", [500, 2])
def test_a_mixed_batch_stores_what_its_alerts_give_one_at_a_time(
    service: Service, search: Service, rows_per_statement: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "_UPSERT_ROWS", rows_per_statement)
    batch = mixed()

    results = assert_same_as_one_at_a_time(batch)

    assert results == [
        IngestResult(accepted=1, new=1),
        IngestResult(accepted=1, repeated=1),
        IngestResult(accepted=3, new=2, repeated=1),
        IngestResult(accepted=1, resolved=1),
        IngestResult(accepted=1, new=1),
        IngestResult(accepted=1, acknowledged=1),
        IngestResult(accepted=1, ignored=1),
        IngestResult(accepted=1, ignored=1),
        IngestResult(accepted=1, ignored=1),
        IngestResult(accepted=4, new=2, repeated=1, resolved=1),
        IngestResult(accepted=2, new=2),
        IngestResult(accepted=1, resolved=1),
        IngestResult(accepted=1, repeated=1),
        IngestResult(accepted=1, new=1),
    ]


def test_a_mixed_batch_keeps_every_alert_and_timer_in_order(
    service: Service, search: Service
) -> None:
    batch = mixed()
    pd, am, wh, other = (batch[0].integration.id, batch[2].integration.id,
                         batch[13].integration.id, batch[10].integration.id)  # fmt: skip
    hashed = services._fingerprint(LONG)

    alerts_ingest_many(batch)

    alerts, timers = stored()
    assert hashed.startswith("sha256:")
    assert {key: (a["status"], a["count"], a["acknowledged"]) for key, a in alerts.items()} == {
        (pd, "disk", 0): ("resolved", 2, False),
        (pd, "disk", 1): ("firing", 2, True),
        (am, "disk", 0): ("firing", 2, False),
        (am, "cpu", 0): ("resolved", 1, False),
        (am, "cpu", 1): ("firing", 1, False),
        (am, hashed, 0): ("resolved", 2, False),
        (other, "disk", 0): ("firing", 1, False),
        (other, hashed, 0): ("firing", 1, False),
        (wh, "disk", 0): ("firing", 1, False),
    }
    first = alerts[pd, "disk", 0]
    # The repeat updated what a repeat updates; the first delivery's time stays first_seen.
    assert (first["title"], first["severity"], first["source_severity"]) == (
        "Disk still full",
        "P3",
        "warning",
    )
    assert (first["first_seen"], first["last_seen"], first["resolved_at"]) == (
        T0,
        T0 + timedelta(seconds=3),
        T0 + timedelta(seconds=3),
    )
    assert alerts[am, hashed, 0]["labels"] == {"n": "2"}
    assert alerts[other, "disk", 0]["severity"] == "P2"  # the alert's own service's map
    assert alerts[wh, "disk", 0]["starts_at"] == T0 - timedelta(minutes=5)
    assert alerts[wh, "disk", 0]["details"] == {"seen": str(T0), "key": "disk"}
    at = [T0 + timedelta(seconds=n) for n in range(14)]
    assert [(alert, due) for alert, due, _lane in timers] == [
        ((pd, "disk", 0), at[0]),
        ((pd, "disk", 0), at[1]),  # a repeat whose severity changed: processed again
        ((am, "disk", 0), at[2]),
        ((am, "cpu", 0), at[2]),
        ((pd, "disk", 0), at[3]),
        ((pd, "disk", 1), at[4]),
        ((pd, "disk", 1), at[5]),
        ((am, hashed, 0), at[9]),
        ((am, "cpu", 0), at[9]),
        ((am, "cpu", 1), at[9]),
        ((other, "disk", 0), at[10]),
        ((other, hashed, 0), at[10]),
        ((am, hashed, 0), at[11]),
        ((wh, "disk", 0), at[13]),
    ]


def test_hot_keys_repeated_in_one_delivery_are_counted_round_after_round(
    service: Service,
) -> None:
    am, pd = integration("am-checkout-1"), integration(PD_KEY)
    hot = [trigger(f"hot-{n % 7}", title=f"Seen {n}") for n in range(350)]
    batch = items(
        (am, [*hot[:200], resolve("hot-3"), *hot[200:]]),
        (pd, [trigger("hot-0")] * 3),
        (am, hot[:14]),
    )

    results = assert_same_as_one_at_a_time(batch)

    assert results == [
        IngestResult(accepted=351, new=8, repeated=342, resolved=1),
        IngestResult(accepted=3, new=1, repeated=2),
        IngestResult(accepted=14, repeated=14),
    ]
    firing = Alert.objects.filter(integration=am, status="firing")
    assert dict(firing.values_list("fingerprint", "count")) == {
        **{f"hot-{n}": 52 for n in range(7)},
        "hot-3": 23,  # 21 after its resolve, and 2 more
    }
    assert Alert.objects.get(integration=am, status="resolved").count == 29
    assert firing.get(fingerprint="hot-6").title == "Seen 13"
    assert Alert.objects.get(integration=pd).count == 3


def test_a_batch_larger_than_one_statement_counts_every_alert(service: Service) -> None:
    pd = integration(PD_KEY)
    batch = items(*[(pd, [trigger(f"k{n % 1000}", title=f"Seen {n}")]) for n in range(1200)])

    results = alerts_ingest_many(batch)

    assert (
        results
        == [IngestResult(accepted=1, new=1)] * 1000 + [IngestResult(accepted=1, repeated=1)] * 200
    )
    alerts, timers = stored()
    assert {key[1]: (a["count"], a["title"]) for key, a in alerts.items()} == {
        f"k{n}": (2, f"Seen {n + 1000}") if n < 200 else (1, f"Seen {n}") for n in range(1000)
    }
    lane = f"service:{pd.service_id}"  # fairness lane of the alert's service
    assert timers == [((pd.id, f"k{n}", 0), T0 + timedelta(seconds=n), lane) for n in range(1000)]

    assert alerts_ingest_many(batch[:600]) == [IngestResult(accepted=1, repeated=1)] * 600
    assert Alert.objects.get(fingerprint="k0").count == 3
    assert Timer.objects.count() == 1000


def test_each_delivery_maps_severity_through_its_own_copy_of_the_service(
    service: Service,
) -> None:
    fresh, stale = integration(PD_KEY), integration(PD_KEY)
    stale.service.severity_map = {"critical": "P4"}  # cached before an edit, say
    batch = items((fresh, [trigger("a")]), (stale, [trigger("b")]), (fresh, [trigger("c")]))

    assert_same_as_one_at_a_time(batch)

    assert dict(Alert.objects.values_list("fingerprint", "severity")) == {
        "a": "P1",
        "b": "P4",
        "c": "P1",
    }


def test_a_database_error_is_djangos_and_stores_nothing_of_the_batch(service: Service) -> None:
    pd = integration(PD_KEY)
    broken = Integration(id=pd.id, kind=pd.kind, key=pd.key)  # no service: NOT NULL fails
    batch = items((pd, [trigger("a"), resolve("a")]), (broken, [trigger("b", source_severity="")]))

    with pytest.raises(IntegrityError):
        alerts_ingest_many(batch)

    assert not Alert.objects.exists()
    assert not Timer.objects.exists()


class _RolledBack(Exception):
    pass


def test_a_prepared_batch_applied_again_after_a_rollback_stores_it_once(
    service: Service, search: Service
) -> None:
    # The group-commit writer prepares a batch once, outside its transaction, and applies it
    # again when an attempt is rolled back (SQLite's write lock was taken): nothing of the
    # first attempt may show, in the rows or in the results.
    batch = mixed()
    prepared = services.alerts_prepare(batch)
    with pytest.raises(_RolledBack), transaction.atomic():
        services.alerts_ingest_prepared(prepared)
        raise _RolledBack

    results = services.alerts_ingest_prepared(prepared)
    again = stored()
    forget()
    assert results == alerts_ingest_many(batch)
    assert again == stored()


def test_a_round_is_upserted_in_key_order(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two group commits at once (web processes on PostgreSQL) lock the rows they share in
    # the same order: they wait for each other instead of deadlocking.
    seen: list[list[tuple[int, str]]] = []
    real = services._upsert

    def upsert(rows: list[Any]) -> None:
        seen.append([firing.key for firing in rows])
        real(rows)

    monkeypatch.setattr(services, "_upsert", upsert)
    pd = integration(PD_KEY)
    alerts_ingest_many(items((pd, [trigger("c"), trigger("b")]), (pd, [trigger("a")])))

    assert seen == [sorted(seen[0])] and len(seen[0]) == 3
