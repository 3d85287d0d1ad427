"""Running the incident process through the API: phases, updates, roles, checklists, details."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from tocsin.accounts.models import User
from tocsin.incidents.models import ChecklistItem, Incident, IncidentRole, StatusUpdate
from tocsin.incidents.selectors import incident_get
from tocsin.incidents.services import (
    IncidentError,
    checklist_check,
    checklist_waive,
    incident_assign_role,
    incident_close,
    incident_post_update,
    incident_reopen,
    incident_set_phase,
    incident_set_severity,
    incident_update_details,
)

router = Router(tags=["incident process"])


class PhaseIn(Schema):
    status: str = Field(description="investigating, identified or monitoring")
    message: str = ""


class MessageIn(Schema):
    message: str = ""


class SeverityIn(Schema):
    severity: str = Field(min_length=1, max_length=32)
    message: str = ""


class UpdateIn(Schema):
    body: str = Field(min_length=1, max_length=20_000)
    public: bool = False


class UpdateOut(Schema):
    at: datetime
    status: str
    body: str
    public: bool
    author: str | None


class RoleIn(Schema):
    role: str
    user: str = Field(description="e-mail of the person")
    backup: bool = False


class RoleOut(Schema):
    role: str
    backup: bool
    user: str
    assigned_at: datetime


class ChecklistItemOut(Schema):
    id: int
    checklist: str
    title: str
    phase: str
    required_to: str
    text: str
    done: bool
    checked_at: datetime | None
    checked_by: str | None
    waived_reason: str
    due_at: datetime | None


class CheckIn(Schema):
    checked: bool = True
    waive_reason: str | None = Field(default=None, description="waive instead, with a reason")


class DetailsIn(Schema):
    title: str | None = None
    summary: str | None = None
    impact: str | None = None
    users_affected: str | None = None
    error_rate: str | None = None
    affected_components: list[str] | None = None
    root_cause: str | None = None
    resolution: str | None = None
    bridge_url: str | None = None
    chat_channel: str | None = None
    links: list[dict[str, str]] | None = None
    is_security: bool | None = None
    is_drill: bool | None = None
    started_at: datetime | None = None
    detected_at: datetime | None = None


class ProcessOut(Schema):
    id: str
    number: int
    status: str
    severity: str
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    last_update_at: datetime | None
    next_update_due: datetime | None
    postmortem_due_at: datetime | None
    breaches: list[str]
    roles: list[RoleOut]
    details: dict[str, Any]


def _incident(ref: str, request: HttpRequest) -> Incident:
    viewer = request.user if isinstance(request.user, User) else None
    incident = incident_get(ref=ref, user=viewer)
    if incident is None:
        raise HttpError(404, f"no incident {ref!r}")
    return incident


def _by(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _role_out(role: IncidentRole) -> RoleOut:
    return RoleOut(
        role=role.role, backup=role.backup, user=role.user.email, assigned_at=role.assigned_at
    )


def _process_out(incident: Incident) -> ProcessOut:
    incident.refresh_from_db()
    details = {name: getattr(incident, name) for name in DetailsIn.model_fields}
    return ProcessOut(
        id=incident.public_id,
        number=incident.number,
        status=incident.status,
        severity=incident.severity,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        last_update_at=incident.last_update_at,
        next_update_due=incident.next_update_due,
        postmortem_due_at=incident.postmortem_due_at,
        breaches=list(incident.breaches),
        roles=[_role_out(r) for r in incident.roles.select_related("user")],
        details=details,
    )


def _run(call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except IncidentError as exc:
        raise HttpError(409, str(exc)) from exc


@router.get("/incidents/{ref}/process", response=ProcessOut)
def process(request: HttpRequest, ref: str) -> ProcessOut:
    """The incident's process state: phase, clocks, breaches, roles, details."""
    return _process_out(_incident(ref, request))


@router.post("/incidents/{ref}/status", response={200: ProcessOut, 409: dict[str, str]})
def set_phase(request: HttpRequest, ref: str, body: PhaseIn) -> ProcessOut:
    """Move to investigating, identified or monitoring (monitoring marks it mitigated)."""
    incident = _run(
        incident_set_phase,
        incident=_incident(ref, request),
        status=body.status,
        by=_by(request),
        message=body.message,
    )
    return _process_out(incident)


@router.post("/incidents/{ref}/close", response={200: ProcessOut, 409: dict[str, str]})
def close(request: HttpRequest, ref: str, body: MessageIn) -> ProcessOut:
    """Close a resolved incident when the policy's closing conditions hold."""
    return _process_out(
        _run(
            incident_close, incident=_incident(ref, request), by=_by(request), message=body.message
        )
    )


