"""Drills start a real incident from the policy, flagged so metrics leave it out; each is due
again its ``every`` after its last run."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from tests.conftest import ROOT
from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.engine.worker import run_once
from tocsin.incidents.drills import drill_start, drills_status
from tocsin.incidents.models import Incident

pytestmark = pytest.mark.django_db
ALLOY = ROOT / "examples" / "policies" / "alloy.yaml"


def test_a_drill_from_the_alloy_policy_pages_marked_drill(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("config_apply", str(ALLOY))
    capsys.readouterr()
    call_command("drill")
    names = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["Monthly fire drill", "Annual full-scale incident simulation"]
    service = Incident._meta.apps.get_model("alerts", "Service").objects.first()
    call_command("drill", names[0], "--service", service.name)
    incident = Incident.objects.get()
    assert incident.is_drill
    assert incident.drill == "Monthly fire drill"
    assert incident.title.startswith("[DRILL]")
    run_once()
    assert mail.outbox
    assert all("DRILL" in m.subject for m in mail.outbox)


def test_an_unknown_drill_names_the_known_ones() -> None:
    call_command("config_apply", str(ALLOY))
    with pytest.raises(CommandError, match="the policy has"):
        call_command("drill", "Nope")


T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
EVERY = timedelta(weeks=4)  # alloy.yaml: "every: 4w"


def test_a_drill_is_due_now_until_run_then_every_four_weeks_after_its_last_run() -> None:
    call_command("config_apply", str(ALLOY))
    with time_machine.travel(T0, tick=False):
        [never, annual] = drills_status()
        assert (never.last_run, never.due_at, never.overdue) == (None, None, True)
        first = drill_start(name="Monthly fire drill")
        [status, annual] = drills_status()
        assert (annual.last_run, annual.overdue) == (None, True)  # each drill its own runs
        assert status.last_run == first
        assert (status.due_at, status.overdue) == (T0 + EVERY, False)
        assert (status.every, status.severity) == ("4w", "P0")
    with time_machine.travel(T0 + EVERY - timedelta(seconds=1), tick=False):
        assert not drills_status()[0].overdue
    with time_machine.travel(T0 + EVERY, tick=False):
        assert drills_status()[0].overdue
    # A run a week late moves the next one: the cadence counts from the last run.
    with time_machine.travel(T0 + EVERY + timedelta(weeks=1), tick=False):
        second = drill_start(name="Monthly fire drill")
        [status, _annual] = drills_status()
        assert status.last_run == second
        assert status.due_at == T0 + 2 * EVERY + timedelta(weeks=1)


def test_an_incident_flagged_drill_by_hand_is_no_run_of_a_policy_drill() -> None:
    call_command("config_apply", str(ALLOY))
    Incident.objects.create(
        number=99, title="[DRILL] Monthly fire drill: by hand", is_drill=True, triggered_at=T0
    )
    assert drills_status()[0].last_run is None


def test_the_cli_lists_each_drill_with_its_last_run_and_next_due(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("config_apply", str(ALLOY))
    capsys.readouterr()
    with time_machine.travel(T0, tick=False):
        call_command("drill")
        assert capsys.readouterr().out.splitlines() == [
            "Monthly fire drill\tevery 4w\tnever run\tdue now",
            "Annual full-scale incident simulation\tevery 52w\tnever run\tdue now",
        ]
        incident = drill_start(name="Monthly fire drill")
        call_command("drill")
        assert capsys.readouterr().out.splitlines()[0] == (
            f"Monthly fire drill\tevery 4w\tlast run 2026-11-02 09:00 UTC (#{incident.number})"
            "\tdue 2026-11-30 09:00 UTC"
        )
    with time_machine.travel(T0 + EVERY + timedelta(days=1), tick=False):
        call_command("drill")
        first = capsys.readouterr().out.splitlines()[0]
        assert first.endswith("\toverdue since 2026-11-30 09:00 UTC")


def test_drills_started_before_the_field_existed_are_named_by_their_title() -> None:
    migration = importlib.import_module("tocsin.incidents.migrations.0003_incident_drill")
    old = Incident.objects.create(
        number=1, title="[DRILL] Monthly fire drill: DB outage", is_drill=True, triggered_at=T0
    )
    other = Incident.objects.create(
        number=2, title="[DRILL] no colon here", is_drill=True, triggered_at=T0
    )
    real = Incident.objects.create(
        number=3, title="[DRILL] Looks like one: but is not", triggered_at=T0
    )
    migration.name_past_drills(apps, None)
    assert [Incident.objects.get(id=i.id).drill for i in (old, other, real)] == [
        "Monthly fire drill",
        "",
        "",
    ]


Api = Callable[..., tuple[int, Any]]


def test_the_api_lists_drills_and_starts_one(api: Api) -> None:
    call_command("config_apply", str(ALLOY))
    with time_machine.travel(T0, tick=False):
        status, body = api("get", "/drills")
        assert status == 200
        assert [d["name"] for d in body] == [
            "Monthly fire drill",
            "Annual full-scale incident simulation",
        ]
        assert body[0] == {
            "name": "Monthly fire drill",
            "every": "4w",
            "severity": "P0",
            "scenario": body[0]["scenario"],
            "last_run": None,
            "due_at": None,
            "overdue": True,
        }
        assert body[0]["scenario"].startswith("One common scenario per month")
        status, incident = api("post", "/drills", {"name": "Monthly fire drill"})
        assert status == 201
        assert incident["severity"] == "P0"
        assert incident["title"].startswith("[DRILL] Monthly fire drill")
        _, body = api("get", "/drills")
        assert body[0]["last_run"]["id"] == incident["id"]
        assert body[0]["due_at"].startswith("2026-11-30T09:00:00")
        assert body[0]["overdue"] is False


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"name": "Nope"},
            "name: no drill 'Nope' (the policy has: Monthly fire drill, "
            "Annual full-scale incident simulation)",
        ),
        ({"name": "Monthly fire drill", "service": "Nope"}, "service: no service named 'Nope'"),
    ],
)
def test_the_api_refuses_an_unknown_drill_or_service(
    api: Api, payload: dict[str, str], message: str
) -> None:
    call_command("config_apply", str(ALLOY))
    status, body = api("post", "/drills", payload)
    assert (status, body["detail"]) == (400, message)
    assert not Incident.objects.exists()


def test_the_drills_page_shows_due_drills_and_starts_one(client: Client, alice: User) -> None:
    call_command("config_apply", str(ALLOY))
    client.force_login(alice)
    page = client.get("/drills/").content.decode()
    assert "Monthly fire drill" in page
    assert "Overdue: never run" in page
    service = Service.objects.order_by("name").first()
    assert service is not None
    response = client.post(
        "/drills/start/", {"name": "Monthly fire drill", "service": service.public_id}
    )
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.public_id}/"
    assert (incident.drill, incident.service, incident.created_by) == (
        "Monthly fire drill",
        service,
        alice,
    )
    page = client.get("/drills/").content.decode()
    assert f"#{incident.number}" in page
    assert page.count("Overdue") == 1  # the annual simulation only


def test_the_drills_page_refuses_an_unknown_drill(client: Client, alice: User) -> None:
    call_command("config_apply", str(ALLOY))
    client.force_login(alice)
    response = client.post("/drills/start/", {"name": "Nope"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Incident.objects.exists()


def test_the_home_page_names_the_drills_that_are_due(client: Client, alice: User) -> None:
    call_command("config_apply", str(ALLOY))
    client.force_login(alice)
    with time_machine.travel(T0, tick=False):
        drill_start(name="Annual full-scale incident simulation")
        page = client.get("/").content.decode()
    assert "Drill due</a>:\n    Monthly fire drill</p>" in page
    with time_machine.travel(T0 + EVERY, tick=False):
        drill_start(name="Monthly fire drill")
        page = client.get("/").content.decode()
    assert "drills-due" not in page
