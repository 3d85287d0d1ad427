"""Make the database match a configuration: idempotent, all or nothing, optionally pruning."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction

from tocsin.accounts.models import ContactMethod, NotificationRule, Role, Team, User
from tocsin.alerts.models import Integration, Service
from tocsin.policy.config import schema
from tocsin.policy.config.apply_paging import apply_policies, apply_schedules
from tocsin.policy.config.apply_statuspage import apply_status_page
from tocsin.policy.config.durations import duration_seconds
from tocsin.policy.models import ConfigSection, Severity, WorkCalendar

KINDS = (
    "calendar",
    "people",
    "teams",
    "roles",
    "services",
    "integrations",
    "severities",
    "schedules",
    "escalation_policies",
    "sections",
    "components",
)
OUTCOMES = ("created", "updated", "unchanged", "pruned")


@dataclass
class ApplySummary:
    """How many objects of each kind were created, updated, left unchanged or pruned."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, kind: str, outcome: str, n: int = 1) -> None:
        """Count ``n`` objects of ``kind`` with this outcome."""
        self.counts.setdefault(kind, Counter())[outcome] += n

    def total(self, outcome: str) -> int:
        """Return the number of objects with this outcome, all kinds together."""
        return sum(counter[outcome] for counter in self.counts.values())

    @property
    def changed(self) -> bool:
        return any(self.total(outcome) for outcome in ("created", "updated", "pruned"))

    def __str__(self) -> str:
        lines = []
        for kind in (kind for kind in KINDS if kind in self.counts):
            counts = ", ".join(f"{self.counts[kind][o]} {o}" for o in OUTCOMES)
            lines.append(f"{kind + ':':<21}{counts}")
        return "\n".join(lines) or "nothing to apply"


@transaction.atomic
def config_apply(*, config: schema.Config, prune: bool = False) -> ApplySummary:
    """Make the database match ``config``; ``prune`` removes what its sections do not list."""
    summary = ApplySummary()
    written = config.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if config.calendar is not None:
        _apply_calendar(config.calendar, summary)
    _apply_people(config, summary, prune=prune and config.has("people"))
    _apply_teams(config.teams, summary, prune=prune and config.has("teams"))
    _apply_roles(config.roles, summary, prune=prune and config.has("roles"))
    _apply_services(config.services, summary, prune=prune and config.has("services"))
    severities = written.get("severities", [])
    _apply_severities(severities, summary, prune=prune and config.has("severities"))
    _apply_sections(config, written, summary, prune=prune)
    _apply_paging(config, summary, prune=prune)
    apply_status_page(config, summary, prune=prune)
    return summary


def _apply_paging(config: schema.Config, summary: ApplySummary, *, prune: bool) -> None:
    """Schedules and escalation policies also become rows the worker computes from."""
    zone = WorkCalendar.current().timezone
    if config.has("schedules"):
        counts = apply_schedules(config.schedules, default_zone=zone, prune=prune)
        for outcome, n in counts.items():
            summary.add("schedules", outcome, n)
    if config.has("escalation_policies"):
        counts = apply_policies(config.escalation_policies, prune=prune)
        for outcome, n in counts.items():
            summary.add("escalation_policies", outcome, n)


def _sync(obj: models.Model, values: dict[str, Any]) -> bool:
    """Set changed fields on a saved object and save only those; tell whether any changed."""
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, values[name])
    if changed:
        obj.save(update_fields=[name.removesuffix("_id") for name in changed])
    return bool(changed)


def _upsert(model: type[models.Model], key: dict[str, Any], values: dict[str, Any]) -> str:
    """Create or update the row with this natural key; return the outcome."""
    obj = model._default_manager.filter(**key).first()
    if obj is None:
        model._default_manager.create(**key, **values)
        return "created"
    return "updated" if _sync(obj, values) else "unchanged"


def _users(emails: Iterable[str]) -> list[User]:
    wanted = set(emails)
    users = list(User.objects.filter(email__in=wanted))
    missing = wanted - {user.email for user in users}
    if missing:
        raise ValueError(f"unknown people: {', '.join(sorted(missing))}")
    return users


def _set_members(members: Any, emails: list[str]) -> bool:
    """Make a many-to-many set of people match ``emails``; tell whether it changed."""
    wanted = {user.pk for user in _users(emails)}
    if wanted == set(members.values_list("pk", flat=True)):
        return False
    members.set(wanted)
    return True


# ---- calendar and people --------------------------------------------------------------------


def _apply_calendar(calendar: schema.Calendar, summary: ApplySummary) -> None:
    values = {
        "timezone": calendar.timezone,
        "business_days": list(calendar.business_days),
        "holidays": [day.isoformat() for day in calendar.holidays],
        "business_hours": calendar.business_hours.model_dump() if calendar.business_hours else {},
    }
    row = WorkCalendar.objects.order_by("id").first()
    if row is None:
        WorkCalendar.objects.create(**values)
        summary.add("calendar", "created")
    else:
        summary.add("calendar", "updated" if _sync(row, values) else "unchanged")


def _apply_people(config: schema.Config, summary: ApplySummary, *, prune: bool) -> None:
    for person in config.people:
        summary.add("people", _apply_person(person))
    if prune:
        # Never delete people (their names are on timelines) and never lock out an admin.
        stale = User.objects.filter(is_active=True, is_staff=False, is_superuser=False).exclude(
            email__in=[person.email for person in config.people]
        )
        summary.add("people", "pruned", stale.update(is_active=False))


