"""API request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import Field


class ErrorOut(Schema):
    detail: str


class ServiceRef(Schema):
    id: str
    name: str


class IncidentOut(Schema):
    id: str
    number: int
    title: str
    summary: str
    severity: str
    status: str
    service: ServiceRef | None
    triggered_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    alert_count: int
    url: str


class IncidentList(Schema):
    items: list[IncidentOut]
    count: int


class IncidentCreate(Schema):
    title: str = Field(min_length=1, max_length=1024)
    severity: str = ""
    service: str | None = Field(default=None, description="service name")
    summary: str = ""


class DrillOut(Schema):
    name: str
    every: str
    severity: str
    scenario: str
    last_run: IncidentRef | None = Field(description="the incident of its last run")
    due_at: datetime | None = Field(description="when it is due again; null: never run, due now")
    overdue: bool


class IncidentRef(Schema):
    id: str
    number: int
    triggered_at: datetime
    url: str


class DrillStart(Schema):
    name: str = Field(min_length=1, max_length=200)
    service: str | None = Field(default=None, description="service whose policy pages")


class IncidentAction(Schema):
    message: str = Field(default="", max_length=10_000)


class NoteIn(Schema):
    text: str = Field(min_length=1, max_length=10_000)


class TimelineEventOut(Schema):
    at: datetime
    kind: str
    actor: str
    old: str
    new: str
    message: str
    data: dict[str, Any]


class AlertOut(Schema):
    id: str
    status: str
    title: str
    severity: str
    source_severity: str
    fingerprint: str
    count: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    labels: dict[str, Any]
    annotations: dict[str, Any]
    integration: str


class IntegrationOut(Schema):
    kind: str
    key: str
    url: str


class ServiceOut(Schema):
    id: str
    name: str
    description: str
    team: str | None
    escalation_policy: str
    severity_map: dict[str, str]
    integrations: list[IntegrationOut]
