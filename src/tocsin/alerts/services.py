"""Alert writes: durable ingestion with dedup, and grouping into incidents (run by the worker)."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tocsin.alerts.models import Alert, ChangeEvent, Integration, Service
from tocsin.alerts.sources.base import NormalizedAlert
from tocsin.engine.models import Timer
from tocsin.engine.services import timers_schedule_many, wake_worker
from tocsin.incidents.models import Incident
from tocsin.incidents.services import (
    incident_acknowledge,
    incident_create,
    incident_open_for_group,
    incident_resolve,
    incident_set_severity,
    timeline_add,
)
from tocsin.policy.selectors import severity_rank


@dataclass
class IngestResult:
    accepted: int = 0
    new: int = 0
    repeated: int = 0
    resolved: int = 0
    acknowledged: int = 0
    ignored: int = 0


_MAX_FINGERPRINT = 255


def _fingerprint(value: str) -> str:
    """The stored form of a source's key: as sent, or hashed when too long for the column.

    Hashing rather than cutting keeps two long keys with a common prefix apart, and the same
    function serves insert, resolve and acknowledge so they always agree.
    """
    if len(value) <= _MAX_FINGERPRINT:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def severity_for(*, service: Service, value: str) -> str:
    """Map a source's severity value through the service's ``severity_map``."""
    if not value:
        return ""
    mapping = {str(k).lower(): str(v) for k, v in (service.severity_map or {}).items()}
    return mapping.get(value.lower(), "")


_UPSERT_SQL = """
INSERT INTO alerts_alert (
    public_id, integration_id, service_id, fingerprint, group_key, status, acknowledged,
    title, source, severity, source_severity, labels, annotations, details, links,
    count, first_seen, last_seen, starts_at
) VALUES (%s, %s, %s, %s, %s, 'firing', %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s, %s)
ON CONFLICT (integration_id, fingerprint) WHERE status = 'firing'
DO UPDATE SET
    count = alerts_alert.count + 1,
    last_seen = excluded.last_seen,
    title = excluded.title,
    severity = excluded.severity,
    source_severity = excluded.source_severity,
    labels = excluded.labels,
    annotations = excluded.annotations,
    details = excluded.details,
    links = excluded.links
