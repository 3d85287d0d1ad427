"""The JSON API under /api/v1/ (OpenAPI at /api/v1/openapi.json)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja import NinjaAPI, Query, Schema, Status
from ninja.errors import HttpError

from tocsin import __version__
from tocsin.accounts.models import User
from tocsin.alerts.models import Alert, Service
from tocsin.alerts.selectors import integration_url
from tocsin.api.auth import BearerToken, session_auth
from tocsin.api.oncall import router as oncall_router
from tocsin.api.process import ProcessOut, update_details
from tocsin.api.process import router as process_router
from tocsin.api.schemas import (
    AlertOut,
    DrillOut,
    DrillStart,
    ErrorOut,
    IncidentAction,
    IncidentCreate,
    IncidentList,
    IncidentOut,
    IncidentRef,
    IntegrationOut,
    NoteIn,
    ServiceOut,
    ServiceRef,
    TimelineEventOut,
)
from tocsin.incidents.drills import DrillStatus, drill_start, drills_status
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.incidents.selectors import incident_get, incident_list, incident_timeline
from tocsin.incidents.services import (
    IncidentError,
    incident_acknowledge,
    incident_add_note,
    incident_create,
    incident_resolve,
)

api = NinjaAPI(
    title="Tocsin API",
    version=__version__,
    urls_namespace="api",
    auth=[BearerToken(), session_auth],
)


api.add_router("/", oncall_router)
api.add_router("/", process_router)


class IncidentFilter(Schema):
    status: str | None = None
    severity: str | None = None
    service: str | None = None
    limit: int = 100
    offset: int = 0


def _incident_out(incident: Incident) -> IncidentOut:
    service = incident.service
    return IncidentOut(
        id=incident.public_id,
        number=incident.number,
        title=incident.title,
        summary=incident.summary,
        severity=incident.severity,
        status=incident.status,
        service=ServiceRef(id=service.public_id, name=service.name) if service else None,
        triggered_at=incident.triggered_at,
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=str(incident.acknowledged_by) if incident.acknowledged_by else None,
        resolved_at=incident.resolved_at,
        resolved_by=str(incident.resolved_by) if incident.resolved_by else None,
        alert_count=incident.alerts.count(),
        url=f"{settings.BASE_URL}/incidents/{incident.public_id}/",
    )


def _viewer(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _get(ref: str, request: HttpRequest | None = None) -> Incident:
    incident = incident_get(ref=ref, user=_viewer(request) if request else None)
    if incident is None:
        raise HttpError(404, f"no incident {ref!r}")
    return incident


@api.get("/incidents", response=IncidentList, tags=["incidents"])
def list_incidents(request: HttpRequest, filters: Query[IncidentFilter]) -> IncidentList:
    """List incidents, open ones first; filter by status (or `open`), severity, service."""
    statuses = {*Incident.Status.values, "open"}
    if filters.status and filters.status not in statuses:
        raise HttpError(400, f"status: must be one of {sorted(statuses)}")
    qs = incident_list(
        status=filters.status,
        severity=filters.severity,
        service=filters.service,
        user=_viewer(request),
    )
    limit = max(1, min(filters.limit, 500))
    page = qs[filters.offset : filters.offset + limit]
    return IncidentList(items=[_incident_out(i) for i in page], count=qs.count())


def _service_named(name: str | None) -> Service | None:
    """The service a request body names (None when it names none); 400 for an unknown one."""
    if not name:
        return None
    service = Service.objects.filter(name=name).first()
    if service is None:
        raise HttpError(400, f"service: no service named {name!r}")
    return service


@api.post("/incidents", response={201: IncidentOut, 400: ErrorOut}, tags=["incidents"])
def declare_incident(request: HttpRequest, body: IncidentCreate) -> Status[IncidentOut]:
    """Declare an incident by hand."""
    service = _service_named(body.service)
    incident = incident_create(
        title=body.title,
        severity=body.severity,
        service=service,
        summary=body.summary,
        by=request.user,  # type: ignore[arg-type]
    )
    return Status(201, _incident_out(incident))


def _drill_out(drill: DrillStatus) -> DrillOut:
    last = drill.last_run
    return DrillOut(
        name=drill.name,
        every=drill.every,
        severity=drill.severity,
        scenario=drill.scenario,
        last_run=IncidentRef(
            id=last.public_id,
            number=last.number,
            triggered_at=last.triggered_at,
            url=f"{settings.BASE_URL}/incidents/{last.public_id}/",
        )
        if last
        else None,
        due_at=drill.due_at,
        overdue=drill.overdue,
    )


@api.get("/drills", response=list[DrillOut], tags=["incidents"])
def list_drills(request: HttpRequest) -> list[DrillOut]:
    """The policy's drills: cadence, last run, when each is due again (overdue ones too)."""
    return [_drill_out(d) for d in drills_status()]


