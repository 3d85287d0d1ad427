"""Alert writes: durable ingestion with dedup, and grouping into incidents (run by the worker)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tocsin.alerts.models import Alert, ChangeEvent, Integration, Service
from tocsin.alerts.sources.base import NormalizedAlert
from tocsin.dbwrite import datetime_adapter, fetch_raw, insert_rows, update_rows, values_rows
from tocsin.engine.services import service_lane, timers_schedule_rows
from tocsin.ids import new_ordered_public_id
from tocsin.incidents.models import Incident
from tocsin.incidents.selectors import open_incidents_for_groups
from tocsin.incidents.services import (
    Opening,
    incident_acknowledge,
    incident_open,
    incident_open_for_group,
    incident_resolve,
    incident_set_severity,
    incidents_open,
    timeline_add,
    timeline_event,
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


def _group_key_stored(value: str) -> str:
    """A group key as stored: as sent up to 1,000 bytes (PostgreSQL's unique index on open
    incidents' group keys takes at most 2,704 bytes a row), else a hash of the whole key, so
    that two long keys with a common prefix stay two groups."""
    if len(value) <= 250 or len(value.encode()) <= 1000:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def severity_for(*, service: Service, value: str) -> str:
    """Map a source's severity value through the service's ``severity_map``."""
    if not value:
        return ""
    mapping = {str(k).lower(): str(v) for k, v in (service.severity_map or {}).items()}
    return mapping.get(value.lower(), "")


# Insert firing alerts or count repeats (dedup), many rows per statement. PostgreSQL refuses
# to update one row twice in a statement ("ON CONFLICT DO UPDATE command cannot affect row a
# second time"), so the rows of one statement have distinct keys (see _Ingest.flush).
_UPSERT_HEAD = """
INSERT INTO alerts_alert (
    public_id, integration_id, service_id, fingerprint, group_key, status, acknowledged,
    title, source, severity, source_severity, labels, annotations, details, links,
    count, first_seen, last_seen, starts_at, previous_severity
) VALUES """
_UPSERT_ROW = (
    "(%s, %s, %s, %s, %s, 'firing', FALSE, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s, %s, '')"
)
_UPSERT_TAIL = """
ON CONFLICT (integration_id, fingerprint) WHERE status = 'firing'
DO UPDATE SET
    count = alerts_alert.count + 1,
    last_seen = excluded.last_seen,
    title = excluded.title,
    previous_severity = alerts_alert.severity,
    severity = excluded.severity,
    source_severity = excluded.source_severity,
    labels = excluded.labels,
    annotations = excluded.annotations,
    details = excluded.details,
    links = excluded.links
RETURNING id, count, integration_id, fingerprint, severity <> previous_severity
"""
# 500 rows are 8,000 parameters: far under SQLite's limit (32,766) and PostgreSQL's (65,535).
_UPSERT_ROWS = 500


def _upsert_sql(rows: int, vendor: str) -> str:
    """The upsert of ``rows`` rows in the driver's own placeholders (see ``dbwrite.fetch_raw``)."""
    return _UPSERT_HEAD + values_rows(_UPSERT_ROW, rows, vendor) + _UPSERT_TAIL


# What json.dumps(value, default=str) gives, without building an encoder for each call.
_dumps_details = json.JSONEncoder(default=str).encode


@dataclass(frozen=True, slots=True)
class _Row:
    """A firing alert's upsert parameters, computed before the transaction (``alerts_prepare``)."""

    key: tuple[int, str]  # (integration id, stored fingerprint): the dedup key
    params: tuple[Any, ...]
    lane: str


@dataclass(slots=True)
class _Firing:
    """A firing alert of the current run, waiting for the run's upsert."""

    result: IngestResult
    now: datetime
    row: _Row
    alert_id: int = 0
    created: bool = False
    reseverity: bool = False  # a repeat whose severity changed

    @property
    def key(self) -> tuple[int, str]:
        return self.row.key


class _Prepare:
    """Compute the firing alerts' upsert parameters (public ids, JSON, mapped severities)
    before the transaction, so that the write lock is held only for the writes."""

    def __init__(self) -> None:
        # A group commit's deliveries share a few times and services: adapt and map once.
        self._adapt = datetime_adapter()
        self._times: dict[datetime | None, Any] = {None: None}
        self._severities: dict[tuple[int, str], str] = {}

    def item(self, item: IngestItem) -> PreparedItem:
        return PreparedItem(
            item=item,
            alerts=[
                alert if alert.acknowledge or alert.status == "resolved" else self._row(item, alert)
                for alert in item.alerts
            ],
        )

    def _row(self, item: IngestItem, alert: NormalizedAlert) -> _Row:
        integration = item.integration
        fingerprint = _fingerprint(alert.fingerprint)
        now = self._time(item.now)
        params = (
            new_ordered_public_id(),
            integration.id,
            integration.service_id,
            fingerprint,
            _group_key_stored(alert.group_key),
            alert.title[:1024],
            alert.source[:255],
            self._severity(integration, alert.source_severity),
            alert.source_severity[:64],
            json.dumps(alert.labels) if alert.labels else "{}",
            json.dumps(alert.annotations) if alert.annotations else "{}",
            _dumps_details(alert.details),
            json.dumps(alert.links) if alert.links else "[]",
            now,
            now,
            self._time(alert.starts_at),
        )
        return _Row((integration.id, fingerprint), params, service_lane(integration.service_id))

    def _time(self, value: datetime | None) -> Any:
        try:
            return self._times[value]
        except KeyError:
            adapted = self._times[value] = self._adapt(value)
            return adapted

    def _severity(self, integration: Integration, value: str) -> str:
        if not value:
            return ""
        service = integration.service
        # Keyed by the object, not its primary key: two deliveries may carry different copies
        # of one service (the integration cache refreshed in between), each with its own map.
        key = (id(service), value)
        try:
            return self._severities[key]
        except KeyError:
            severity = self._severities[key] = severity_for(service=service, value=value)
            return severity


class _Ingest:
    """Apply prepared deliveries in order inside the caller's transaction; collect the changed
    alerts.

    Consecutive firing alerts (a run) are upserted many rows per statement; an acknowledge or
    a resolve first writes the run before it, so each alert finds the state that the alerts
    before it left, exactly as when they are applied one by one.
    """

    def __init__(self) -> None:
        # (alert id, its delivery's time, its service's lane)
        self.changed: list[tuple[int, datetime, str]] = []
        self._run: list[_Firing] = []

    def item(self, prepared: PreparedItem) -> IngestResult:
        """Apply one delivery's alerts (the firing ones are written by ``flush``)."""
        item = prepared.item
        result = IngestResult()
        for alert in prepared.alerts:
            result.accepted += 1
            if isinstance(alert, _Row):
                self._run.append(_Firing(result, item.now, alert))
            elif alert.acknowledge:
                # An acknowledge only marks an alert Tocsin already has firing: one for a key
                # it never saw is accepted and ignored, never turned into a new firing alert.
                self.flush()
                acknowledged = _acknowledge_firing(
                    integration=item.integration, fingerprint=alert.fingerprint, now=item.now
                )
                lane = service_lane(item.integration.service_id)
                self.changed.extend((i, item.now, lane) for i in acknowledged)
                result.acknowledged += len(acknowledged)
                result.ignored += not acknowledged
            else:
                self.flush()
                resolved = _resolve_firing(integration=item.integration, alert=alert, now=item.now)
                lane = service_lane(item.integration.service_id)
                self.changed.extend((i, item.now, lane) for i in resolved)
                result.resolved += len(resolved)
                # A resolve for an alert Tocsin never saw firing (or already resolved) is
                # accepted and ignored, as PagerDuty and Alertmanager receivers do.
                result.ignored += not resolved
        return result

    def flush(self) -> None:
        """Upsert the run in rounds: a key repeated in the run goes to the next round."""
        run, self._run = self._run, []
        rest = run
        while rest:
            keys: set[tuple[int, str]] = set()
            this_round: list[_Firing] = []
            later: list[_Firing] = []
            for firing in rest:
                (later if firing.key in keys else this_round).append(firing)
                keys.add(firing.key)
            # In key order: concurrent group commits (web processes on PostgreSQL) then lock
            # the rows they share in the same order, and wait for each other instead of
            # deadlocking.
            this_round.sort(key=lambda firing: firing.key)
            for start in range(0, len(this_round), _UPSERT_ROWS):
                _upsert(this_round[start : start + _UPSERT_ROWS])
            rest = later
        for firing in run:
            if firing.created:
                firing.result.new += 1
                self.changed.append((firing.alert_id, firing.now, firing.row.lane))
            else:
                firing.result.repeated += 1
                if firing.reseverity:  # processed again: a more severe repeat raises
                    self.changed.append((firing.alert_id, firing.now, firing.row.lane))


def _upsert(rows: list[_Firing]) -> None:
    """Write one round's rows in one statement; set each one's alert id and ``created``."""
    sql = _upsert_sql(len(rows), connection.vendor)
    params = [value for firing in rows for value in firing.row.params]
    stored = {
        (integ, key): (id_, count, changed)
        for id_, count, integ, key, changed in fetch_raw(sql, params)
    }
    # RETURNING gives no order: match rows by key. Inserting sets count 1, updating >= 2.
    for firing in rows:
        firing.alert_id, count, changed = stored[firing.key]
        firing.created = count == 1
        firing.reseverity = not firing.created and bool(changed)


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


def _schedule_processing(changed: list[tuple[int, datetime, str]]) -> None:
    """Write the ``alert.process`` outbox timers of the changed alerts, in the alert's service
    lane (fairness, see ``engine.services.service_lane``), due at the alert's time."""
    timers_schedule_rows(
        kind="alert.process", rows=[(at, {"alert": i}, lane) for i, at, lane in changed]
    )


@transaction.atomic
def alerts_ingest(
    *, integration: Integration, alerts: list[NormalizedAlert], now: datetime | None = None
) -> IngestResult:
    """Store alerts durably in one transaction, with an outbox timer for each state change.

    The caller answers 2xx only after this returns (the commit happened). Grouping into
    incidents runs in the worker from the ``alert.process`` timers written here.
    """
    item = IngestItem(integration=integration, alerts=alerts, now=now or timezone.now())
    return alerts_ingest_prepared(alerts_prepare([item]))[0]


@dataclass
class IngestItem:
    """One delivery of a group commit: its integration, its alerts and when it arrived."""

    integration: Integration
    alerts: list[NormalizedAlert]
    now: datetime


@dataclass
class PreparedItem:
    """A delivery made ready for its transaction: each firing alert as its upsert row, an
    acknowledge or a resolve as the alert itself."""

    item: IngestItem
    alerts: list[_Row | NormalizedAlert]


def alerts_prepare(items: list[IngestItem]) -> list[PreparedItem]:
    """The work of ingestion that writes nothing (ids, JSON, severities): call it before the
    transaction, then ``alerts_ingest_prepared`` in it. A prepared list can be applied again
    after a rolled-back attempt."""
    prepare = _Prepare()
    return [prepare.item(item) for item in items]


@transaction.atomic
def alerts_ingest_many(items: list[IngestItem]) -> list[IngestResult]:
    """Group commit: apply many deliveries in ONE transaction (one durable commit for all).

    Each item gets the result ``alerts_ingest`` would have given it alone, applied in list
    order; the outbox timers of all of them are inserted in one statement. All or nothing:
    on an error nothing is stored and the caller retries the items one by one to find the
    culprit (see ``tocsin.alerts.ingest_fast``).
    """
    return alerts_ingest_prepared(alerts_prepare(items))


@transaction.atomic(savepoint=False)
def alerts_ingest_prepared(prepared: list[PreparedItem]) -> list[IngestResult]:
    """``alerts_ingest_many`` for items prepared by ``alerts_prepare``. Inside the caller's
    transaction it sets no savepoint (two more statements, round trips on PostgreSQL, per
    group commit): an error rolls back the caller's whole transaction, as the writer wants."""
    ingest = _Ingest()
    results = [ingest.item(item) for item in prepared]
    ingest.flush()
    _schedule_processing(ingest.changed)
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
    lane = service_lane(integration.service_id)
    _schedule_processing([(i, now, lane) for i in ids])
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


def _opening(alert: Alert) -> Opening:
    """The incident an alert opens when its group has none open."""
    return Opening(
        title=_incident_title(alert),
        severity=alert.severity,
        service=alert.service,
        group_key=_group_key(alert),
        actor_label=alert.integration.kind,
        at=alert.first_seen,
        reason=f"Opened by {alert.integration.kind} alert {alert.title!r}",
    )


def _attach(alert: Alert) -> Incident:
    """Find or open the incident for the alert's group, and link the alert to it."""
    service = alert.service
    group_key = _group_key(alert)
    incident = incident_open_for_group(service=service, group_key=group_key)
    if incident is None:
        try:
            with transaction.atomic():
                incident = incident_open(_opening(alert))
        except IntegrityError:
            # Another worker opened the group's incident first: join it.
            incident = incident_open_for_group(service=service, group_key=group_key)
            if incident is None:
                raise
    alert.incident = incident
    alert.save(update_fields=["incident"])
    timeline_add(**_added(alert, incident))
    return _raise_severity(incident=incident, alert=alert)


class _AddedEvent(TypedDict):
    incident: Incident
    kind: str
    actor_label: str
    new: str
    message: str
    data: dict[str, Any]
    at: datetime


def _added(alert: Alert, incident: Incident) -> _AddedEvent:
    """The ``alert_added`` event of an alert joining an incident."""
    return {
        "incident": incident,
        "kind": "alert_added",
        "actor_label": alert.integration.kind,
        "new": alert.status,
        "message": alert.title,
        "data": {"alert": alert.public_id, "fingerprint": alert.fingerprint},
        "at": alert.first_seen,
    }


def _raise_severity(*, incident: Incident, alert: Alert) -> Incident:
    """A more severe alert joining the group raises the incident's severity."""
    if alert.severity and severity_rank(alert.severity) < severity_rank(incident.severity):
        return incident_set_severity(
            incident=incident,
            severity=alert.severity,
            actor_label=alert.integration.kind,
            message=f"Raised by alert {alert.title!r}",
        )
    return incident


def alerts_process(alert_ids: list[int]) -> None:
    """``alert_process`` for a worker batch's alerts, in order, with the same outcome.

    New firing alerts (the bulk of a storm) are grouped set-based: their groups' open incidents
    are read with one query, the missing ones opened together (``incidents_open``), and the
    alerts linked and their ``alert_added`` events written with one statement each. Any other
    alert (resolved, acknowledged at the source, already grouped) runs ``alert_process`` in
    its place in the order, after the new ones before it have been grouped.
    """
    alerts = Alert.objects.select_related("integration", "service").in_bulk(alert_ids)
    new: dict[int, Alert] = {}
    for alert_id in alert_ids:
        alert = alerts.get(alert_id)
        if alert is None:
            continue
        if (
            alert.incident_id is None
            and alert.status == Alert.Status.FIRING
            and not alert.acknowledged
        ):
            new.setdefault(alert_id, alert)  # a second timer of the alert is a no-op
            continue
        _attach_new(list(new.values()))
        new = {}
        alert_process(alert_id=alert_id)
    _attach_new(list(new.values()))


def _attach_new(alerts: list[Alert]) -> None:
    """``_attach`` for new firing alerts, set-based (see ``alerts_process``)."""
    if not alerts:
        return
    keyed = [((alert.service_id, _group_key(alert)), alert) for alert in alerts]
    keys = {key for key, _alert in keyed}
    incidents: dict[tuple[int | None, str], Incident] = {}
    for incident in open_incidents_for_groups(keys):
        # by id: the newest wins, as ``incident_open_for_group`` finds it
        incidents[(incident.service_id, incident.group_key)] = incident
    openers: dict[tuple[int, str], Alert] = {}
    for key, alert in keyed:
        if key not in incidents:
            openers.setdefault(key, alert)
    opened = incidents_open([_opening(alert) for alert in openers.values()])
    incidents.update(zip(openers, opened, strict=True))
    for key, alert in keyed:
        alert.incident = incidents[key]
    update_rows(alerts, ["incident"])
    insert_rows([timeline_event(**_added(alert, incidents[key])) for key, alert in keyed])
    for key, alert in keyed:
        incidents[key] = _raise_severity(incident=incidents[key], alert=alert)


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
    if incident.is_open:
        _raise_severity(incident=incident, alert=current)
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
