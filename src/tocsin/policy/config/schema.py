"""The configuration file's schema: one pydantic model per section; unknown fields are refused.

Values stay as written (durations are strings such as ``1h30m``) so that sections stored verbatim
export back unchanged; ``durations.parse_duration`` turns them into numbers where they are used.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tocsin.notifications.transports.apprise_url import apprise_understands
from tocsin.policy.config.durations import parse_duration

INTEGRATION_KINDS = ("alertmanager", "pagerduty", "grafana", "webhook")
DEFAULT_INCIDENT_ROLES = ("commander", "tech_lead", "comms_lead", "scribe")
_KEY = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def fail(kind: str, message: str) -> PydanticCustomError:
    """Build a validation error whose message is shown to the user as written."""
    return PydanticCustomError(kind, "{message}", {"message": message})


def did_you_mean(value: str, choices: Iterable[str], cutoff: float = 0.75) -> str:
    """Return `` (did you mean 'x'?)`` for a close match, else an empty string."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _text(kind: str, value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise fail(kind, f"{what} must be a non-empty string, not {value!r}")
    return value


def _duration(value: object) -> str:
    try:
        parse_duration(value)
    except ValueError as exc:
        raise fail("duration", str(exc)) from None
    return str(value)


def _span(value: object) -> str:
    try:
        parse_duration(value, business_days=True)
    except ValueError as exc:
        raise fail("duration", str(exc)) from None
    return str(value)


def _duration_range(value: object) -> str:
    low, _, high = _text("duration", value, "an estimate").partition("-")
    if parse_duration_or_fail(low) > parse_duration_or_fail(high or low):
        raise fail("duration", f"estimate {value!r} ends before it starts")
    return str(value)


def parse_duration_or_fail(text: str) -> int:
    """Return the seconds of a wall-clock duration, raising a validation error when invalid."""
    return parse_duration(_duration(text)).seconds


def _email(value: object) -> str:
    text = _text("email", value, "an e-mail address").strip().lower()
    try:
        validate_email(text)
    except ValidationError:
        raise fail("email", f"{value!r} is not an e-mail address") from None
    return text


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone(value: object) -> str:
    text = _text("timezone", value, "a time zone")
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(text, _zones()) or " (use an IANA name such as Europe/Paris)"
        raise fail("timezone", f"unknown time zone {text!r}{hint}") from None
    return text


def _clock(value: object) -> str:
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise fail("time", f'invalid time {value!r}: write "HH:MM" in quotes, e.g. "09:00"')
    return value


