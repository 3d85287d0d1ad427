"""Checks across sections: duplicate names and references to things the file does not define."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from tocsin.policy.config.schema import (
    DEFAULT_INCIDENT_ROLES,
    Config,
    Contact,
    Integration,
    Target,
    did_you_mean,
)

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


# The identifying field of the items of each list section.
ITEM_IDS = {
    "people": "email",
    "teams": "name",
    "schedules": "name",
    "escalation_policies": "name",
    "services": "name",
    "severities": "name",
    "checklists": "id",
    "templates": "id",
    "runbooks": "id",
    "drills": "name",
}

# Which section defines each kind of name (a section that failed validation is not checked).
SECTION_OF = {
    "people": "people",
    "teams": "teams",
    "roles": "roles",
    "schedules": "schedules",
    "policies": "escalation_policies",
    "checklists": "checklists",
    "runbooks": "runbooks",
    "incident_roles": "roles_in_incident",
    "severities": "severities",
    "components": "status_page",
}


@dataclass
class Names:
    """The names each section defines; None where they cannot be checked."""

    people: set[str] | None = None
    teams: set[str] | None = None
    roles: set[str] | None = None
    schedules: set[str] | None = None
    policies: set[str] | None = None
    checklists: set[str] | None = None
    runbooks: set[str] | None = None
    incident_roles: set[str] | None = None
    severities: set[str] | None = None  # also None when the file has no severities section
    components: set[str] | None = None  # also None when the file has no status_page section

    @classmethod
    def of(
        cls,
        config: Config,
        *,
        unchecked: Iterable[str] = (),
        extra: Mapping[str, Iterable[str]] | None = None,
    ) -> Names:
        """Collect the names ``config`` defines, plus ``extra`` ones, without ``unchecked``."""
        page = config.status_page
        names = cls(
            people={person.email for person in config.people},
            teams={team.name for team in config.teams},
            roles=set(config.roles),
            schedules={schedule.name for schedule in config.schedules},
            policies={policy.name for policy in config.escalation_policies},
            checklists={checklist.id for checklist in config.checklists},
            runbooks={runbook.id for runbook in config.runbooks},
            incident_roles=set(config.roles_in_incident or DEFAULT_INCIDENT_ROLES),
            severities={s.name for s in config.severities} if config.has("severities") else None,
            components={c.name for c in page.components} if page else None,
        )
        for attr, section in SECTION_OF.items():
            known = getattr(names, attr)
            if section in unchecked:
                setattr(names, attr, None)
            elif known is not None and extra and section in extra:
                known.update(extra[section])
        return names


def reference_problems(
    config: Config,
    *,
    unchecked: Iterable[str] = (),
    extra: Mapping[str, Iterable[str]] | None = None,
    describe: Callable[[Loc], str] | None = None,
) -> list[Problem]:
    """Return every duplicate and dangling reference in ``config``.

    ``unchecked`` sections failed validation, so names in them are not checked; ``extra`` adds
    names of items that failed validation; ``describe`` writes where a first duplicate is.
    """
    names = Names.of(config, unchecked=unchecked, extra=extra)
    checks = (
        _duplicates(config, describe or format_loc),
        _people(config, describe or format_loc),
        _memberships(config, names),
        _schedules(config, names),
        _escalation_policies(config, names),
        _services(config, names),
        _severities(config, names),
        _drills(config, names),
        _templates(config),
        _comms(config),
    )
    return [problem for check in checks for problem in check]


def _template(loc: Loc, source: str | None) -> Iterator[Problem]:
    """A template that would fail at 3 am fails now, with its own line number."""
    from tocsin.comms.sandbox import TemplateError, template_check

    if not source:
        return
    try:
        template_check(source)
    except TemplateError as exc:
        where = f"template line {exc.line}: " if exc.line else ""
        yield loc, f"{where}{exc.message}"


def _templates(config: Config) -> Iterator[Problem]:
    for t, template in enumerate(config.templates):
        yield from _template(("templates", t, "body"), template.body)
        yield from _template(("templates", t, "subject"), template.subject)
    for s, severity in enumerate(config.severities):
        for field in ("bridge_url", "chat_channel"):
            yield from _template(("severities", s, field), getattr(severity, field))
    if config.comms is not None:
        for field in ("bridge_url", "chat_channel"):
            yield from _template(("comms", field), getattr(config.comms, field))


def _comms(config: Config) -> Iterator[Problem]:
    if config.comms is None:
        return
    known = {s.name for s in config.severities} if config.severities else None
    chat = [(("chat", i), item.severities) for i, item in enumerate(config.comms.chat)]
    lists = [
        (("stakeholders", i), item.severities) for i, item in enumerate(config.comms.stakeholders)
    ]
    for loc, severities in [*chat, *lists]:
        for n, severity in enumerate(severities):
            yield from _check(("comms", *loc, "severities", n), "severity", severity, known)


def _unknown(kind: str, value: str, known: Iterable[str]) -> str:
    # E-mail addresses share their domain, so only a near-identical one is a likely typo.
    cutoff = 0.9 if kind == "person" else 0.75
    return f"unknown {kind} {value!r}{did_you_mean(value, known, cutoff)}"


def _check(loc: Loc, kind: str, value: str | None, known: set[str] | None) -> Iterator[Problem]:
    if value is not None and known is not None and value not in known:
        yield loc, _unknown(kind, value, known)


def _unique(
    loc: Loc, kind: str, values: Iterable[tuple[Loc, str]], describe: Callable[[Loc], str]
) -> Iterator[Problem]:
    seen: dict[str, Loc] = {}
    for item_loc, value in values:
        if value in seen:
            yield (
                loc + item_loc,
                f"duplicate {kind} {value!r} (first at {describe(loc + seen[value])})",
            )
        seen.setdefault(value, item_loc)


def format_loc(loc: Loc) -> str:
    """Write a location as ``services[0].integrations[1].kind``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def _duplicates(config: Config, describe: Callable[[Loc], str]) -> Iterator[Problem]:
    for section, attr in ITEM_IDS.items():
        items = getattr(config, section)
        values = [((i, attr), getattr(item, attr)) for i, item in enumerate(items)]
        yield from _unique((section,), attr, values, describe)
    keys = [
        ((s, "integrations", i, "key"), integration.key)
        for s, service in enumerate(config.services)
        for i, integration in enumerate(service.integrations)
    ]
    yield from _unique(("services",), "integration key", keys, describe)
    roles = [((i,), role) for i, role in enumerate(config.roles_in_incident)]
    yield from _unique(("roles_in_incident",), "role", roles, describe)
    if config.status_page:
        components = [((i, "name"), c.name) for i, c in enumerate(config.status_page.components)]
        yield from _unique(("status_page", "components"), "name", components, describe)