RETURNING id, count
"""


_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _public_id() -> str:
    """``tocsin.ids.new_public_id()`` from one 8-byte read of the OS RNG instead of twelve.

    The same 12 characters of Crockford base32 (60 random bits); the alphabet has 32 letters,
    so taking 5 bits per letter keeps every letter equally likely.
    """
    bits = int.from_bytes(secrets.token_bytes(8), "big")
    return "".join(_ALPHABET[(bits >> (5 * k)) & 31] for k in range(12))


def _upsert_firing(
    *, integration: Integration, alert: NormalizedAlert, now: datetime
) -> tuple[int, bool]:
    """Insert a firing alert or count a repeat (dedup); return (id, created)."""
    ops = connection.ops
    params: list[Any] = [
        _public_id(),
        integration.id,
        integration.service_id,
        _fingerprint(alert.fingerprint),
        alert.group_key[:1000],
        False,
        alert.title[:1024],
        alert.source[:255],
        severity_for(service=integration.service, value=alert.source_severity),
        alert.source_severity[:64],
        json.dumps(alert.labels),
        json.dumps(alert.annotations),
        json.dumps(alert.details, default=str),
        json.dumps(alert.links),
        ops.adapt_datetimefield_value(now),
        ops.adapt_datetimefield_value(now),
        ops.adapt_datetimefield_value(alert.starts_at),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SQL, params)
        row = cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1]) == 1


def _resolve_firing(
    *, integration: Integration, alert: NormalizedAlert, now: datetime
) -> list[int]:
    """Resolve the firing alert with this fingerprint; return the ids this call resolved."""
    ids = Alert.objects.filter(
        integration=integration,
        fingerprint=_fingerprint(alert.fingerprint),
        status=Alert.Status.FIRING,
    ).values_list("id", flat=True)
    # Per-row conditional update: of two concurrent resolves only one counts the change.
    return [
        alert_id
        for alert_id in list(ids)
        if Alert.objects.filter(id=alert_id, status=Alert.Status.FIRING).update(
            status=Alert.Status.RESOLVED, resolved_at=now, last_seen=now
        )
    ]


def _ingest_into(
    *,
    integration: Integration,
    alerts: list[NormalizedAlert],
    now: datetime,
    changed: list[int],
) -> IngestResult:
    """Apply one delivery's alerts inside the caller's transaction; collect changed alert ids."""
    result = IngestResult()
    for alert in alerts:
        result.accepted += 1
        if alert.acknowledge:
            # An acknowledge only marks an alert Tocsin already has firing: one for a key it
            # never saw is accepted and ignored, never turned into a new firing alert.
            acknowledged = _acknowledge_firing(
                integration=integration, fingerprint=alert.fingerprint, now=now
            )
            changed.extend(acknowledged)
            result.acknowledged += len(acknowledged)
            result.ignored += not acknowledged
            continue
        if alert.status == "resolved":
            resolved = _resolve_firing(integration=integration, alert=alert, now=now)
            changed.extend(resolved)
            result.resolved += len(resolved)
            # A resolve for an alert Tocsin never saw firing (or already resolved) is accepted
            # and ignored, as PagerDuty and Alertmanager receivers do.
            result.ignored += not resolved
            continue
        alert_id, created = _upsert_firing(integration=integration, alert=alert, now=now)
        if created:
            result.new += 1
            changed.append(alert_id)
        else:
            result.repeated += 1
    return result


def _schedule_processing(changed: list[tuple[int, datetime]]) -> None:
    """Write the ``alert.process`` outbox timers of the changed alerts.

    A few go through ``timers_schedule_many``; a group commit's many go in one prepared
    ``executemany`` (the ORM's per-row bulk_create work was the largest cost of a batch).
    The rows are the ones ``timers_schedule_many`` writes: key-less, due at the alert's time.
    """
    if len(changed) < _RAW_TIMERS_FROM:
        timers_schedule_many(
            [Timer(kind="alert.process", due_at=at, payload={"alert": i}) for i, at in changed]
        )
        return
    meta = Timer._meta
    payload, token = meta.get_field("payload"), meta.get_field("token")
    adapt = connection.ops.adapt_datetimefield_value
    created = adapt(timezone.now())
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} "
        "(kind, due_at, incident_id, payload, key, token, attempts, last_error, created_at, "
        "done_at) VALUES ('alert.process', %s, NULL, %s, NULL, %s, 0, '', %s, NULL)"
    )
    params = [
        (
            adapt(at),
            payload.get_db_prep_save({"alert": i}, connection),
            token.get_db_prep_save(uuid.uuid4(), connection),
            created,
        )
        for i, at in changed
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    wake_worker()


_RAW_TIMERS_FROM = 8


@transaction.atomic
def alerts_ingest(
    *, integration: Integration, alerts: list[NormalizedAlert], now: datetime | None = None
) -> IngestResult:
    """Store alerts durably in one transaction, with an outbox timer for each state change.

    The caller answers 2xx only after this returns (the commit happened). Grouping into
    incidents runs in the worker from the ``alert.process`` timers written here.
    """
    now = now or timezone.now()
    changed: list[int] = []
    result = _ingest_into(integration=integration, alerts=alerts, now=now, changed=changed)
    _schedule_processing([(i, now) for i in changed])
    return result


@dataclass
class IngestItem:
    """One delivery of a group commit: its integration, its alerts and when it arrived."""

    integration: Integration
    alerts: list[NormalizedAlert]
    now: datetime


@transaction.atomic
def alerts_ingest_many(items: list[IngestItem]) -> list[IngestResult]:
    """Group commit: apply many deliveries in ONE transaction (one durable commit for all).

    Each item gets the result ``alerts_ingest`` would have given it alone, applied in list
    order; the outbox timers of all of them are inserted in one statement. All or nothing:
    on an error nothing is stored and the caller retries the items one by one to find the
    culprit (see ``tocsin.alerts.ingest_fast``).
    """
    changed: list[tuple[int, datetime]] = []
    results = []
    for item in items:
        ids: list[int] = []
        results.append(
            _ingest_into(
                integration=item.integration, alerts=item.alerts, now=item.now, changed=ids
            )
        )
        changed.extend((i, item.now) for i in ids)
    _schedule_processing(changed)
    return results


def _acknowledge_firing(*, integration: Integration, fingerprint: str, now: datetime) -> list[int]:
    """Acknowledge the firing alert with this fingerprint; return the ids this call changed."""
    ids = Alert.objects.filter(
        integration=integration,
        fingerprint=_fingerprint(fingerprint),
        status=Alert.Status.FIRING,
        acknowledged=False,
    ).values_list("id", flat=True)
    # Per-row conditional update, as in _resolve_firing: a repeated ack schedules nothing.
    return [
        alert_id
        for alert_id in list(ids)
        if Alert.objects.filter(id=alert_id, status=Alert.Status.FIRING, acknowledged=False).update(
            acknowledged=True, last_seen=now
        )
    ]


@transaction.atomic
def alerts_acknowledge(*, integration: Integration, fingerprint: str) -> int:
    """Mark the firing alert with this fingerprint acknowledged by its source (PagerDuty ack).

    An unknown or already resolved fingerprint changes nothing (and returns 0).
    """
    now = timezone.now()
    ids = _acknowledge_firing(integration=integration, fingerprint=fingerprint, now=now)
    _schedule_processing([(i, now) for i in ids])
    return len(ids)


@transaction.atomic
def change_event_record(
    *,
    integration: Integration,
    summary: str,
    source: str = "",
    happened_at: datetime | None = None,
    links: list[dict[str, str]] | None = None,
    details: dict[str, Any] | None = None,
) -> ChangeEvent:
    """Record a change event on the service's timeline; it opens nothing."""
    return ChangeEvent.objects.create(
        service_id=integration.service_id,
        integration=integration,
        summary=summary[:1024],
        source=source[:255],
        happened_at=happened_at or timezone.now(),
        links=links or [],
        details=details or {},
    )


# ---- worker side -------------------------------------------------------------------------


def _incident_title(alert: Alert) -> str:
    return alert.title or alert.labels.get("alertname", "") or "Alert"


def _group_key(alert: Alert) -> str:
    # Alerts that name no group form a group of their own (PagerDuty: one incident per dedup_key).
    return alert.group_key or f"alert:{alert.fingerprint}"


def _attach(alert: Alert) -> Incident:
    """Find or open the incident for the alert's group, and link the alert to it."""
    service = alert.service
    group_key = _group_key(alert)
    incident = incident_open_for_group(service=service, group_key=group_key)
    if incident is None:
        try:
            with transaction.atomic():
                incident = incident_create(
                    title=_incident_title(alert),
                    severity=alert.severity,
                    service=service,
                    group_key=group_key,
                    actor_label=alert.integration.kind,
                    at=alert.first_seen,
                    reason=f"Opened by {alert.integration.kind} alert {alert.title!r}",
                )
        except IntegrityError:
            # Another worker opened the group's incident first: join it.
            incident = incident_open_for_group(service=service, group_key=group_key)
            if incident is None:
                raise
    alert.incident = incident
    alert.save(update_fields=["incident"])
    timeline_add(
        incident=incident,
        kind="alert_added",
        actor_label=alert.integration.kind,
        new=alert.status,
        message=alert.title,
        data={"alert": alert.public_id, "fingerprint": alert.fingerprint},
        at=alert.first_seen,
    )
    _raise_severity(incident=incident, alert=alert)
    return incident


def _raise_severity(*, incident: Incident, alert: Alert) -> None:
    """A more severe alert joining the group raises the incident's severity."""
    if alert.severity and severity_rank(alert.severity) < severity_rank(incident.severity):
        incident_set_severity(
            incident=incident,
            severity=alert.severity,
            actor_label=alert.integration.kind,
            message=f"Raised by alert {alert.title!r}",
        )


def alert_process(*, alert_id: int) -> None:
    """Apply an alert's new state to incidents: group, acknowledge, or resolve (idempotent)."""
    alert = Alert.objects.select_related("integration", "service", "incident").filter(id=alert_id)
    current = alert.first()
    if current is None:
        return
    incident = current.incident
    if incident is None:
        # Even an alert that fired and resolved before the worker saw it gets its incident:
        # it was accepted, so it is on record.
        incident = _attach(current)
    if current.status == Alert.Status.RESOLVED:
        _resolve_if_all_resolved(incident=incident, alert=current)
        return
    if current.acknowledged and incident.status == Incident.Status.TRIGGERED:
        incident_acknowledge(
            incident=incident,
            actor_label=current.integration.kind,
            message=f"Acknowledged at the source ({current.integration.kind})",
        )


def _record_resolved(*, incident: Incident, alert: Alert) -> None:
    """One ``alert_resolved`` event per alert, however often its timer runs."""
    if incident.timeline.filter(kind="alert_resolved", data__alert=alert.public_id).exists():
        return
    timeline_add(
        incident=incident,
        kind="alert_resolved",
        actor_label=alert.integration.kind,
        new=Alert.Status.RESOLVED,
        message=alert.title,
        data={"alert": alert.public_id},
        at=alert.resolved_at,
    )


def _resolve_if_all_resolved(*, incident: Incident, alert: Alert) -> None:
    _record_resolved(incident=incident, alert=alert)
    if not incident.is_open or incident.alerts.filter(status=Alert.Status.FIRING).exists():
        return
    # One notification can resolve several alerts at once: record each before the incident
    # closes, so the timeline reads in order whichever alert's timer runs first.
    for other in incident.alerts.filter(status=Alert.Status.RESOLVED).select_related("integration"):
        _record_resolved(incident=incident, alert=other)
    incident_resolve(
        incident=incident,
        actor_label=alert.integration.kind,
        message="Every alert of the incident resolved at its source",
    )