def _local_datetime(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    try:
        datetime.fromisoformat(_text("datetime", value, "a date and time"))
    except ValueError:
        raise fail(
            "datetime", f'invalid date and time {value!r}: write "2026-11-26T09:00"'
        ) from None
    return str(value)


def _url(schemes: list[str], what: str) -> Callable[[object], str]:
    validator = URLValidator(schemes=schemes)

    def check(value: object) -> str:
        text = _text("url", value, what)
        try:
            validator(text)
        except ValidationError:
            raise fail("url", f"{text!r} is not {what}") from None
        return text

    return check


def _apprise(value: object) -> str:
    text = _text("url", value, "an apprise URL")
    if "://" not in text:
        raise fail("url", f"{text!r} is not an apprise URL (e.g. slack://..., json://host/path)")
    if not apprise_understands(text):
        # Found now, not at 3 am: the first page through it would fail for good.
        raise fail(
            "url",
            f"{text!r} is not a URL apprise understands: check its form for the service "
            "(https://github.com/caronc/apprise/wiki)",
        )
    return text


def _kind(value: object) -> str:
    text = _text("kind", value, "an integration kind")
    if text not in INTEGRATION_KINDS:
        hint = (
            did_you_mean(text, INTEGRATION_KINDS) or " (use " + ", ".join(INTEGRATION_KINDS) + ")"
        )
        raise fail("kind", f"unknown kind {text!r}{hint}")
    return text


def _key(value: object) -> str:
    text = _text("key", value, "an integration key")
    if not _KEY.fullmatch(text):
        raise fail("key", f"invalid key {text!r}: use 1-128 letters, digits, '.', '_', '~' or '-'")
    return text


Name = Annotated[str, Field(min_length=1)]
Duration = Annotated[str, BeforeValidator(_duration)]
Span = Annotated[str, BeforeValidator(_span)]
DurationRange = Annotated[str, BeforeValidator(_duration_range)]
Email = Annotated[str, BeforeValidator(_email)]
TimeZone = Annotated[str, BeforeValidator(_timezone)]
ClockTime = Annotated[str, BeforeValidator(_clock)]
LocalDateTime = Annotated[str, BeforeValidator(_local_datetime)]
HttpUrl = Annotated[str, BeforeValidator(_url(["http", "https"], "an http(s) URL"))]
AppriseUrl = Annotated[str, BeforeValidator(_apprise)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Day = Literal[Weekday, "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Milestone = Literal["triggered", "acknowledged", "mitigated", "resolved"]
Phase = Literal[
    "detection",
    "triage",
    "response",
    "investigation",
    "mitigation",
    "resolution",
    "recovery",
    "closure",
    "post_incident",
]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _exactly_one(model: BaseModel, fields: tuple[str, ...]) -> None:
    given = [name for name in fields if getattr(model, name) is not None]
    if len(given) != 1:
        wanted = ", ".join(fields[:-1]) + " or " + fields[-1]
        found = f" (found {', '.join(given)})" if given else ""
        raise fail("one_of", f"give exactly one of {wanted}{found}")


# ---- people, teams, roles -------------------------------------------------------------------


def _weekdays() -> list[Weekday]:
    return ["mon", "tue", "wed", "thu", "fri"]


class BusinessHours(Section):
    start: ClockTime = "09:00"
    end: ClockTime = "17:00"

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.end <= self.start:  # "HH:MM" strings compare as times
            raise fail("time", f"business hours end ({self.end}) before they start ({self.start})")
        return self


class Calendar(Section):
    timezone: TimeZone = "UTC"
    business_days: list[Weekday] = Field(default_factory=_weekdays, min_length=1)
    holidays: list[date] = Field(default_factory=list)
    # When `page: business_hours` severities may page, in the calendar's zone.
    business_hours: BusinessHours | None = None


class Contact(Section):
    name: Name
    email: Email | None = None
    apprise: AppriseUrl | None = None
    webhook: HttpUrl | None = None

    @model_validator(mode="after")
    def _one_channel(self) -> Contact:
        _exactly_one(self, ("email", "apprise", "webhook"))
        return self

    @property
    def kind(self) -> str:
        return "email" if self.email else "apprise" if self.apprise else "webhook"

    @property
    def target(self) -> str:
        return self.email or self.apprise or self.webhook or ""


class NotifyRule(Section):
    after: Duration
    via: Name


class Person(Section):
    email: Email
    name: str = ""
    timezone: TimeZone | None = None
    contact: list[Contact] = Field(default_factory=list)
    notify: list[NotifyRule] = Field(default_factory=list)


class Team(Section):
    name: Name
    members: list[Email] = Field(default_factory=list)


# ---- schedules and escalation ---------------------------------------------------------------


class Every(Section):
    every: Duration

    @model_validator(mode="after")
    def _at_least_a_minute(self) -> Every:
        # As the model (oncall.Layer): shorter turns are a typo, not a rotation.
        if parse_duration(self.every).seconds < 60:
            raise fail("duration", f"a rotation turn is at least 1 minute, not {self.every!r}")
        return self


def _rotation_tag(value: Any) -> str:
    return "every" if isinstance(value, dict | Every) else "named"


Rotation = Annotated[
    Annotated[Literal["daily", "weekly"], Tag("named")] | Annotated[Every, Tag("every")],
    Discriminator(_rotation_tag),
]


class Handoff(Section):
    day: Day | None = None
    time: ClockTime | None = None


class Layer(Section):
    name: str | None = None
    rotation: Rotation
    handoff: Handoff | None = None
    start: date
    participants: list[Email] = Field(min_length=1)


class Override(Section):
    who: Email
    from_: LocalDateTime = Field(alias="from")
    to: LocalDateTime

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        try:
            backwards = datetime.fromisoformat(self.to) <= datetime.fromisoformat(self.from_)
        except TypeError:  # one has a UTC offset, the other is a local time
            raise fail(
                "override", "'from' and 'to' must both be local times, or both carry an offset"
            ) from None
        if backwards:
            raise fail("override", "'to' must be after 'from'")
        return self


class Schedule(Section):
    name: Name
    timezone: TimeZone | None = None
    layers: list[Layer] = Field(min_length=1)
    overrides: list[Override] = Field(default_factory=list)


class Target(Section):
    schedule: Name | None = None
    role: Name | None = None
    user: Email | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Target:
        _exactly_one(self, ("schedule", "role", "user"))
        return self


class Level(Section):
    notify: list[Target] = Field(min_length=1)
    wait: Duration | None = None


class EscalationPolicy(Section):
    name: Name
    description: str = ""
    levels: list[Level] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=100)
    # Acknowledged but neither moved on nor resolved after this long: un-acknowledge, page again.
    ack_timeout: Duration | None = None


# ---- services and their alert sources -------------------------------------------------------


class WebhookFields(Section):
    """Where a generic webhook's JSON carries each alert field (a dotted path such as ``a.b``)."""

    title: str | None = None
    dedup_key: str | None = None
    severity: str | None = None
    status: str | None = None
    source: str | None = None  # also read by alerts/sources/webhook
    group_key: str | None = None


class Integration(Section):
    kind: Annotated[str, BeforeValidator(_kind)]
    key: Annotated[str, BeforeValidator(_key)]
    name: str | None = None
    secret: str | None = None  # grafana
    fields: WebhookFields | None = None  # webhook
    resolved_values: list[str] | None = None  # webhook

    def options(self) -> dict[str, Any]:
        """Return the per-kind options as stored in ``Integration.config``."""
        return self.model_dump(include={"secret", "fields", "resolved_values"}, exclude_none=True)


class Service(Section):
    name: Name
    description: str = ""
    team: str | None = None
    escalation_policy: str | None = None
    status_component: str | None = None
    integrations: list[Integration] = Field(default_factory=list)
    severity_map: dict[str, str] = Field(default_factory=dict)
    runbooks: list[str] = Field(default_factory=list)


# ---- the incident-response policy -----------------------------------------------------------


class MatrixStep(Section):
    """Who is added once the incident has been open this long (by time since it started)."""

    after: Duration
    notify: list[Target] = Field(min_length=1)
    # The step is skipped once this milestone is reached: `acknowledged` for "secondary after
    # 15 minutes with no response", `resolved` (default) for "CTO after 1 h unresolved".
    until: Milestone = "resolved"


class Deadline(Section):
    name: Name
    after: Span
    from_: Milestone = Field(default="triggered", alias="from")
    notify: list[str] = Field(default_factory=list)
    until: Milestone = "resolved"


class Postmortem(Section):
    within: Span
    # The milestone `within` counts from ("PIR within 48 h of resolution": resolved).
    from_: Milestone = Field(default="resolved", alias="from")
    template: str | None = None
    # Roles (of the `roles` section) that sign the post-mortem off, in order.
    approvals: list[str] = Field(default_factory=list)


class CloseRequires(Section):
    """What closing a resolved incident waits for."""

    # Stable monitoring after resolution before the incident may be closed ("24 h stable").
    monitoring_for: Duration | None = None
    # Every checklist attached to the incident is checked (or waived with a reason).
    checklists_complete: bool = True


class Severity(Section):
    name: Name
    title: str = ""
    description: str = ""
    criteria: list[str] = Field(default_factory=list)
    respond_within: Span | None = None
    resolve_within: Span | None = None
    update_every: Duration | None = None
    # Incident roles reminded when a status update is due (the first one assigned is used).
    update_reminder_to: list[str] = Field(default_factory=lambda: ["comms_lead", "commander"])
    page: Literal["all", "business_hours", "none"] = "all"
    audiences: list[Literal["responders", "stakeholders", "status_page"]] = Field(
        default_factory=list
    )
    escalation_matrix: list[MatrixStep] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    postmortem: Postmortem | None = None
    checklists: list[str] = Field(default_factory=list)
    # Who makes up the response team (documentation; notified when the incident is declared).
    response_team: list[Target] = Field(default_factory=list)
    close_requires: CloseRequires = Field(default_factory=CloseRequires)
    # Jinja2 templates filled when the incident is declared (override `comms.bridge_url` ...).
    bridge_url: str | None = None
    chat_channel: str | None = None


class Checklist(Section):
    id: Name
    title: str = ""
    required_to: Literal["acknowledge", "mitigate", "resolve"] | None = None
    # The phase of the response the checklist belongs to, and how long it has to be done.
    phase: Phase | None = None
    within: Duration | None = None
    items: list[str] = Field(min_length=1)


class Template(Section):
    id: Name
    channel: Name
    phase: Name
    subject: str | None = None
    body: str


class Runbook(Section):
    id: Name
    title: str = ""
    url: HttpUrl | None = None
    alerts: list[str] = Field(default_factory=list)
    prerequisites: list[str] = Field(default_factory=list)
    steps: list[str] = Field(default_factory=list)
    rollback: str = ""
    estimate: DurationRange | None = None
    review_every: Span | None = None


class Drill(Section):
    """A rehearsal run on a cadence ("monthly fire drills for common scenarios")."""

    name: Name
    every: Duration
    severity: Name
    scenario: Name
    checklist: str | None = None

    @model_validator(mode="after")
    def _positive(self) -> Drill:
        if parse_duration(self.every).seconds <= 0:
            raise fail("duration", f"a drill must repeat: 'every' cannot be {self.every!r}")
        return self


class Component(Section):
    name: Name
    group: str | None = None
    description: str | None = None


class StatusPage(Section):
    title: str = ""
    description: str = ""
    components: list[Component] = Field(default_factory=list)


class ChatChannel(Section):
    """Where chat updates go: any apprise URL (Slack, Teams, Discord, Mattermost ...)."""

    name: Name
    apprise: AppriseUrl
    severities: list[str] = Field(default_factory=list)  # empty: every severity


class StakeholderList(Section):
    """Who gets e-mail updates, by severity (e.g. leadership for P1 only)."""

    name: Name
    emails: list[Email] = Field(min_length=1)
    severities: list[str] = Field(default_factory=list)


class Comms(Section):
    chat: list[ChatChannel] = Field(default_factory=list)
    stakeholders: list[StakeholderList] = Field(default_factory=list)
    # Defaults for every severity; a severity's own bridge_url / chat_channel wins.
    bridge_url: str | None = None
    chat_channel: str | None = None


class Config(Section):
    """A whole configuration file. Every section is optional."""

    calendar: Calendar | None = None
    people: list[Person] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    roles: dict[str, list[Email]] = Field(default_factory=dict)
    schedules: list[Schedule] = Field(default_factory=list)
    escalation_policies: list[EscalationPolicy] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    severities: list[Severity] = Field(default_factory=list)
    roles_in_incident: list[Name] = Field(default_factory=list)
    commander_schedule: str | None = None
    checklists: list[Checklist] = Field(default_factory=list)
    templates: list[Template] = Field(default_factory=list)
    runbooks: list[Runbook] = Field(default_factory=list)
    drills: list[Drill] = Field(default_factory=list)
    comms: Comms | None = None
    status_page: StatusPage | None = None

    def has(self, section: str) -> bool:
        """Tell whether the file has this top-level section."""
        return section in self.model_fields_set


# Sections stored verbatim (ConfigSection rows) until the apps that use them arrive.
VERBATIM_SECTIONS = (
    "schedules",
    "escalation_policies",
    "roles_in_incident",
    "commander_schedule",
    "checklists",
    "templates",
    "runbooks",
    "drills",
    "comms",
    "status_page",
)