def _people(config: Config, describe: Callable[[Loc], str]) -> Iterator[Problem]:
    for p, person in enumerate(config.people):
        loc: Loc = ("people", p)
        names = _contact_names(person.contact)
        yield from _unique((*loc, "contact"), "contact name", names, describe)
        contacts = {contact.name for contact in person.contact}
        for r, rule in enumerate(person.notify):
            if rule.via not in contacts:
                listed = ", ".join(sorted(contacts)) or "none"
                message = f"unknown contact {rule.via!r} (contacts of {person.email}: {listed})"
                yield (*loc, "notify", r, "via"), message


def _contact_names(contacts: Iterable[Contact]) -> list[tuple[Loc, str]]:
    return [((i, "name"), contact.name) for i, contact in enumerate(contacts)]


def _memberships(config: Config, names: Names) -> Iterator[Problem]:
    for t, team in enumerate(config.teams):
        for m, email in enumerate(team.members):
            yield from _check(("teams", t, "members", m), "person", email, names.people)
    for title, emails in config.roles.items():
        for m, email in enumerate(emails):
            yield from _check(("roles", title, m), "person", email, names.people)


def _schedules(config: Config, names: Names) -> Iterator[Problem]:
    for s, schedule in enumerate(config.schedules):
        for y, layer in enumerate(schedule.layers):
            for m, email in enumerate(layer.participants):
                loc: Loc = ("schedules", s, "layers", y, "participants", m)
                yield from _check(loc, "person", email, names.people)
        for o, override in enumerate(schedule.overrides):
            loc = ("schedules", s, "overrides", o, "who")
            yield from _check(loc, "person", override.who, names.people)
    loc = ("commander_schedule",)
    yield from _check(loc, "schedule", config.commander_schedule, names.schedules)


