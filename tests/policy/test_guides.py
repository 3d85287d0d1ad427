"""The five seed guides as policies: each file is valid and runs the guide's own numbers.

Every scenario is simulated (``tocsin.policy.simulate``) and compared, to the minute, with the
number written in the guide (/work/shared/seeds/00N_*.txt), at awkward moments: 3 am on a
Saturday, across the 2026-11-01 New York DST change, just before a holiday.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.policy.helpers import ROOT, run
from tocsin.comms.sandbox import template_check, template_render
from tocsin.policy.config import schema
from tocsin.policy.config.loader import config_load, config_parse
from tocsin.policy.simulate import Scenario, Simulator

POLICIES = ROOT / "examples" / "policies"
GUIDES = {
    "alloy": "000",
    "autolytiq": "001",
    "generic": "002",
    "subjunctive": "003",
    "release-manager": "004",
}
SATURDAY_3AM_UTC = datetime.fromisoformat("2026-11-28T03:00+00:00")
SATURDAY_3AM_ET = datetime.fromisoformat("2026-11-28T03:00-05:00")
DAY = 24 * 60

Event = tuple[int, str, str, tuple[str, ...]]


@cache
def policy(name: str) -> schema.Config:
    return config_load(POLICIES / f"{name}.yaml")


def simulate(
    name: str, severity: str, at: datetime, config: schema.Config | None = None, **after: str
) -> list[Event]:
    """Run a scenario; return (minutes since the start, kind, rule, targets) per event.

    ``after`` holds ack_after, mitigate_after, resolve_after, updates_every and horizon, in
    minutes ("20m"); the default horizon (24 h) ends before business-day rules past a weekend.
    """
    durations = {key: _minutes(value) for key, value in after.items()}
    scenario = Scenario(severity=severity, at=at, **durations)
    events = Simulator(config or policy(name)).run(scenario)
    return [(_offset(e.at, at), e.kind, e.rule, e.targets) for e in events]


def _minutes(text: str) -> timedelta:
    return timedelta(minutes=int(text.removesuffix("m")))


def _offset(at: datetime, start: datetime) -> int:
    seconds = (at - start).total_seconds()
    assert seconds % 60 == 0, "every rule of these guides falls on a whole minute"
    return int(seconds // 60)


def matrix(events: list[Event]) -> list[tuple[int, tuple[str, ...]]]:
    return [(m, targets) for m, _, rule, targets in events if ".escalation_matrix[" in rule]


def minutes(events: list[Event], kind: str, rule: str = "") -> list[int]:
    return [m for m, k, r, _ in events if k == kind and rule in r]


def paging(events: list[Event]) -> list[tuple[int, str, tuple[str, ...]]]:
    return [(m, k, t) for m, k, r, t in events if r.startswith("escalation_policies")]


def severity(name: str, level: str) -> schema.Severity:
    return next(s for s in policy(name).severities if s.name == level)


def with_holiday(name: str, day: date) -> schema.Config:
    """The policy with one more holiday (for guides whose calendar lists none)."""
    config = policy(name).model_copy(deep=True)
    assert config.calendar is not None
    config.calendar.holidays.append(day)
    return config


# ---- every file is a valid, complete configuration ------------------------------------------


@pytest.mark.parametrize("name", GUIDES)
def test_the_policy_passes_tocsin_check(name: str) -> None:
    path = POLICIES / f"{name}.yaml"
    assert run("config_check", str(path)).startswith(f"{path}: ok (")


@pytest.mark.parametrize("name", GUIDES)
def test_the_policy_is_complete(name: str) -> None:
    config = policy(name)
    for section in (
        "calendar",
        "people",
        "roles",
        "schedules",
        "escalation_policies",
        "services",
        "severities",
        "roles_in_incident",
        "commander_schedule",
        "checklists",
        "templates",
        "runbooks",
        "status_page",
    ):
        assert config.has(section), section
    assert all(person.contact for person in config.people)
    assert any(i.kind == "alertmanager" for s in config.services for i in s.integrations)
    assert all(s.severity_map for s in config.services)
    assert all(s.respond_within or s.page == "none" for s in config.severities)


@pytest.mark.parametrize("name", GUIDES)
def test_every_template_compiles_and_renders_in_the_sandbox(name: str) -> None:
    started = datetime.fromisoformat("2026-11-01T05:30+00:00")
    incident = {
        **dict.fromkeys(("summary", "impact", "users_affected", "error_rate", "root_cause"), "x"),
        **dict.fromkeys(("resolution", "bridge_url", "chat_channel", "url", "service"), "x"),
        **dict.fromkeys(("commander", "tech_lead", "comms_lead", "scribe"), "Ada"),
        "number": 7,
        "title": "API errors",
        "severity": "P1",
        "status": "monitoring",
        "phase": "Monitoring",
        "affected_components": ["API"],
        "started_at": started,
        "triggered_at": started,
        "acknowledged_at": started + timedelta(minutes=4),
        "mitigated_at": started + timedelta(minutes=40),
        "resolved_at": None,
        "duration": timedelta(minutes=50),
        "next_update_due": started + timedelta(minutes=60),
        "postmortem_due_at": None,
    }
    context = {"incident": incident, "message": "Rolled back.", "zone": "America/New_York"}
    for template in policy(name).templates:
        for source in (template.body, template.subject or ""):
            template_check(source)
            assert "Undefined" not in template_render(source, context), template.id


@pytest.mark.django_db
@pytest.mark.parametrize("name", GUIDES)
def test_the_policy_applies_and_exports_back_unchanged(name: str, tmp_path: Path) -> None:
    path = POLICIES / f"{name}.yaml"
    run("config_apply", str(path))
    exported = tmp_path / "exported.yaml"
    run("config_export", "-o", str(exported))
    assert run("config_apply", str(exported)).endswith("no changes\n")
    again = config_parse(exported.read_text())
    original = config_load(path)
    for section in ("severities", "checklists", "drills", "templates", "runbooks"):
        assert _dump(again, section) == _dump(original, section), section


def _dump(config: schema.Config, section: str) -> Any:
    return config.model_dump(mode="json", by_alias=True, exclude_unset=True).get(section)


# ---- 000 Alloy ------------------------------------------------------------------------------


def test_alloy_p0_escalation_path_at_3am_saturday() -> None:
    events = simulate("alloy", "P0", SATURDAY_3AM_UTC, ack_after="20m")
    # Level 1 primary, level 2 secondary "after 15 minutes with no response".
    assert paging(events) == [
        (0, "page", ("cai@alloy.example",)),
        (15, "escalate", ("dee@alloy.example",)),
    ]
    # Level 3 Engineering Lead after 30 minutes, level 4 CTO after 1 hour unresolved.
    assert matrix(events) == [(30, ("erin@alloy.example",)), (60, ("cory@alloy.example",))]
    assert minutes(events, "breach") == [15]  # "< 15 minutes"


def test_alloy_a_response_stops_the_secondary_but_not_the_lead_or_the_cto() -> None:
    events = simulate("alloy", "P0", SATURDAY_3AM_UTC, ack_after="10m", resolve_after="50m")
    assert paging(events) == [(0, "page", ("cai@alloy.example",))]
    # Engineering Lead at 30 min (until resolved); resolved at 50 min, so no CTO.
    assert matrix(events) == [(30, ("erin@alloy.example",))]
    assert minutes(events, "breach") == []


def test_alloy_update_cadence_per_severity() -> None:
    p0 = simulate("alloy", "P0", SATURDAY_3AM_UTC, resolve_after="100m")
    assert minutes(p0, "reminder") == [30, 60, 90]  # every 30 minutes until resolved
    p1 = simulate("alloy", "P1", SATURDAY_3AM_UTC, resolve_after="190m")
    assert minutes(p1, "reminder") == [60, 120, 180]  # every 1 hour
    # P2 "initial update + resolution notification", P3 "resolution notification only".
    for level in ("P2", "P3"):
        assert (
            minutes(simulate("alloy", level, SATURDAY_3AM_UTC, resolve_after="300m"), "reminder")
            == []
        )


def test_alloy_p1_gets_the_lead_but_never_the_cto() -> None:
    events = simulate("alloy", "P1", SATURDAY_3AM_UTC, ack_after="70m", resolve_after="180m")
    assert matrix(events) == [(30, ("erin@alloy.example",))]
    assert minutes(events, "breach") == [60]  # "< 1 hour" response
    assert matrix(simulate("alloy", "P2", SATURDAY_3AM_UTC, resolve_after="180m")) == []


def test_alloy_pir_within_48_hours_of_resolution_across_the_dst_weekend() -> None:
    # Resolved Saturday 2026-10-31 23:30 UTC: 48 wall-clock hours, weekend or not.
    start = datetime.fromisoformat("2026-10-31T23:00+00:00")
    events = simulate("alloy", "P0", start, ack_after="5m", resolve_after="30m")
    assert minutes(events, "postmortem_due") == [30 + 48 * 60]
    assert severity("alloy", "P0").postmortem is not None
    assert severity("alloy", "P0").postmortem.from_ == "resolved"


def test_alloy_runbooks_and_drills_are_as_written() -> None:
    config = policy("alloy")
    runbooks = {r.id: r for r in config.runbooks}
    assert {rid: r.estimate for rid, r in runbooks.items()} == {
        "RB-DB-001": "5m-30m",
        "RB-ERR-001": "15m-60m",
        "RB-PERF-001": "30m-120m",
    }
    assert runbooks["RB-ERR-001"].rollback == "kubectl rollout undo deployment/alloy-api"
    assert runbooks["RB-DB-001"].prerequisites == [
        "Database admin access",
        "SSH access to database server",
        "PagerDuty access",
    ]
    assert [(d.every, d.severity, d.checklist) for d in config.drills] == [
        ("4w", "P0", "drill-follow-up"),
        ("52w", "P0", "drill-follow-up"),
    ]
    assert config.services[0].severity_map == {"critical": "P0", "warning": "P1"}


# ---- 001 Autolytiq --------------------------------------------------------------------------


def test_autolytiq_p1_unresolved_matrix_at_3am_saturday() -> None:
    events = simulate("autolytiq", "P1", SATURDAY_3AM_ET, ack_after="20m")
    assert matrix(events) == [
        (0, ("chloe@autolytiq.example", "diego@autolytiq.example")),  # primary + secondary
        (30, ("erin@autolytiq.example",)),  # + Engineering Manager
        (60, ("grace@autolytiq.example",)),  # + VP Engineering
        (120, ("henry@autolytiq.example",)),  # + CTO
    ]
    assert minutes(events, "breach", "respond_within") == [5]  # "Immediate (< 5 minutes)"
    assert minutes(events, "breach", "resolve_within") == [60]  # "< 1 hour"


def test_autolytiq_p2_matrix_and_targets() -> None:
    events = simulate("autolytiq", "P2", SATURDAY_3AM_ET, ack_after="10m")
    assert matrix(events) == [
        (0, ("chloe@autolytiq.example",)),  # primary
        (30, ("diego@autolytiq.example",)),  # + secondary
        (60, ("erin@autolytiq.example",)),  # + Engineering Manager
        (120, ("grace@autolytiq.example",)),  # + VP Engineering
    ]
    assert minutes(events, "breach", "respond_within") == []  # acknowledged within 15 min
    assert minutes(events, "breach", "resolve_within") == [240]
    assert minutes(events, "reminder")[:3] == [30, 60, 90]


def test_autolytiq_p1_respond_breach_only_if_unacknowledged_after_5_minutes() -> None:
    assert minutes(simulate("autolytiq", "P1", SATURDAY_3AM_ET), "breach", "respond") == [5]
    on_time = simulate("autolytiq", "P1", SATURDAY_3AM_ET, ack_after="4m", resolve_after="50m")
    assert minutes(on_time, "breach") == []
    # The primary is paged, then the secondary at 5 minutes if nobody acknowledged.
    assert paging(simulate("autolytiq", "P1", SATURDAY_3AM_ET, ack_after="7m")) == [
        (0, "page", ("chloe@autolytiq.example",)),
        (5, "escalate", ("diego@autolytiq.example",)),
    ]


def test_autolytiq_p3_matrix_continues_investigation_then_secondary_and_em() -> None:
    events = simulate("autolytiq", "P3", SATURDAY_3AM_ET, ack_after="30m")
    assert matrix(events) == [
        (0, ("chloe@autolytiq.example",)),
        (60, ("diego@autolytiq.example",)),
        (120, ("erin@autolytiq.example",)),
    ]
    assert minutes(events, "reminder") == []  # "At start, major updates, and resolution"


def test_autolytiq_p1_across_the_new_york_dst_change() -> None:
    # 01:30 EDT on 2026-11-01; clocks fall back at 02:00 EDT. Elapsed minutes are exact.
    start = datetime.fromisoformat("2026-11-01T01:30-04:00")
    events = simulate("autolytiq", "P1", start, ack_after="3m", resolve_after="130m")
    assert [m for m, _ in matrix(events)] == [0, 30, 60, 120]
    assert minutes(events, "reminder") == list(range(15, 130, 15))  # every 15 minutes


def test_autolytiq_pir_three_business_days_after_resolution_across_dst() -> None:
    # Resolved Friday 2026-10-30 16:00 EDT: Mon (1), Tue (2), Wed (3) at 16:00 EST, which is
    # five days and one hour of elapsed time after the resolution.
    start = datetime.fromisoformat("2026-10-30T15:00-04:00")
    events = simulate("autolytiq", "P1", start, ack_after="2m", resolve_after="60m")
    (due,) = minutes(events, "postmortem_due")
    assert due == 60 + 5 * DAY + 60
    assert start + timedelta(minutes=due) == datetime.fromisoformat("2026-11-04T16:00-05:00")


def test_autolytiq_pir_skips_thanksgiving() -> None:
    # P2 resolved Wednesday 2026-11-25 15:00 ET: Thursday is a holiday -> Fri, Mon, Tue 15:00.
    start = datetime.fromisoformat("2026-11-25T14:00-05:00")
    events = simulate("autolytiq", "P2", start, ack_after="5m", resolve_after="60m")
    (due,) = minutes(events, "postmortem_due")
    assert start + timedelta(minutes=due) == datetime.fromisoformat("2026-12-01T15:00-05:00")


def test_autolytiq_p3_pir_within_one_week_and_p4_has_none() -> None:
    start = datetime.fromisoformat("2026-10-30T11:00-04:00")
    events = simulate("autolytiq", "P3", start, ack_after="30m", resolve_after="60m")
    assert minutes(events, "postmortem_due") == [60 + 7 * DAY]  # 1w: seven elapsed days
    p4 = simulate("autolytiq", "P4", start, ack_after="30m", resolve_after="60m")
    assert minutes(p4, "postmortem_due") == []


def test_autolytiq_weekly_handoff_is_monday_0900_eastern_after_dst() -> None:
    # Monday 2026-11-02 08:30 EST is 13:30 UTC: after 09:00 EDT would have been, before the
    # 09:00 EST handoff. Chloe is still primary; at 09:00 EST Ana becomes secondary.
    start = datetime.fromisoformat("2026-11-02T08:30-05:00")
    events = simulate("autolytiq", "P2", start, ack_after="2m")
    assert matrix(events)[:2] == [
        (0, ("chloe@autolytiq.example",)),
        (30, ("ana@autolytiq.example",)),
    ]


def test_autolytiq_p4_waits_for_business_hours() -> None:
    events = simulate("autolytiq", "P4", SATURDAY_3AM_ET)
    assert minutes(events, "queued") == [0]
    monday_9am = (2 * 24 + 6) * 60
    assert matrix(events) == [(monday_9am, ("diego@autolytiq.example",))]  # the new week's primary
    # "< 4 hours (business hours)": the clock starts with business hours, Monday 09:00 -> 13:00.
    assert minutes(events, "breach", "respond_within") == [monday_9am + 4 * 60]
    # Wednesday 17:30 before Thanksgiving: next business hours are Friday 09:00.
    eve = datetime.fromisoformat("2026-11-25T17:30-05:00")
    (first,) = matrix(simulate("autolytiq", "P4", eve, ack_after="3000m"))
    assert eve + timedelta(minutes=first[0]) == datetime.fromisoformat("2026-11-27T09:00-05:00")


def test_autolytiq_p4_response_target_counts_business_hours_over_the_weekend() -> None:
    friday_4pm = datetime.fromisoformat("2026-11-20T16:00-05:00")
    events = simulate("autolytiq", "P4", friday_4pm, horizon="5000m")
    (breach,) = minutes(events, "breach", "respond_within")
    assert friday_4pm + timedelta(minutes=breach) == datetime.fromisoformat(
        "2026-11-23T12:00-05:00"
    )


# ---- 002 generic ----------------------------------------------------------------------------


def test_generic_notification_audiences_per_severity() -> None:
    assert {s.name: s.audiences for s in policy("generic").severities} == {
        "P0": ["responders", "stakeholders", "status_page"],  # "All stakeholders immediately"
        "P1": ["responders", "stakeholders", "status_page"],  # "On-call engineer, team lead"
        "P2": ["responders"],  # "On-call engineer"
        "P3": [],  # "Ticket system"
    }
    assert {s.name: s.page for s in policy("generic").severities} == {
        "P0": "all",
        "P1": "all",
        "P2": "all",
        "P3": "none",
    }


def test_generic_p0_tells_all_stakeholders_immediately() -> None:
    events = simulate("generic", "P0", SATURDAY_3AM_UTC, ack_after="10m")
    assert matrix(events) == [
        (
            0,
            (
                "pia@service.example",  # the on-call engineer this week
                "tess@service.example",
                "uma@service.example",
                "vic@service.example",
                "wes@service.example",
            ),
        )
    ]
    assert minutes(events, "breach", "respond_within") == [5]  # "Immediate"
    assert minutes(events, "breach", "resolve_within") == [60]  # "Within 1 hour"
    assert minutes(events, "reminder")[:3] == [30, 60, 90]  # "Every 30 minutes for P0"


def test_generic_p1_on_call_and_team_lead_then_manager_when_unresolved() -> None:
    events = simulate("generic", "P1", SATURDAY_3AM_UTC, ack_after="10m")
    assert matrix(events) == [
        (0, ("pia@service.example", "tess@service.example")),
        (240, ("uma@service.example",)),  # unable to resolve within 4 hours
    ]
    assert minutes(events, "breach") == [240]
    assert minutes(events, "reminder")[:4] == [60, 120, 180, 240]  # hourly


def test_generic_p2_and_p3_timeline() -> None:
    p2 = simulate("generic", "P2", SATURDAY_3AM_UTC, ack_after="70m", resolve_after="1500m")
    assert minutes(p2, "breach") == [60, 24 * 60]  # response 1 h, resolution 24 h
    assert matrix(p2) == [(0, ("pia@service.example",)), (24 * 60, ("tess@service.example",))]
    assert minutes(p2, "reminder") == []
    p3 = simulate("generic", "P3", SATURDAY_3AM_UTC, resolve_after="3000m")
    assert minutes(p3, "queued") == [0] and paging(p3) == []  # ticket system: nobody paged
    assert minutes(p3, "breach") == [24 * 60]  # "Within 24 hours"


def test_generic_postmortem_48h_after_resolution_before_a_holiday() -> None:
    # Resolved Thursday 2026-12-24 20:00 UTC: 48 wall-clock hours, Christmas or not.
    config = with_holiday("generic", date(2026, 12, 25))
    start = datetime.fromisoformat("2026-12-24T19:00+00:00")
    events = simulate("generic", "P0", start, config, ack_after="2m", resolve_after="60m")
    assert minutes(events, "postmortem_due") == [60 + 48 * 60]


def test_generic_six_phases_and_status_page_timeline() -> None:
    config = policy("generic")
    phases = [c.phase for c in config.checklists if c.id != "rollback-criteria"]
    assert phases == [
        "detection",
        "triage",
        "investigation",
        "mitigation",
        "resolution",
        "post_incident",
    ]
    body = next(t.body for t in config.templates if t.id == "status-page")
    lines = ["Issue detected", "Root cause identified", "Fix deployed", "Issue resolved"]
    assert [body.index(line) for line in lines] == sorted(body.index(line) for line in lines)
    rollback = next(c for c in config.checklists if c.id == "rollback-criteria")
    assert rollback.items[0] == "Error rate spike: > 10% error rate"


# ---- 003 Subjunctive ------------------------------------------------------------------------


def test_subjunctive_p0_escalation_times_and_15_minute_updates() -> None:
    events = simulate("subjunctive", "P0", SATURDAY_3AM_UTC, ack_after="10m", resolve_after="70m")
    assert matrix(events) == [
        (15, ("lead@subjunctive.example",)),  # Team Lead (15-30 min)
        (30, ("manager-x@subjunctive.example",)),  # on-call Engineering Manager (30-60 min)
        (60, ("cto@subjunctive.example", "vp@subjunctive.example")),  # CTO/VP Eng (60+ min)
    ]
    # Internal updates every 15 minutes, reminded to the commander (Manager X this week).
    reminders = [(m, t) for m, k, _, t in events if k == "reminder"]
    assert reminders == [(m, ("manager-x@subjunctive.example",)) for m in (15, 30, 45, 60)]
    assert minutes(events, "breach") == []


def test_subjunctive_escalation_column_delays_p1_and_p2() -> None:
    p1 = simulate("subjunctive", "P1", SATURDAY_3AM_UTC, ack_after="20m")
    assert matrix(p1) == [
        (30, ("lead@subjunctive.example", "manager-x@subjunctive.example"))  # "30 minutes"
    ]
    assert minutes(p1, "reminder")[:3] == [30, 60, 90]
    p2 = simulate("subjunctive", "P2", SATURDAY_3AM_UTC, ack_after="20m")
    assert matrix(p2) == [(120, ("lead@subjunctive.example",))]  # "2 hours"
    assert minutes(p2, "reminder")[:3] == [60, 120, 180]
    assert minutes(p2, "breach", "respond_within") == []  # 4 h response


def test_subjunctive_closure_needs_24h_of_stable_monitoring() -> None:
    for level in ("P0", "P1", "P2", "P3"):
        close = severity("subjunctive", level).close_requires
        assert close.monitoring_for == "24h", level
        assert close.checklists_complete is True
    closure = next(c for c in policy("subjunctive").checklists if c.id == "closure")
    assert closure.phase == "closure"
    assert "Monitoring confirms stability (24 hours)" in closure.items


def test_subjunctive_commander_rotates_weekly_with_the_managers() -> None:
    # Week of 2026-11-23: Manager X; from Monday 2026-11-30 09:00 UTC: Manager Y.
    sunday = datetime.fromisoformat("2026-11-29T23:00+00:00")
    events = simulate("subjunctive", "P0", sunday, resolve_after="20m")
    assert [t for _, k, _, t in events if k == "reminder"] == [("manager-x@subjunctive.example",)]
    monday = datetime.fromisoformat("2026-11-30T09:00+00:00")
    events = simulate("subjunctive", "P0", monday, resolve_after="20m")
    assert [t for _, k, _, t in events if k == "reminder"] == [("manager-y@subjunctive.example",)]


def test_subjunctive_p3_next_business_day_response_over_a_holiday() -> None:
    # Thursday 2026-12-24 10:00 UTC, Christmas a holiday: respond by Monday 10:00.
    config = with_holiday("subjunctive", date(2026, 12, 25))
    start = datetime.fromisoformat("2026-12-24T10:00+00:00")
    events = simulate("subjunctive", "P3", start, config, horizon="7000m")
    assert minutes(events, "breach") == [4 * DAY]
    assert paging(events)[0][:2] == (0, "page")  # inside business hours: paged at once
    assert matrix(events) == [] and minutes(events, "reminder") == []  # "N/A", "As needed"


def test_subjunctive_p3_at_3am_saturday_pages_monday_and_is_due_tuesday() -> None:
    events = simulate("subjunctive", "P3", SATURDAY_3AM_UTC, horizon="5000m")
    monday_9am = (2 * 24 + 6) * 60
    assert paging(events)[0] == (monday_9am, "page", ("engineer-c@subjunctive.example",))
    # The clock of a business-hours severity starts Monday 09:00: next business day, Tuesday.
    assert minutes(events, "breach") == [monday_9am + DAY]


# ---- 004 Release Manager --------------------------------------------------------------------


def test_release_manager_p1_updates_every_5_minutes() -> None:
    quiet = simulate("release-manager", "P1", SATURDAY_3AM_UTC, ack_after="2m", resolve_after="32m")
    assert minutes(quiet, "reminder") == [5, 10, 15, 20, 25, 30]
    chatty = simulate(
        "release-manager",
        "P1",
        SATURDAY_3AM_UTC,
        ack_after="2m",
        resolve_after="32m",
        updates_every="5m",
    )
    assert minutes(chatty, "reminder") == []


def test_release_manager_p1_rollback_deadlines_and_matrix_to_the_ceo() -> None:
    events = simulate("release-manager", "P1", SATURDAY_3AM_UTC, ack_after="3m")
    assert [(m, r) for m, k, r, _ in events if k == "deadline"] == [
        (15, "severities[P1].deadlines[0]"),  # rollback decision
        (30, "severities[P1].deadlines[1]"),  # rollback or fix executed
    ]
    assert matrix(events) == [
        # emery and blair were told by the response team at the same moment: not told twice.
        (0, ("casey@release.example",)),
        (30, ("gray@release.example",)),  # + CTO
        (60, ("harper@release.example",)),  # + CEO
    ]
    assert minutes(events, "breach") == []


def test_release_manager_mitigation_ends_the_execution_deadline() -> None:
    events = simulate(
        "release-manager",
        "P1",
        SATURDAY_3AM_UTC,
        ack_after="3m",
        mitigate_after="20m",
        resolve_after="45m",
    )
    assert minutes(events, "deadline") == [15]
    assert matrix(events) == [(0, ("casey@release.example",)), (30, ("gray@release.example",))]


def test_release_manager_p2_targets_after_the_dst_change() -> None:
    start = datetime.fromisoformat("2026-11-01T06:30+00:00")  # 01:30 EST, second time round
    events = simulate(
        "release-manager", "P2", start, ack_after="10m", mitigate_after="40m", resolve_after="100m"
    )
    # Root cause target 30 min; fix at 40 min ends the 60 min target; stable 30 min post-fix.
    assert [(m, r) for m, k, r, _ in events if k == "deadline"] == [
        (30, "severities[P2].deadlines[0]"),
        (70, "severities[P2].deadlines[2]"),
    ]
    # "+ VP Engineering" at 30-60 and again at "> 60 min": added once.
    assert [m for m, _ in matrix(events)] == [0, 30]
    assert minutes(events, "reminder")[:2] == [15, 30]  # "every 15-30 minutes": 15


def test_release_manager_response_team_and_postmortem_approval() -> None:
    p1 = severity("release-manager", "P1")
    assert [t.model_dump(exclude_none=True) for t in p1.response_team] == [
        {"role": "VP Engineering"},
        {"role": "Engineering Manager"},
        {"schedule": "Primary on-call"},
        {"role": "DevOps Lead"},
    ]
    assert p1.postmortem is not None
    assert p1.postmortem.approvals == ["Engineering Manager", "VP Engineering"]
    events = simulate(
        "release-manager", "P1", SATURDAY_3AM_UTC, ack_after="2m", resolve_after="40m"
    )
    assert minutes(events, "postmortem_due") == [40 + 48 * 60]  # "within 48 hours"
    assert severity("release-manager", "P3").postmortem is None


def test_release_manager_resolution_checklist_stages() -> None:
    checklists = {c.id: c for c in policy("release-manager").checklists}
    stages = ["resolution-immediate", "resolution-extended", "resolution-follow-up"]
    assert [(checklists[c].within, checklists[c].phase) for c in stages] == [
        (None, "resolution"),
        ("1h", "recovery"),
        ("24h", "post_incident"),
    ]
    assert checklists["resolution-immediate"].required_to == "resolve"


def test_release_manager_p3_fix_by_next_business_day_before_christmas() -> None:
    config = with_holiday("release-manager", date(2026, 12, 25))
    start = datetime.fromisoformat("2026-12-24T16:00+00:00")  # Thursday
    events = simulate("release-manager", "P3", start, config, ack_after="20m", horizon="7000m")
    assert [(m, r) for m, k, r, _ in events if k == "deadline"] == [
        (120, "severities[P3].deadlines[0]"),  # root cause target 2 hours
        (4 * DAY, "severities[P3].deadlines[1]"),  # Monday 16:00
    ]
    assert [m for m, _ in matrix(events)] == [0, 30, 60]  # on-call, + EM, + VP Engineering
    assert minutes(events, "reminder")[:2] == [60, 120]


def test_release_manager_p4_pages_nobody() -> None:
    events = simulate("release-manager", "P4", SATURDAY_3AM_UTC)
    assert [k for _, k, _, _ in events] == ["triggered", "queued"]