@api.post("/drills", response={201: IncidentOut, 400: ErrorOut}, tags=["incidents"])
def start_drill(request: HttpRequest, body: DrillStart) -> Status[IncidentOut]:
    """Start a drill: a real incident of the drill's severity, flagged DRILL, that pages."""
    service = _service_named(body.service)
    try:
        incident = drill_start(name=body.name, service=service, by=_viewer(request))
    except IncidentError as exc:
        raise HttpError(400, f"name: {exc}") from exc
    return Status(201, _incident_out(incident))


@api.get("/incidents/{ref}", response=IncidentOut, tags=["incidents"])
def get_incident(request: HttpRequest, ref: str) -> IncidentOut:
    """One incident, by id or number."""
    return _incident_out(_get(ref, request))


api.patch("/incidents/{ref}", response=ProcessOut, tags=["incident process"])(update_details)


@api.get("/incidents/{ref}/timeline", response=list[TimelineEventOut], tags=["incidents"])
def get_timeline(request: HttpRequest, ref: str) -> list[TimelineEventOut]:
    """The incident's timeline, oldest first."""
    return [_event_out(e) for e in incident_timeline(incident=_get(ref, request))]


def _event_out(event: TimelineEvent) -> TimelineEventOut:
    return TimelineEventOut(
        at=event.at,
        kind=event.kind,
        actor=event.actor_name,
        old=event.old,
        new=event.new,
        message=event.message,
        data=event.data,
    )


@api.get("/incidents/{ref}/alerts", response=list[AlertOut], tags=["incidents"])
def get_incident_alerts(request: HttpRequest, ref: str) -> list[AlertOut]:
    """The alerts grouped into the incident."""
    alerts = Alert.objects.filter(incident=_get(ref, request)).select_related("integration")
    return [_alert_out(a) for a in alerts]


def _alert_out(alert: Alert) -> AlertOut:
    return AlertOut(
        id=alert.public_id,
        status=alert.status,
        title=alert.title,
        severity=alert.severity,
        source_severity=alert.source_severity,
        fingerprint=alert.fingerprint,
        count=alert.count,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        resolved_at=alert.resolved_at,
        labels=alert.labels,
        annotations=alert.annotations,
        integration=alert.integration.kind,
    )


def _act(ref: str, action: str, request: HttpRequest, message: str) -> IncidentOut:
    incident = _get(ref, request)
    service = {"acknowledge": incident_acknowledge, "resolve": incident_resolve}[action]
    try:
        incident = service(incident=incident, by=request.user, message=message)  # type: ignore[arg-type]
    except IncidentError as exc:
        raise HttpError(409, str(exc)) from exc
    return _incident_out(incident)


@api.post(
    "/incidents/{ref}/acknowledge", response={200: IncidentOut, 409: ErrorOut}, tags=["incidents"]
)
def acknowledge_incident(request: HttpRequest, ref: str, body: IncidentAction) -> IncidentOut:
    """Acknowledge: stops paging."""
    return _act(ref, "acknowledge", request, body.message)


@api.post(
    "/incidents/{ref}/resolve", response={200: IncidentOut, 409: ErrorOut}, tags=["incidents"]
)
def resolve_incident(request: HttpRequest, ref: str, body: IncidentAction) -> IncidentOut:
    """Resolve: stops every timer of the incident."""
    return _act(ref, "resolve", request, body.message)


@api.post("/incidents/{ref}/notes", response={201: TimelineEventOut}, tags=["incidents"])
def add_note(request: HttpRequest, ref: str, body: NoteIn) -> Status[TimelineEventOut]:
    """Add a note to the timeline."""
    event = incident_add_note(incident=_get(ref, request), text=body.text, by=request.user)  # type: ignore[arg-type]
    return Status(201, _event_out(event))


@api.get("/services", response=list[ServiceOut], tags=["services"])
def list_services(request: HttpRequest) -> list[ServiceOut]:
    """Services with their integrations and ingestion URLs."""
    services = Service.objects.select_related("team").prefetch_related("integrations")
    return [
        ServiceOut(
            id=s.public_id,
            name=s.name,
            description=s.description,
            team=s.team.name if s.team else None,
            escalation_policy=s.escalation_policy,
            severity_map={str(k): str(v) for k, v in s.severity_map.items()},
            integrations=[
                IntegrationOut(kind=i.kind, key=i.key, url=integration_url(i))
                for i in s.integrations.all()
            ],
        )
        for s in services
    ]
