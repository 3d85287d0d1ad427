"""Render a policy as a readable incident-response guide (Markdown).

The guide is generated from the same file the system runs, so the written process and the
running one cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tocsin.policy.config import schema


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ") or "-"


def _table(headers: list[str], rows: Iterable[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _target(t: schema.Target | dict[str, str]) -> str:
    data = t.model_dump(exclude_none=True) if isinstance(t, schema.Target) else t
    kind, name = next(iter(data.items()))
    return {"schedule": f"on-call of *{name}*", "role": f"**{name}**", "user": name}.get(kind, name)


def _targets(items: Iterable[schema.Target]) -> str:
    return ", ".join(_target(t) for t in items)


def _paging(sev: schema.Severity) -> str:
    return {
        "all": "page at any hour",
        "business_hours": "business hours only",
        "none": "no paging",
    }[sev.page]


def _overview(config: schema.Config) -> list[str]:
    out = ["## Severity levels", ""]
    out += _table(
        [
            "Severity",
            "Title",
            "Description",
            "Respond within",
            "Resolve within",
            "Updates every",
            "Paging",
        ],
        (
            [
                s.name,
                s.title,
                s.description,
                s.respond_within,
                s.resolve_within,
                s.update_every,
                _paging(s),
            ]
            for s in config.severities
        ),
    )
    return out


def _matrix(config: schema.Config) -> list[str]:
    steps = sorted(
        {step.after for s in config.severities for step in s.escalation_matrix},
        key=lambda a: _seconds(a),
    )
    if not steps:
        return []
    out = [
        "## Escalation matrix",
        "",
        "Who is involved, by time since the incident started (until it is resolved, unless noted).",
        "",
    ]
    rows = []
    for sev in config.severities:
        by_after = {step.after: step for step in sev.escalation_matrix}
        row = [sev.name]
        for after in steps:
            step = by_after.get(after)
            if step is None:
                row.append("")
                continue
            note = "" if step.until == "resolved" else f" (until {step.until})"
            row.append(("+ " if after != steps[0] else "") + _targets(step.notify) + note)
        rows.append(row)
    out += _table(["Severity", *[f"after {a}" for a in steps]], rows)
    return out


def _seconds(text: str) -> int:
    from tocsin.policy.config.durations import parse_duration

    return parse_duration(text).seconds


def _severity_details(sev: schema.Severity, config: schema.Config) -> list[str]:
    out = [f"### {sev.name} {sev.title}".rstrip(), ""]
    if sev.description:
        out += [sev.description, ""]
    if sev.criteria:
        out += ["Criteria:", "", *[f"- {c}" for c in sev.criteria], ""]
    facts = [
        ("Acknowledge within", sev.respond_within),
        ("Resolve within", sev.resolve_within),
        (
            "Status updates",
            f"every {sev.update_every}, reminding {' or '.join(sev.update_reminder_to)}"
            if sev.update_every
            else None,
        ),
        ("Paging", _paging(sev)),
        ("Audiences", ", ".join(sev.audiences) or None),
    ]
    team = getattr(sev, "response_team", None)
    if team:
        facts.append(("Response team", _targets(team)))
    out += [f"- **{k}**: {v}" for k, v in facts if v]
    for d in sev.deadlines:
        who = ", ".join(d.notify) or "commander"
        out.append(f"- **Deadline: {d.name}**: {d.after} after {d.from_} (tell {who})")
    if sev.postmortem:
        approvals = getattr(sev.postmortem, "approvals", None) or []
        extra = f", approved by {', '.join(approvals)}" if approvals else ""
        out.append(f"- **Post-mortem**: within {sev.postmortem.within} of resolution{extra}")
    closing = getattr(sev, "close_requires", None)
    if closing is not None and getattr(closing, "monitoring_for", None):
        out.append(f"- **Closing**: after {closing.monitoring_for} of stable monitoring")
    if sev.checklists:
        titles = {c.id: c.title or c.id for c in config.checklists}
        out.append("- **Checklists**: " + ", ".join(titles.get(c, c) for c in sev.checklists))
    return [*out, ""]


def _policies(config: schema.Config) -> list[str]:
    if not config.escalation_policies:
        return []
    out = ["## Paging: escalation policies", ""]
    for policy in config.escalation_policies:
        out += [f"### {policy.name}", ""]
        for i, level in enumerate(policy.levels, 1):
            wait = f"; if nobody acknowledges within {level.wait}, go on" if level.wait else ""
            out.append(f"{i}. Page {_targets(level.notify)}{wait}.")
        if policy.repeat:
            out.append(f"\nThe levels run {policy.repeat} more time(s) if nobody acknowledges.")
        out.append("")
    return out


def _schedules(config: schema.Config) -> list[str]:
    if not config.schedules:
        return []
    default_zone = config.calendar.timezone if config.calendar else "UTC"
    out = ["## On-call schedules", ""]
    for s in config.schedules:
        out += [f"### {s.name}", "", f"Time zone: {s.timezone or default_zone}.", ""]
        for layer in s.layers:
            rotation = (
                layer.rotation
                if isinstance(layer.rotation, str)
                else (f"every {layer.rotation.every}")
            )
            handoff = layer.handoff
            when = " ".join(x for x in (handoff.day, handoff.time) if x) if handoff else ""
            out.append(
                f"- {rotation} rotation from {layer.start}"
                + (f", hand-off {when}" if when else "")
                + ": "
                + ", ".join(layer.participants)
            )
        out.append("")
    return out


def _roles(config: schema.Config) -> list[str]:
    out = ["## Roles", ""]
    roles = config.roles_in_incident or ["commander", "tech_lead", "comms_lead", "scribe"]
    out.append("In an incident: " + ", ".join(roles) + ".")
    if config.commander_schedule:
        out.append(f"The commander is proposed from *{config.commander_schedule}*.")
    if config.roles:
        out += [
            "",
            *[f"- **{title}**: {', '.join(people)}" for title, people in config.roles.items()],
        ]
    return [*out, ""]


def _checklists(config: schema.Config) -> list[str]:
    if not config.checklists:
        return []
    out = ["## Checklists", ""]
    for c in config.checklists:
        gate = f" (required to {c.required_to})" if c.required_to else ""
        out += [f"### {c.title or c.id}{gate}", "", *[f"- [ ] {item}" for item in c.items], ""]
    return out


def _templates(config: schema.Config) -> list[str]:
    if not config.templates:
        return []
    out = ["## Communication templates", ""]
    for t in config.templates:
        out += [f"### {t.id} ({t.channel}, {t.phase})", "", "```", t.body.rstrip(), "```", ""]
    return out


def _runbooks(config: schema.Config) -> list[str]:
    if not config.runbooks:
        return []
    out = ["## Runbooks", ""]
    for rb in config.runbooks:
        out += [f"### {rb.id}: {rb.title}".rstrip(": "), ""]
        if rb.alerts:
            out.append(f"Alerts: {', '.join(rb.alerts)}.")
        if rb.estimate:
            out.append(f"Time estimate: {rb.estimate}.")
        if rb.prerequisites:
            out += ["", "Prerequisites:", *[f"- {p}" for p in rb.prerequisites]]
        if rb.steps:
            out += ["", "Steps:", *[f"{i}. {step}" for i, step in enumerate(rb.steps, 1)]]
        if rb.rollback:
            out += ["", f"Rollback: `{rb.rollback}`"]
        out.append("")
    return out


def render_guide(config: schema.Config) -> str:
    """The whole guide as Markdown."""
    title = (
        config.status_page.title
        if config.status_page and config.status_page.title
        else "Incident response"
    )
    out = [
        f"# {title}: incident response guide",
        "",
        "Generated by `tocsin render-guide` from the policy Tocsin runs.",
        "",
    ]
    if config.calendar:
        cal = config.calendar
        out += [
            f"Times are in {cal.timezone}; business days: {', '.join(cal.business_days)}"
            + (f"; holidays: {', '.join(str(h) for h in cal.holidays)}" if cal.holidays else "")
            + ".",
            "",
        ]
    out += _overview(config)
    out += [line for sev in config.severities for line in _severity_details(sev, config)]
    out += _matrix(config)
    out += _policies(config)
    out += _schedules(config)
    out += _roles(config)
    out += _checklists(config)
    out += _templates(config)
    out += _runbooks(config)
    return "\n".join(out).rstrip() + "\n"
