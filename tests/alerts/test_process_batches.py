"""Alert processing run set-based in a worker batch writes the same rows as one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command

from tests.conftest import SHARED
from tests.factories import rerun_one_by_one
from tocsin.alerts import services as alerts
from tocsin.alerts.models import Alert, Integration, Service
from tocsin.alerts.sources.base import NormalizedAlert
from tocsin.engine import handlers
from tocsin.engine.memo import batch_memo
from tocsin.engine.models import Timer
from tocsin.engine.worker import run_timers
from tocsin.escalation.models import EscalationRun
from tocsin.incidents.models import ChecklistItem, Incident, IncidentRole, TimelineEvent
from tocsin.notifications.models import Delivery
from tocsin.policy.models import ConfigSection

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture
def checkout(db: None) -> Service:
    """The shared example policy: a commander schedule, checklists, clocks, escalation."""
    call_command("config_apply", str(SHARED / "examples" / "tocsin.yaml"))
    # A bridge that names the commander: rendered when the incident starts, after the
    # commander is proposed from the schedule.
    ConfigSection.objects.update_or_create(
        name="comms",
        defaults={
            "data": {
                "bridge_url": "https://meet.example/{{ incident.number }}"
                "?host={{ incident.commander }}",
                "chat_channel": "#inc-{{ incident.number }}",
            }
        },
    )
    return Service.objects.get(name="Checkout API")


@pytest.fixture
def batch_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the set-based runs (the group sizes) so a test knows which path ran."""
    sizes: list[int] = []

    def spy(timers: list[Timer]) -> None:
        sizes.append(len(timers))
        alerts.alerts_process([int(t.payload["alert"]) for t in timers])

    monkeypatch.setitem(handlers.BATCH_HANDLERS, "alert.process", spy)
    return sizes


def fire(
    service: Service, key: str, *, status: str = "firing", severity: str = "error", group: str = ""
) -> None:
    integration = Integration.objects.get(service=service, kind="pagerduty")
    alerts.alerts_ingest(
        integration=integration,
        alerts=[
            NormalizedAlert(
                fingerprint=key,
                status="resolved" if status == "resolved" else "firing",
                title=f"{key} is failing",
                group_key=group,
                source_severity=severity,
                acknowledge=status == "acknowledge",
            )
        ],
    )


