"""Web fixtures: a signed-in browser for alice, incidents with alerts, and a paging rota."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.conftest import SHARED
from tests.factories import person, policy, role, weekly_schedule
from tocsin.accounts.models import User
from tocsin.alerts.models import Alert, Service
from tocsin.incidents.models import Incident
from tocsin.incidents.services import incident_acknowledge, incident_create, incident_resolve

HTMX = {"HX-Request": "true"}

MakeIncident = Callable[..., Incident]

# Tuesday 2026-11-24 08:00 UTC, 03:00 in New York: the fourth week of rotations that started
# Monday 2026-11-02, so primary (dana, erin, frank) is dana again and secondary is erin.
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    """Hash test passwords with MD5: argon2 costs ~0.4 s per user and proves nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def browser(client: Client, alice: User) -> Client:
    """A test client signed in as alice."""
    client.force_login(alice)
    return client


@pytest.fixture
def make_incident(db: None) -> MakeIncident:
    """Create an incident ``minutes_ago`` in a given status, with ``alerts`` alerts."""

    def make(
        title: str = "Checkout errors",
        *,
        severity: str = "P2",
        service: Service | None = None,
        status: str = Incident.Status.TRIGGERED,
        minutes_ago: int = 5,
        alerts: int = 0,
        by: User | None = None,
    ) -> Incident:
        at = timezone.now() - timedelta(minutes=minutes_ago)
        incident = incident_create(
            title=title, severity=severity, service=service, at=at, by=by, actor_label="test"
        )
        for n in range(alerts):
            assert service is not None, "alerts need a service"
            _alert(incident, service, n, at)
        if status in (Incident.Status.ACKNOWLEDGED, Incident.Status.RESOLVED):
            incident_acknowledge(incident=incident, actor_label="test")
        if status == Incident.Status.RESOLVED:
            incident_resolve(incident=incident, actor_label="test")
        incident.refresh_from_db()
        return incident

    return make


def _alert(incident: Incident, service: Service, n: int, at: datetime, **fields: Any) -> Alert:
    integration = service.integrations.get(kind="alertmanager")
    values: dict[str, Any] = {
        "integration": integration,
        "service": service,
        "incident": incident,
        "fingerprint": f"fp-{incident.number}-{n}",
        "title": f"HighErrorRate {n}",
        "labels": {"alertname": "HighErrorRate", "instance": f"web-{n}"},
        "count": n + 1,
        "first_seen": at,
        "last_seen": at + timedelta(minutes=n),
        **fields,
    }
    return Alert.objects.create(**values)


@pytest.fixture
def rota(db: None) -> dict[str, User]:
    """Two weekly schedules in New York, a manager role, and a three-level policy over them."""
    people = {n: person(f"{n}@example.com") for n in ("dana", "erin", "frank", "carol")}
    dana, erin, frank = people["dana"], people["erin"], people["frank"]
    weekly_schedule("Platform primary", [dana, erin, frank])
    weekly_schedule("Platform secondary", [erin, frank, dana])
    role("Engineering Manager", [people["carol"]])
    policy(
        "Platform default",
        [
            ([{"schedule": "Platform primary"}], 15 * 60),
            ([{"schedule": "Platform secondary"}], 15 * 60),
            ([{"role": "Engineering Manager"}], 0),
        ],
    )
    return people


# The shared example configuration with somewhere for updates to go (see tests/comms).
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
# Saturday 2026-11-28 03:00 in New York: Dave commands that week (Incident commanders rota).
SAT = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@pytest.fixture
def example_config(db: None, alice: User, bob: User, tmp_path: Any) -> None:
    """The shared example configuration (people, schedules, P1-P4, checklists) plus comms."""
    config = tmp_path / "tocsin.yaml"
    config.write_text((SHARED / "examples" / "tocsin.yaml").read_text() + COMMS)
    call_command("config_apply", str(config))


@pytest.fixture
def declare(example_config: None) -> Callable[..., Incident]:
    """Declare an incident on Checkout API under the example policy, at ``SAT`` by default."""

    def make(severity: str = "P1", *, at: datetime = SAT, by: User | None = None) -> Incident:
        with time_machine.travel(at, tick=False):
            return incident_create(
                title="Checkout down",
                severity=severity,
                service=Service.objects.get(name="Checkout API"),
                by=by,
            )

    return make
