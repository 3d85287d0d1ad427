"""Write the current configuration back as YAML, in the file's format and a stable order."""

from __future__ import annotations

import contextlib
from typing import Any

import yaml
from pydantic import ValidationError

from tocsin.accounts.models import ContactMethod, Role, Team, User
from tocsin.alerts.models import Integration, Service
from tocsin.policy.config.durations import format_duration
from tocsin.policy.config.schema import VERBATIM_SECTIONS, Config
from tocsin.policy.models import ConfigSection, Severity, WorkCalendar

HEADER = "# Tocsin configuration, written by `tocsin export`; load it with `tocsin apply FILE`.\n"
FLOW_WIDTH = 72  # short mappings and lists of scalars are written on one line: {name: x, ...}


def config_export() -> str:
    """Return the current configuration as YAML that ``tocsin apply`` reads back unchanged."""
    document = _document()
    # Rows edited outside the file may not fit the schema: export them as they are, not fail.
    with contextlib.suppress(ValidationError):
        document = Config.model_validate(document).model_dump(by_alias=True, exclude_unset=True)
    return HEADER + yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000
    )


def _document() -> dict[str, Any]:
    sections = dict(ConfigSection.objects.values_list("name", "data"))
    document = {
        "calendar": _calendar(),
        "people": [_person(user) for user in _people()],
        "teams": [_team(team) for team in Team.objects.prefetch_related("members")],
        "roles": {role.name: _emails(role.members.all()) for role in _roles()},
        "services": [_service(service) for service in _services()],
        "severities": [_severity(severity) for severity in Severity.objects.all()],
        **{name: sections[name] for name in VERBATIM_SECTIONS if name in sections},
    }
    return {name: value for name, value in document.items() if value not in (None, [], {})}


def _emails(users: Any) -> list[str]:
    return sorted(user.email for user in users if user.is_active)


def _calendar() -> dict[str, Any] | None:
    row = WorkCalendar.objects.order_by("id").first()
    if row is None:
        return None
    data = {"timezone": row.timezone, "business_days": row.business_days, "holidays": row.holidays}
    if row.business_hours:
        data["business_hours"] = row.business_hours
    return data


def _people() -> Any:
    return User.objects.filter(is_active=True).prefetch_related(
        "contact_methods", "notification_rules__contact_method"
    )


def _person(user: User) -> dict[str, Any]:
    person: dict[str, Any] = {"email": user.email}
    if user.name:
        person["name"] = user.name
    if user.timezone:
        person["timezone"] = user.timezone
    if contacts := [_contact(method) for method in user.contact_methods.all()]:
        person["contact"] = contacts
    rules = sorted(user.notification_rules.all(), key=lambda rule: rule.position)
    if rules:
        person["notify"] = [
            {"after": format_duration(rule.after_seconds), "via": rule.contact_method.name}
            for rule in rules
        ]
    return person


def _contact(method: ContactMethod) -> dict[str, str]:
    return {"name": method.name, method.kind: method.target}


def _team(team: Team) -> dict[str, Any]:
    members = _emails(team.members.all())
    return {"name": team.name, "members": members} if members else {"name": team.name}


def _roles() -> Any:
    return Role.objects.prefetch_related("members")


def _services() -> Any:
    return Service.objects.select_related("team").prefetch_related("integrations")


def _service(service: Service) -> dict[str, Any]:
    optional = {
        "description": service.description,
        "team": service.team.name if service.team else "",
        "escalation_policy": service.escalation_policy,
        "status_component": service.status_component,
        "integrations": [_integration(i) for i in service.integrations.all()],
        "severity_map": _severity_map(service.severity_map),
        "runbooks": service.runbooks,
    }
    return {"name": service.name, **{key: value for key, value in optional.items() if value}}


def _integration(integration: Integration) -> dict[str, Any]:
    written: dict[str, Any] = {"kind": integration.kind, "key": integration.key}
    if integration.name:
        written["name"] = integration.name
    written.update(integration.config)
    return written


def _severity_map(mapping: dict[str, str]) -> dict[str, str]:
    """Order a severity map by severity rank, most severe first (JSON columns may reorder it)."""
    ranks = dict(Severity.objects.values_list("name", "rank"))
    order = sorted(mapping.items(), key=lambda item: (ranks.get(item[1], len(ranks)), item))
    return dict(order)


def _severity(severity: Severity) -> dict[str, Any]:
    entry = {**severity.spec, "name": severity.name}
    for field in ("title", "description"):
        entry.pop(field, None)
        if value := getattr(severity, field):
            entry[field] = value
    return entry


# ---- YAML layout ----------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Indent lists under their key and write short mappings and lists of scalars on one line."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list) and "\n" not in str(value)


def _flat(value: Any) -> bool:
    """A scalar, or a mapping of scalars: what fits in a one-line list."""
    return _scalar(value) or (isinstance(value, dict) and all(map(_scalar, value.values())))


def _size(value: Any) -> int:
    if isinstance(value, dict):
        return sum(len(str(key)) + _size(item) + 4 for key, item in value.items())
    if isinstance(value, list):
        return sum(_size(item) + 2 for item in value)
    return len(str(value))


def _short(items: list[Any]) -> bool:
    return all(_flat(item) for item in items) and _size(items) <= FLOW_WIDTH


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    flow = bool(data) and all(map(_scalar, data.values())) and _size(data) <= FLOW_WIDTH
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = not data or _short(data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(str, _represent_str)