def _targets(loc: Loc, targets: list[Target], names: Names) -> Iterator[Problem]:
    for n, target in enumerate(targets):
        yield from _check((*loc, n, "schedule"), "schedule", target.schedule, names.schedules)
        yield from _check((*loc, n, "role"), "role", target.role, names.roles)
        yield from _check((*loc, n, "user"), "person", target.user, names.people)


def _escalation_policies(config: Config, names: Names) -> Iterator[Problem]:
    for p, policy in enumerate(config.escalation_policies):
        for v, level in enumerate(policy.levels):
            yield from _targets(
                ("escalation_policies", p, "levels", v, "notify"), level.notify, names
            )


def _services(config: Config, names: Names) -> Iterator[Problem]:
    for s, service in enumerate(config.services):
        loc: Loc = ("services", s)
        yield from _check((*loc, "team"), "team", service.team, names.teams)
        policy = service.escalation_policy
        yield from _check((*loc, "escalation_policy"), "escalation policy", policy, names.policies)
        for r, runbook in enumerate(service.runbooks):
            yield from _check((*loc, "runbooks", r), "runbook", runbook, names.runbooks)
        component = service.status_component
        yield from _check((*loc, "status_component"), "component", component, names.components)
        for value, severity in service.severity_map.items():
            yield from _check((*loc, "severity_map", value), "severity", severity, names.severities)
        yield from _integrations(loc, service.integrations)


def _integrations(loc: Loc, integrations: Iterable[Integration]) -> Iterator[Problem]:
    for i, item in enumerate(integrations):
        kind, key = item.kind, item.key
        here = (*loc, "integrations", i)
        if kind == "pagerduty" and len(key) != 32:
            message = f"a PagerDuty integration key must be 32 characters (this one has {len(key)})"
            yield (*here, "key"), message
        if kind != "grafana" and item.secret is not None:
            yield (*here, "secret"), f"only grafana integrations take a secret, not {kind}"
        for option in ("fields", "resolved_values"):
            if kind != "webhook" and getattr(item, option) is not None:
                yield (*here, option), f"only webhook integrations take {option}, not {kind}"


def _severities(config: Config, names: Names) -> Iterator[Problem]:
    for s, severity in enumerate(config.severities):
        loc: Loc = ("severities", s)
        for n, step in enumerate(severity.escalation_matrix):
            yield from _targets((*loc, "escalation_matrix", n, "notify"), step.notify, names)
        for d, deadline in enumerate(severity.deadlines):
            for r, role in enumerate(deadline.notify):
                here = (*loc, "deadlines", d, "notify", r)
                yield from _check(here, "incident role", role, names.incident_roles)
        for c, checklist in enumerate(severity.checklists):
            yield from _check((*loc, "checklists", c), "checklist", checklist, names.checklists)
        # The default (comms_lead, then commander) falls back to the roles a file does define.
        written = (
            severity.update_reminder_to if "update_reminder_to" in severity.model_fields_set else []
        )
        for r, role in enumerate(written):
            here = (*loc, "update_reminder_to", r)
            yield from _check(here, "incident role", role, names.incident_roles)
        yield from _targets((*loc, "response_team"), severity.response_team, names)
        if severity.postmortem:
            for a, role in enumerate(severity.postmortem.approvals):
                yield from _check((*loc, "postmortem", "approvals", a), "role", role, names.roles)


def _drills(config: Config, names: Names) -> Iterator[Problem]:
    for d, drill in enumerate(config.drills):
        loc: Loc = ("drills", d)
        yield from _check((*loc, "severity"), "severity", drill.severity, names.severities)
        yield from _check((*loc, "checklist"), "checklist", drill.checklist, names.checklists)
