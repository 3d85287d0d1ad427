"""Posting an update: drafts go to chat and stakeholder e-mail by severity, the cadence resets,
and the bridge URL and chat channel are filled in when the incident is declared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from tests.conftest import SHARED
from tocsin.alerts.models import Service
from tocsin.comms.services import Outgoing, comms_send, draft
from tocsin.engine.worker import run_once
from tocsin.incidents.models import Incident
from tocsin.incidents.services import incident_create
from tocsin.notifications.models import Delivery
from tocsin.notifications.transports import TRANSPORTS

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

COMMS = """
comms:
  chat:
    - {name: incidents, apprise: "json://chat.example.com/hook", severities: [P1, P2]}
    - {name: everything, apprise: "json://chat.example.com/all"}
  stakeholders:
    - {name: leadership, emails: [ceo@example.com, cto@example.com], severities: [P1]}
  bridge_url: "https://meet.example.com/incident-{{ incident.number }}"
  chat_channel: "#inc-{{ incident.number }}-{{ incident.severity | lower }}"
"""


class Chat:
    """Records chat-channel messages (people's own chat pages are not what these tests read)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, target: str, message: object) -> None:
        if target.startswith("json://chat.example.com/"):
            self.sent.append((target, message.text))  # type: ignore[attr-defined]


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch) -> Chat:
    fake = Chat()
    monkeypatch.setitem(TRANSPORTS, "apprise", fake)  # the network edge
    return fake


def declare(tmp_path: Path, severity: str = "P1") -> Incident:
    config = tmp_path / "tocsin.yaml"
    config.write_text((SHARED / "examples" / "tocsin.yaml").read_text() + COMMS)
    call_command("config_apply", str(config))
    with time_machine.travel(T0, tick=False):
        incident = incident_create(
            title="Checkout down",
            severity=severity,
            service=Service.objects.get(name="Checkout API"),
        )
        run_once()
    mail.outbox.clear()
    return incident


def test_bridge_and_channel_are_filled_when_declared(tmp_path: Path) -> None:
    incident = declare(tmp_path)
    incident.refresh_from_db()
    assert incident.bridge_url == "https://meet.example.com/incident-1"
    assert incident.chat_channel == "#inc-1-p1"


def test_an_update_goes_to_chat_and_p1_stakeholders(tmp_path: Path, chat: Chat) -> None:
    incident = declare(tmp_path)
    body = draft(incident=incident, channel="chat", phase="update", message="Rolled back").body
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        result = comms_send(
            incident=incident,
            phase="update",
            messages=[
                Outgoing("chat", "", body),
                Outgoing("email", "[Incident update] Checkout down", "Rolled back at 03:08."),
            ],
        )
        run_once()
    assert result.deliveries == 4
    assert sorted(t for t, _ in chat.sent) == [
        "json://chat.example.com/all",
        "json://chat.example.com/hook",
    ]
    assert "Rolled back" in chat.sent[0][1]
    updates = [m for m in mail.outbox if m.subject == "[Incident update] Checkout down"]
    # (dave, the commander, also got the 5-minute response-target breach notice)
    assert sorted(m.to[0] for m in updates) == ["ceo@example.com", "cto@example.com"]
    incident.refresh_from_db()
    assert incident.last_update_at == T0 + timedelta(minutes=10)
    assert incident.next_update_due == T0 + timedelta(minutes=25)
    assert incident.timeline.filter(kind="comms_sent").exists()


def test_a_p3_update_skips_the_p1_only_audiences(tmp_path: Path, chat: Chat) -> None:
    incident = declare(tmp_path, severity="P3")
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        result = comms_send(
            incident=incident,
            phase="update",
            messages=[Outgoing("chat", "", "update"), Outgoing("email", "s", "update")],
        )
        run_once()
    assert [t for t, _ in chat.sent] == ["json://chat.example.com/all"]
    assert [m for m in mail.outbox if m.subject == "s"] == []
    assert result.skipped == ["email"]
    assert "nowhere configured for email" in incident.timeline.get(kind="comms_sent").message


def test_updates_are_not_bundled_with_each_other(tmp_path: Path, chat: Chat) -> None:
    incident = declare(tmp_path)
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        comms_send(incident=incident, phase="update", messages=[Outgoing("chat", "", "one")])
        comms_send(incident=incident, phase="update", messages=[Outgoing("chat", "", "two")])
        run_once()
    assert sorted(text for _, text in chat.sent) == ["one", "one", "two", "two"]
    assert Delivery.objects.filter(kind="update", status="sent").count() == 4


def test_status_page_drafts_open_and_then_update_the_public_incident(
    tmp_path: Path, chat: Chat
) -> None:
    from tocsin.statuspage.models import PublicIncident

    incident = declare(tmp_path)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        comms_send(
            incident=incident,
            phase="declared",
            messages=[
                Outgoing("status_page", "Investigating checkout errors", "We are investigating.")
            ],
        )
    public = PublicIncident.objects.get(incident=incident)
    assert (public.name, public.status) == ("Investigating checkout errors", "investigating")
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        comms_send(
            incident=incident,
            phase="identified",
            messages=[Outgoing("status_page", "", "We found the cause: a bad deploy.")],
        )
    public.refresh_from_db()
    assert public.status == "identified"
    assert public.updates.count() == 2
    assert incident.updates.filter(public=True).count() == 2