def story(service: Service) -> dict[str, list[Any]]:
    """New alerts in new groups and in a group opened earlier, two of one new group (the second
    more severe: it raises the incident), a resolve and an acknowledge between them, and an
    alert that fired and resolved before the worker saw it."""
    with time_machine.travel(T0, tick=False):
        fire(service, "earlier", group="db")
        run_timers(budget=10.0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        fire(service, "a")
        fire(service, "b", group="web")
        fire(service, "c", group="db")  # joins the incident opened earlier
        fire(service, "d", group="web", severity="critical")  # raises web to P1
        fire(service, "earlier", status="resolved")  # db stays open: c still fires
        fire(service, "e")
        fire(service, "e", status="acknowledge")
        fire(service, "f", group="blip")
        fire(service, "f", status="resolved")  # fired and resolved unseen: opened and resolved
        fire(service, "g", group="web")
        run_timers(budget=10.0)
    incidents = Incident.objects.all()
    return {
        "incidents": sorted(
            incidents.values_list(
                "number", "title", "severity", "status", "group_key", "bridge_url", "chat_channel"
            )
        ),
        "alerts": sorted(Alert.objects.values_list("fingerprint", "incident__number", "status")),
        "events": sorted(
            (
                # An alert's public id is random: compare events by the rest of their data.
                (*rest, {k: v for k, v in data.items() if k != "alert"})
                for *rest, data in TimelineEvent.objects.values_list(
                    "incident__number", "kind", "at", "old", "new", "message", "data"
                )
            ),
            key=repr,
        ),
        "timers": sorted(
            Timer.objects.exclude(kind="alert.process").values_list(
                "kind", "incident__number", "due_at", "payload", "done_at"
            ),
            key=repr,
        ),
        "runs": sorted(EscalationRun.objects.values_list("incident__number", "level", "iteration")),
        "roles": sorted(
            IncidentRole.objects.values_list("incident__number", "role", "user__email")
        ),
        "checklist": sorted(
            ChecklistItem.objects.values_list("incident__number", "checklist", "position", "due_at")
        ),
        "pages": sorted(Delivery.objects.values_list("incident__number", "user__email", "due_at")),
    }


def test_a_batch_of_alerts_writes_what_alerts_one_by_one_write(
    checkout: Service, batch_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    together = story(checkout)
    assert batch_calls == [1, 10]  # each minute's timers went through one set-based call
    by_group = {row[4]: row for row in together["incidents"]}
    assert by_group["web"][2] == "P1"  # raised by d
    assert by_group["db"][3] == "triggered" and by_group["blip"][3] == "resolved"
    assert by_group["alert:e"][3] == "acknowledged"
    assert by_group["web"][5].startswith("https://meet.example/") and "host=" in by_group["web"][5]
    assert not by_group["web"][5].endswith("host="), "the commander is named in the bridge"
    assert len(together["incidents"]) == 5 and together["checklist"] and together["pages"]

    rerun_one_by_one(monkeypatch, (Delivery, TimelineEvent, Timer, EscalationRun, Alert, Incident))
    batch_calls.clear()
    one_by_one = story(checkout)
    assert batch_calls == []

    assert together == one_by_one


def test_many_new_alerts_open_their_incidents_with_a_few_statements(
    checkout: Service, django_assert_max_num_queries: Any
) -> None:
    with time_machine.travel(T0, tick=False):
        for n in range(40):
            fire(checkout, f"k{n}")
        ids = list(Alert.objects.values_list("id", flat=True))
        # Reads of the policy, one INSERT per kind of row, and per incident what it alone
        # has: its commander, the bridge rendered with them, its update clock. Under six
        # statements an incident (one by one: 41 with the batch's memo, 55 without).
        with django_assert_max_num_queries(40 * 6), batch_memo():
            alerts.alerts_process(ids)
    assert Incident.objects.count() == 40
    assert set(Incident.objects.values_list("number", flat=True)) == set(range(1, 41))
    assert TimelineEvent.objects.filter(kind="alert_added").count() == 40
    assert EscalationRun.objects.count() == 40
    assert not Alert.objects.filter(incident__isnull=True).exists()


def test_a_group_opened_meanwhile_fails_the_batch_and_its_alerts_run_one_by_one(
    checkout: Service, batch_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch reads no open incident for the group, but one is opened before its INSERT (a
    second worker on PostgreSQL): the INSERT fails on the one-open-incident-per-group rule,
    the batch's savepoint rolls back everything it wrote, and the alerts are grouped one by
    one into one incident."""
    with time_machine.travel(T0, tick=False):
        fire(checkout, "a", group="web")
        fire(checkout, "b", group="web")
        calls: list[int] = []
        opening = alerts.incidents_open

        def racing(openings: list[Any]) -> list[Incident]:
            calls.append(len(openings))
            if len(calls) == 1:
                opening(openings)  # the other worker's incident for the same group
            return opening(openings)

        monkeypatch.setattr(alerts, "incidents_open", racing)
        assert run_timers(budget=10.0) == 2
    assert batch_calls == [2] and calls == [1]  # tried together once; its INSERT failed
    incident = Incident.objects.get()
    assert set(Alert.objects.values_list("incident", flat=True)) == {incident.pk}
    kinds = sorted(incident.timeline.values_list("kind", flat=True))
    assert kinds.count("triggered") == 1 and kinds.count("alert_added") == 2
    assert EscalationRun.objects.count() == 1
    assert not Timer.objects.filter(kind="alert.process", done_at__isnull=True).exists()
