"""The simulator runs a policy on a virtual clock: pages, matrix, breaches, reminders, deadlines."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import SHARED
from tocsin.policy.config.loader import config_load
from tocsin.policy.simulate import Scenario, SimulationError, Simulator

EXAMPLE = SHARED / "examples" / "tocsin.yaml"
SATURDAY_3AM = datetime.fromisoformat("2026-11-28T03:00-05:00")


def run(**kwargs: Any) -> list[tuple[int, str, str, tuple[str, ...]]]:
    scenario = Scenario(at=kwargs.pop("at", SATURDAY_3AM), **kwargs)
    events = Simulator(config_load(EXAMPLE)).run(scenario)
    return [
        (int((e.at - scenario.at).total_seconds() // 60), e.kind, e.rule, e.targets) for e in events
    ]


def at_minute(events: list[Any], minute: int, kind: str) -> list[Any]:
    return [e for e in events if e[0] == minute and e[1] == kind]


def test_p1_unresolved_adds_the_matrix_stakeholders_on_time() -> None:
    events = run(severity="P1", ack_after=timedelta(minutes=20))
    matrix = [(m, targets) for m, kind, rule, targets in events if "escalation_matrix" in rule]
    assert matrix == [
        (0, ("alice@example.com", "bob@example.com")),
        (30, ("carol@example.com",)),  # Engineering Manager
        (60, ("dave@example.com",)),  # VP Engineering
        (120, ()),  # CTO: dave again, already in the loop, is not told twice (as the engine)
    ]


def test_acknowledging_stops_the_escalation_policy_but_not_the_matrix() -> None:
    events = run(severity="P1", ack_after=timedelta(minutes=10))
    levels = [(m, rule) for m, kind, rule, _ in events if rule.startswith("escalation_policies")]
    assert levels == [(0, "escalation_policies[Platform default].levels[0]")]
    assert at_minute(events, 30, "escalate")  # the matrix still adds the EM at 30 min


def test_response_breach_only_when_acknowledged_late() -> None:
    assert at_minute(run(severity="P1", ack_after=timedelta(minutes=4)), 5, "breach") == []
    late = at_minute(run(severity="P1", ack_after=timedelta(minutes=6)), 5, "breach")
    assert [e[2] for e in late] == ["severities[P1].respond_within"]


def test_resolving_stops_everything_and_sets_the_postmortem_due_in_business_days() -> None:
    events = run(severity="P1", ack_after=timedelta(minutes=3), resolve_after=timedelta(minutes=45))
    assert all(m <= 45 for m, kind, _, _ in events if kind != "postmortem_due")
    (due,) = [e for e in events if e[1] == "postmortem_due"]
    # Resolved Saturday 03:45: 3 business days -> Mon (1), Tue (2), Wed (3) at 03:45.
    assert due[0] == 45 + (4 * 24 * 60)


def test_update_reminders_only_when_no_update_was_posted() -> None:
    quiet = run(severity="P1", resolve_after=timedelta(minutes=50))
    assert [m for m, kind, _, _ in quiet if kind == "reminder"] == [15, 30, 45]
    chatty = run(
        severity="P1", resolve_after=timedelta(minutes=50), updates_every=timedelta(minutes=10)
    )
    assert [m for m, kind, _, _ in chatty if kind == "reminder"] == []


def test_named_deadlines_fire_unless_resolved_first() -> None:
    events = run(severity="P1", resolve_after=timedelta(minutes=20))
    assert [(m, rule) for m, kind, rule, _ in events if kind == "deadline"] == [
        (15, "severities[P1].deadlines[0]")
    ]


def test_business_hours_severities_queue_pages_until_monday() -> None:
    events = run(severity="P4")
    queued = [e for e in events if e[1] == "queued"]
    assert queued and queued[0][0] == 0
    pages = [m for m, kind, _, _ in events if kind == "page"]
    assert pages[0] == (2 * 24 + 6) * 60  # Saturday 03:00 -> Monday 09:00


def test_an_unknown_severity_names_the_ones_that_exist() -> None:
    with pytest.raises(SimulationError, match="P1, P2, P3, P4"):
        run(severity="SEV1")


def test_the_cli_prints_json_events_in_time_order(capsys: pytest.CaptureFixture[str]) -> None:
    call_command(
        "simulate",
        str(EXAMPLE),
        "--severity",
        "P1",
        "--at",
        "2026-11-28T03:00-05:00",
        "--ack-after",
        "20m",
        "--resolve-after",
        "2h",
        "--json",
    )
    events = json.loads(capsys.readouterr().out)
    assert events[0] == {
        "offset_seconds": 0,
        "at": "2026-11-28T03:00:00-05:00",
        "kind": "triggered",
        "rule": "scenario",
        "targets": [],
        "detail": "P1 Critical",
    }
    offsets = [e["offset_seconds"] for e in events]
    assert offsets == sorted(offsets)
    assert {"page", "escalate", "breach", "reminder", "deadline", "postmortem_due"} <= {
        e["kind"] for e in events
    }


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--at", "2026-11-28T03:00", "offset"),
        ("--ack-after", "15mins", "--ack-after"),
    ],
)
def test_bad_cli_input_names_the_flag(flag: str, value: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("simulate", str(EXAMPLE), "--severity", "P1", flag, value)
