"""What reaches the public status page: never a drill, a security incident only when a
responder chose to and wrote a public title, and a reopened incident is open again there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from tests.conftest import SHARED
from tocsin.alerts.models import Service
from tocsin.comms.services import Outgoing, comms_send
from tocsin.incidents.models import Incident
from tocsin.incidents.services import (
    checklist_check,
    incident_create,
    incident_reopen,
    incident_resolve,
    incident_update_details,
)
from tocsin.statuspage.models import Component, ComponentStatus, PublicIncident
from tocsin.web.process import default_channels

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@pytest.fixture
def checkout(db: None) -> Service:
    call_command("config_apply", str(SHARED / "examples" / "tocsin.yaml"))
    return Service.objects.get(name="Checkout API")


@pytest.fixture
def component(checkout: Service) -> Component:
    from tocsin.policy.config.apply_statuspage import apply_components
    from tocsin.policy.config.schema import Component as Spec

    apply_components([Spec(name="Checkout")], prune=False)
    return Component.objects.get(name="Checkout")


def _p1(checkout: Service, **details: bool) -> Incident:
    incident = incident_create(title="Credential leak in prod", severity="P1", service=checkout)
    return incident_update_details(incident=incident, **details) if details else incident


def test_a_p1_ticks_the_status_page_but_not_for_a_drill_or_a_security_incident(
    checkout: Service,
) -> None:
    with time_machine.travel(T0, tick=False):
        assert "status_page" in default_channels(incident=_p1(checkout))
        assert "status_page" not in default_channels(incident=_p1(checkout, is_drill=True))
        assert "status_page" not in default_channels(incident=_p1(checkout, is_security=True))


def test_a_drill_is_never_published(checkout: Service) -> None:
    with time_machine.travel(T0, tick=False):
        incident = _p1(checkout, is_drill=True)
        result = comms_send(
            incident=incident,
            phase="declared",
            messages=[
                Outgoing("chat", "", "drill"),
                Outgoing("status_page", "Checkout errors", "Investigating"),
            ],
        )
    assert PublicIncident.objects.count() == 0
    assert result.withheld == ["status page withheld: a drill is never published"]
    assert not incident.updates.filter(public=True).exists()
    assert "a drill is never published" in incident.timeline.get(kind="comms_sent").message


def test_a_security_incident_is_never_published_under_its_internal_title(
    checkout: Service,
) -> None:
    with time_machine.travel(T0, tick=False):
        incident = _p1(checkout, is_security=True)
        for subject in ("", "Credential leak in prod"):
            result = comms_send(
                incident=incident,
                phase="declared",
                messages=[Outgoing("status_page", subject, "Investigating")],
            )
            assert result.withheld and result.deliveries == 0
    assert PublicIncident.objects.count() == 0


def test_a_security_incident_is_published_when_chosen_with_a_public_title(
    checkout: Service,
) -> None:
    with time_machine.travel(T0, tick=False):
        incident = _p1(checkout, is_security=True)
        comms_send(
            incident=incident,
            phase="declared",
            messages=[Outgoing("status_page", "Login issues", "We are investigating.")],
        )
    assert list(PublicIncident.objects.values_list("name", flat=True)) == ["Login issues"]


def test_an_update_after_a_reopen_opens_the_public_incident_again(
    checkout: Service, component: Component
) -> None:
    with time_machine.travel(T0, tick=False):
        incident = incident_create(title="Checkout down", severity="P1", service=checkout)
        comms_send(
            incident=incident,
            phase="declared",
            messages=[Outgoing("status_page", "Checkout errors", "Investigating")],
        )
    for item in incident.checklist.all():
        checklist_check(item=item, by=None)
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        incident = incident_resolve(incident=incident)
        comms_send(
            incident=incident, phase="resolved", messages=[Outgoing("status_page", "", "Fixed")]
        )
    component.refresh_from_db()
    assert component.status == ComponentStatus.OPERATIONAL
    with time_machine.travel(T0 + timedelta(minutes=40), tick=False):
        incident = incident_reopen(incident=incident, message="errors are back")
        comms_send(
            incident=incident,
            phase="update",
            messages=[Outgoing("status_page", "", "Errors have returned, investigating")],
        )
    public = PublicIncident.objects.get()
    latest = public.updates.order_by("-at", "-id").first()
    assert latest is not None
    component.refresh_from_db()
    assert (public.status, latest.status, component.status) == (
        "investigating",
        "investigating",
        "partial_outage",
    )