def _apply_person(person: schema.Person) -> str:
    values = {"name": person.name, "timezone": person.timezone or "", "is_active": True}
    user = User.objects.filter(email=person.email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(person.email, None, **values)  # unusable password
    changed = not created and _sync(user, values)
    if "contact" in person.model_fields_set:
        changed = _apply_contacts(user, person.contact) or changed
    if "notify" in person.model_fields_set:
        changed = _apply_rules(user, person.notify) or changed
    return "created" if created else "updated" if changed else "unchanged"


def _apply_contacts(user: User, contacts: list[schema.Contact]) -> bool:
    existing = {method.name: method for method in user.contact_methods.all()}
    changed = False
    for position, contact in enumerate(contacts):
        values: dict[str, Any] = {"kind": contact.kind, "target": contact.target}
        method = existing.pop(contact.name, None)
        if method is None:
            ContactMethod.objects.create(user=user, name=contact.name, position=position, **values)
            changed = True
            continue
        if (method.kind, method.target) != (contact.kind, contact.target):
            values |= {"status": ContactMethod.Status.OK, "last_error": "", "failing_since": None}
        changed = _sync(method, values | {"position": position}) or changed
    if existing:
        ContactMethod.objects.filter(pk__in=[method.pk for method in existing.values()]).delete()
    return changed or bool(existing)


def _apply_rules(user: User, rules: list[schema.NotifyRule]) -> bool:
    wanted = [(duration_seconds(rule.after), rule.via) for rule in rules]
    current = [
        (rule.after_seconds, rule.contact_method.name)
        for rule in user.notification_rules.select_related("contact_method").order_by("position")
    ]
    if wanted == current:
        return False
    user.notification_rules.all().delete()
    methods = {method.name: method for method in user.contact_methods.all()}
    NotificationRule.objects.bulk_create(
        NotificationRule(user=user, contact_method=methods[via], after_seconds=after, position=i)
        for i, (after, via) in enumerate(wanted)
    )
    return True


# ---- teams and roles ------------------------------------------------------------------------


def _apply_teams(teams: list[schema.Team], summary: ApplySummary, *, prune: bool) -> None:
    for team in teams:
        row, created = Team.objects.get_or_create(name=team.name)
        changed = "members" in team.model_fields_set and _set_members(row.members, team.members)
        summary.add("teams", "created" if created else "updated" if changed else "unchanged")
    if prune:
        stale = Team.objects.exclude(name__in=[team.name for team in teams])
        summary.add("teams", "pruned", stale.delete()[1].get("accounts.Team", 0))


def _apply_roles(roles: dict[str, list[str]], summary: ApplySummary, *, prune: bool) -> None:
    for title, emails in roles.items():
        row, created = Role.objects.get_or_create(name=title)
        changed = _set_members(row.members, emails)
        summary.add("roles", "created" if created else "updated" if changed else "unchanged")
    if prune:
        stale = Role.objects.exclude(name__in=list(roles))
        summary.add("roles", "pruned", stale.delete()[1].get("accounts.Role", 0))


# ---- services and integrations --------------------------------------------------------------


def _apply_services(services: list[schema.Service], summary: ApplySummary, *, prune: bool) -> None:
    teams = dict(Team.objects.values_list("name", "pk"))
    for service in services:
        values = {
            "description": service.description,
            "team_id": teams[service.team] if service.team else None,
            "escalation_policy": service.escalation_policy or "",
            "status_component": service.status_component or "",
            "severity_map": service.severity_map,
            "runbooks": service.runbooks,
        }
        summary.add("services", _upsert(Service, {"name": service.name}, values))
        row = Service.objects.get(name=service.name)
        for integration in service.integrations:
            summary.add("integrations", _apply_integration(row, integration))
    if prune:
        keys = [i.key for service in services for i in service.integrations]
        stale_integrations = Integration.objects.exclude(key__in=keys)
        summary.add(
            "integrations", "pruned", stale_integrations.delete()[1].get("alerts.Integration", 0)
        )
        stale = Service.objects.exclude(name__in=[service.name for service in services])
        summary.add("services", "pruned", stale.delete()[1].get("alerts.Service", 0))


def _apply_integration(service: Service, integration: schema.Integration) -> str:
    values = {
        "service_id": service.pk,
        "kind": integration.kind,
        "name": integration.name or "",
        "config": integration.options(),
    }
    return _upsert(Integration, {"key": integration.key}, values)


# ---- policy ---------------------------------------------------------------------------------


def _apply_severities(entries: list[dict[str, Any]], summary: ApplySummary, *, prune: bool) -> None:
    for rank, entry in enumerate(entries):
        values = {
            "rank": rank,
            "title": entry.get("title", ""),
            "description": entry.get("description", ""),
            "spec": entry,
        }
        summary.add("severities", _upsert(Severity, {"name": entry["name"]}, values))
    if prune:
        stale = Severity.objects.exclude(name__in=[entry["name"] for entry in entries])
        summary.add("severities", "pruned", stale.delete()[0])


def _apply_sections(
    config: schema.Config, written: dict[str, Any], summary: ApplySummary, *, prune: bool
) -> None:
    for name in schema.VERBATIM_SECTIONS:
        if config.has(name):
            outcome = _upsert(ConfigSection, {"name": name}, {"data": written[name]})
            summary.add("sections", outcome)
        elif prune:
            summary.add("sections", "pruned", ConfigSection.objects.filter(name=name).delete()[0])