@router.post("/incidents/{ref}/reopen", response=ProcessOut)
def reopen(request: HttpRequest, ref: str, body: MessageIn) -> ProcessOut:
    """Reopen a resolved or closed incident."""
    return _process_out(
        _run(
            incident_reopen, incident=_incident(ref, request), by=_by(request), message=body.message
        )
    )


@router.post("/incidents/{ref}/severity", response={200: ProcessOut, 400: dict[str, str]})
def set_severity(request: HttpRequest, ref: str, body: SeverityIn) -> ProcessOut:
    """Change the severity: a timeline event, and the policy clocks are planned again."""
    from tocsin.policy.selectors import severity_names

    names = severity_names()
    if names and body.severity not in names:
        raise HttpError(400, f"severity: {body.severity!r} is not one of {', '.join(names)}")
    return _process_out(
        _run(
            incident_set_severity,
            incident=_incident(ref, request),
            severity=body.severity,
            by=_by(request),
            message=body.message,
        )
    )


# Registered in api/urls.py on the router that serves GET /incidents/{ref}: operations on one
# path must share a router, or Django matches the first pattern and answers 405.
def update_details(request: HttpRequest, ref: str, body: DetailsIn) -> ProcessOut:
    """Change descriptive fields: impact, root cause, resolution, bridge, channel, links ..."""
    values = body.model_dump(exclude_unset=True)
    return _process_out(
        _run(incident_update_details, incident=_incident(ref, request), by=_by(request), **values)
    )


@router.post("/incidents/{ref}/updates", response={201: UpdateOut})
def post_update(request: HttpRequest, ref: str, body: UpdateIn) -> Status[UpdateOut]:
    """Post a status update; the update-cadence clock starts again."""
    update: StatusUpdate = _run(
        incident_post_update,
        incident=_incident(ref, request),
        body=body.body,
        by=_by(request),
        public=body.public,
    )
    return Status(
        201,
        UpdateOut(
            at=update.at,
            status=update.status,
            body=update.body,
            public=update.public,
            author=str(update.author) if update.author else None,
        ),
    )


@router.get("/incidents/{ref}/updates", response=list[UpdateOut])
def list_updates(request: HttpRequest, ref: str) -> list[UpdateOut]:
    """Status updates, oldest first."""
    return [
        UpdateOut(
            at=u.at,
            status=u.status,
            body=u.body,
            public=u.public,
            author=str(u.author) if u.author else None,
        )
        for u in _incident(ref, request).updates.select_related("author")
    ]


@router.put("/incidents/{ref}/roles", response={200: RoleOut, 400: dict[str, str]})
def assign_role(request: HttpRequest, ref: str, body: RoleIn) -> RoleOut:
    """Assign or hand over a role; both people are told."""
    person = User.objects.filter(email=body.user.lower(), is_active=True).first()
    if person is None:
        raise HttpError(400, f"user: no person {body.user!r}")
    role = _run(
        incident_assign_role,
        incident=_incident(ref, request),
        role=body.role,
        user=person,
        by=_by(request),
        backup=body.backup,
    )
    return _role_out(role)


def _item_out(item: ChecklistItem) -> ChecklistItemOut:
    return ChecklistItemOut(
        id=item.pk,
        checklist=item.checklist,
        title=item.checklist_title,
        phase=item.phase,
        required_to=item.required_to,
        text=item.text,
        done=item.done,
        checked_at=item.checked_at,
        checked_by=str(item.checked_by) if item.checked_by else None,
        waived_reason=item.waived_reason,
        due_at=item.due_at,
    )


@router.get("/incidents/{ref}/checklist", response=list[ChecklistItemOut])
def checklist(request: HttpRequest, ref: str) -> list[ChecklistItemOut]:
    """The incident's checklist items, by checklist and position."""
    return [_item_out(i) for i in _incident(ref, request).checklist.select_related("checked_by")]


@router.post("/incidents/{ref}/checklist/{item_id}", response=ChecklistItemOut)
def check_item(request: HttpRequest, ref: str, item_id: int, body: CheckIn) -> ChecklistItemOut:
    """Check, uncheck, or waive (with a reason) one checklist item."""
    item = _incident(ref, request).checklist.filter(pk=item_id).first()
    if item is None:
        raise HttpError(404, f"no checklist item {item_id} on this incident")
    if body.waive_reason is not None:
        item = _run(checklist_waive, item=item, by=_by(request), reason=body.waive_reason)
    else:
        item = _run(checklist_check, item=item, by=_by(request), checked=body.checked)
    return _item_out(item)
