"""Drafts per channel and phase: configured templates first, built-in ones otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command

from tests.conftest import SHARED
from tocsin.alerts.models import Service
from tocsin.comms.defaults import CHANNELS, DEFAULTS, PHASES
from tocsin.comms.sandbox import template_check
from tocsin.comms.services import draft, drafts
from tocsin.incidents.services import incident_create
from tocsin.policy.models import ConfigSection

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@pytest.fixture
def incident(db: None):  # type: ignore[no-untyped-def]
    call_command("config_apply", str(SHARED / "examples" / "tocsin.yaml"))
    with time_machine.travel(T0, tick=False):
        return incident_create(
            title="Checkout down", severity="P1", service=Service.objects.get(name="Checkout API")
        )


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_built_in_template_compiles(key: tuple[str, str]) -> None:
    subject, body = DEFAULTS[key]
    template_check(subject)
    template_check(body)


def test_every_channel_has_a_declared_template() -> None:
    assert {c for c, p in DEFAULTS if p == "declared"} == set(CHANNELS)
    assert {p for c, p in DEFAULTS if c == "chat"} == set(PHASES)


def test_the_configured_slack_template_fills_in_the_incident(incident) -> None:  # type: ignore[no-untyped-def]
    d = draft(incident=incident, channel="chat", phase="declared")
    assert d.template == "slack-initial"
    assert "Severity: P1" in d.body
    assert "Summary: Checkout down" in d.body
    assert "Incident Commander: Dave Kim" in d.body
    assert "Impact: unknown" in d.body


def test_times_are_shown_in_the_audience_zone(incident) -> None:  # type: ignore[no-untyped-def]
    d = draft(incident=incident, channel="email", phase="declared", zone="Europe/Berlin")
    assert "2026-11-28 09:00 CET" in d.body


def test_a_broken_configured_template_falls_back_and_says_why(incident) -> None:  # type: ignore[no-untyped-def]
    ConfigSection.objects.filter(name="templates").update(
        data=[
            {
                "id": "bad",
                "channel": "chat",
                "phase": "declared",
                "body": "{{ incident.title | nosuchfilter }}",
            }
        ]
    )
    d = draft(incident=incident, channel="chat", phase="declared")
    assert d.template == "built-in"
    assert "bad" in d.error
    assert "INCIDENT DECLARED" in d.body


def test_drafts_for_every_channel_of_a_phase(incident) -> None:  # type: ignore[no-untyped-def]
    out = drafts(incident=incident, phase="resolved", channels=CHANNELS, message="")
    assert [d.channel for d in out] == list(CHANNELS)
    bodies = {d.channel: d.body for d in out}
    assert all(bodies[c] for c in ("chat", "email", "status_page"))
    assert bodies["bridge"] == ""  # a bridge invitation belongs to the declaration only
