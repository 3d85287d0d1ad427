"""Paging edge cases: severity changes, direct pages and their fallbacks, acknowledgements
during a send pass, "escalate now" past the last level, restarts after an acknowledgement
timeout, and what the timeline and bundles say."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.escalation.test_paging import at, checkout, recipients, team
from tests.factories import person, policy, role
from tocsin.accounts.models import ContactMethod, User
from tocsin.alerts.models import Service
from tocsin.engine.models import Timer
from tocsin.engine.worker import run_once
from tocsin.escalation.services import escalation_escalate_now, escalation_page_directly
from tocsin.incidents.models import Incident
from tocsin.incidents.services import (
    incident_acknowledge,
    incident_create,
    incident_resolve,
    incident_set_severity,
)
from tocsin.notifications.models import Delivery
from tocsin.notifications.transports import TRANSPORTS, TransportError

pytestmark = pytest.mark.django_db
# The team of tests/escalation/test_paging.py: primary, secondary, Engineering Manager.
__all__ = ["checkout", "team"]


# ---- severity changes keep the escalation ------------------------------------------------------


def test_raising_severity_while_triggered_keeps_escalating(checkout: Service) -> None:
    with at(0):
        incident = incident_create(title="Checkout down", severity="P3", service=checkout)
        run_once()
    assert recipients() == ["alice@example.com"]
    with at(5):
        incident_set_severity(incident=incident, severity="P1", actor_label="alertmanager")
        run_once()
    with at(15):
        run_once()
    with at(30):
        run_once()
    # The raise re-plans the severity's clocks; the escalation keeps its times: the secondary
    # (bob) at 15 min and the manager (carol) at 30 min.
    assert recipients() == ["alice@example.com", "bob@example.com", "carol@example.com"]


# ---- direct pages (kind "escalate") --------------------------------------------------------


class Refusing:
    def send(self, target: str, message: object) -> None:
        raise TransportError("webhook answered 410", permanent=True)


def test_fallback_of_a_direct_page_after_acknowledge_is_sent(
    team: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A responder acknowledges, then pages an expert directly (allowed while acknowledged).
    The expert's webhook fails for good: the fallback to their e-mail must still go out."""
    frank = person("frank@example.com", rules=[(0, "webhook", "https://hooks.example.com/f")])
    ContactMethod.objects.create(
        user=frank, name="mail", kind="email", target="frank@example.com", position=5
    )
    monkeypatch.setitem(TRANSPORTS, "webhook", Refusing())
    with at(0):
        incident = incident_create(title="DB corrupt", service=None)
        incident = incident_acknowledge(incident=incident, by=team["alice"])
        escalation_page_directly(incident=incident, people=[frank], by=team["alice"])
        run_once()
        run_once()
    fallback = Delivery.objects.get(kind="fallback")
    assert (fallback.status, fallback.error) == ("sent", ""), (fallback.status, fallback.error)
    assert recipients() == ["frank@example.com"]


def test_a_direct_pages_later_rule_is_not_sent_after_resolve(team: dict[str, User]) -> None:
    dave = person(
        "dave@example.com",
        rules=[(0, "email", "dave@example.com"), (120, "email", "dave-sms@example.com")],
    )
    with at(0):
        incident = incident_create(title="Search slow", service=None)
        escalation_page_directly(incident=incident, people=[dave], by=team["alice"])
        run_once()
    with at(1):
        incident_resolve(incident=incident, by=team["alice"])
    with at(3):
        run_once()
    # Resolving stops everything: dave's 2-minute rule is not sent.
    assert recipients() == ["dave@example.com"]


# ---- CLI escalate ----------------------------------------------------------------------------


def test_cli_escalate_on_an_acknowledged_incident_is_refused_and_the_timeout_stands(
    team: dict[str, User],
) -> None:
    p = policy(
        "Timeout", [([{"user": "bob@example.com"}], 0), ([{"user": "carol@example.com"}], 0)]
    )
    p.ack_timeout_seconds = 30 * 60
    p.save()
    service = Service.objects.create(name="Timeout svc", escalation_policy="Timeout")
    with at(0):
        incident = incident_create(title="Disk filling", service=service)
        run_once()
    with at(5):
        incident_acknowledge(incident=incident, by=team["bob"])
        with pytest.raises(CommandError, match="is acknowledged: the policy no longer pages"):
            call_command("incident", "escalate", str(incident.number), "--message", "need carol")
        run_once()
    with at(40):
        run_once()
        run_once()
    incident.refresh_from_db()
    # As the API and the UI: refused, and the acknowledgement timeout still fires at 35 min.
    assert incident.timeline.filter(kind="unacknowledged").exists()
    assert not incident.timeline.filter(kind="escalate_requested").exists()


def test_cli_escalate_to_role_with_only_inactive_members_does_not_escalate_policy(
    checkout: Service, team: dict[str, User]
) -> None:
    gone = person("gone@example.com")
    gone.is_active = False
    gone.save()
    role("DBA", [gone])
    with at(0):
        incident = incident_create(title="Checkout down", service=checkout)
        run_once()
    with at(1):
        with pytest.raises(CommandError, match="--to-role: no role 'DBA' with active members"):
            call_command("incident", "escalate", str(incident.number), "--to-role", "DBA")
        run_once()
    # Not the policy's next level instead (bob would be paged 14 minutes early).
    assert recipients() == ["alice@example.com"]
    assert not incident.timeline.filter(kind="escalate_requested").exists()


# ---- sender: status read before the claim ----------------------------------------------------


def test_a_page_is_not_sent_after_an_acknowledgement_during_the_same_send_pass(
    team: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Level 1 pages two people. While the first message is being handed to a slow SMTP
    server, carol acknowledges (one-click link). The second page, claimed afterwards, must be
    cancelled: the sender checks a status it read before the first send."""
    dave = person("dave@example.com")
    role("Leads", [team["carol"], dave])
    policy("Leads", [([{"role": "Leads"}], 0)])
    service = Service.objects.create(name="Leads svc", escalation_policy="Leads")
    sent: list[str] = []

    class SlowMail:
        def send(self, target: str, message: object) -> None:
            sent.append(target)
            if len(sent) == 1:  # someone acknowledges while this send is in progress
                incident_acknowledge(incident=Incident.objects.get(), by=team["carol"])

    monkeypatch.setitem(TRANSPORTS, "email", SlowMail())
    with at(0):
        incident_create(title="Leads down", service=service)
        run_once()
    statuses = sorted(Delivery.objects.values_list("target", "status"))
    assert len(sent) == 1, (sent, statuses)


# ---- escalate now on the last level ----------------------------------------------------------


def test_escalate_now_on_the_last_level_with_repeats_does_not_delay_the_next_pass(
    team: dict[str, User],
) -> None:
    policy(
        "Two levels",
        [([{"user": "bob@example.com"}], 10 * 60), ([{"user": "carol@example.com"}], 10 * 60)],
        repeat=2,
    )
    service = Service.objects.create(name="Two svc", escalation_policy="Two levels")
    with at(0):
        incident = incident_create(title="x", service=service)
        run_once()
    with at(10):
        run_once()  # carol, the last level; the next pass (bob) is due at 20
    assert recipients() == ["bob@example.com", "carol@example.com"]
    with at(18):
        escalation_escalate_now(incident=incident, by=team["alice"], message="nobody answers")
        run_once()
    with at(20):
        run_once()
    # "Escalate now" past the last level starts the next pass (bob) at once; carol is not paged
    # again, and nothing is left waiting for 28.
    assert recipients() == ["bob@example.com", "carol@example.com", "bob@example.com"]


# ---- acknowledgement timeout restart ---------------------------------------------------------


def test_an_ack_timeout_restart_runs_the_policy_with_its_repeats(team: dict[str, User]) -> None:
    p = policy("Timeout", [([{"user": "bob@example.com"}], 10 * 60)], repeat=1)
    p.ack_timeout_seconds = 30 * 60
    p.save()
    service = Service.objects.create(name="Timeout svc", escalation_policy="Timeout")
    with at(0):
        incident = incident_create(title="Disk filling", service=service)
        run_once()
    with at(1):
        incident_acknowledge(incident=incident, by=team["bob"])
    with at(31):
        run_once()
        run_once()
    assert recipients() == ["bob@example.com", "bob@example.com"]
    with at(41):  # the policy's repeat: one more pass 10 minutes later
        run_once()
    with at(60):
        run_once()
    # The restart runs the whole policy again: bob at 31 and, with repeat 1, at 41.
    assert recipients() == ["bob@example.com"] * 3


# ---- timeline says "Paged X" although nothing was sent ---------------------------------------


def test_the_timeline_does_not_claim_a_person_was_paged_when_no_delivery_exists(
    team: dict[str, User],
) -> None:
    frank = person("frank@example.com", rules=[(0, "webhook", "https://hooks.example.com/f")])
    ContactMethod.objects.filter(user=frank).update(status=ContactMethod.Status.FAILING)
    policy("Frank", [([{"user": frank.email}], 15 * 60), ([{"user": "bob@example.com"}], 0)])
    service = Service.objects.create(name="Frank svc", escalation_policy="Frank")
    with at(0):
        incident = incident_create(title="x", service=service)
        run_once()
    event = incident.timeline.get(kind="paged")
    assert not Delivery.objects.filter(user=frank).exists()
    assert event.message == "Level 1 reached nobody: no working contact method for Frank"


# ---- a bundle counts one incident several times ----------------------------------------------


def test_a_bundle_of_pages_for_one_incident_says_one_incident(team: dict[str, User]) -> None:
    """Bob is paged by the policy and, at the same moment, directly by a responder: one
    message carries both pages of the one incident."""
    from tocsin.notifications.services import page_user

    with at(0):
        incident = incident_create(title="Cache down")
        page_user(incident=incident, user=team["bob"], step_key="0:0:0", reason="level 1")
        escalation_page_directly(incident=incident, people=[team["bob"]], by=team["alice"])
        run_once()
    # One incident: the plain page, not a bundle of one.
    [message] = mail.outbox
    assert message.subject == "[Tocsin] #1 Cache down"


def test_cli_escalate_to_a_deactivated_user_is_refused(team: dict[str, User]) -> None:
    gone = person("gone@example.com")
    gone.is_active = False
    gone.save()
    with at(0):
        incident = incident_create(title="x")
        with pytest.raises(CommandError, match="--to-user: no active person"):
            call_command("incident", "escalate", str(incident.number), "--to-user", gone.email)
        run_once()
    assert recipients() == []


def test_changing_severity_while_acknowledged_keeps_the_ack_timeout(team: dict[str, User]) -> None:
    p = policy("Timeout", [([{"user": "bob@example.com"}], 0)])
    p.ack_timeout_seconds = 30 * 60
    p.save()
    service = Service.objects.create(name="Timeout svc", escalation_policy="Timeout")
    with at(0):
        incident = incident_create(title="Disk filling", severity="P3", service=service)
        run_once()
    with at(5):
        incident = incident_acknowledge(incident=incident, by=team["bob"])
        incident_set_severity(incident=incident, severity="P2", by=team["bob"])
    with at(40):
        run_once()
        run_once()
    incident.refresh_from_db()
    # The severity change does not retire the acknowledgement timeout: un-acknowledged at 35.
    assert incident.status == "triggered"
    assert recipients() == ["bob@example.com", "bob@example.com"]


# ---- what already held (kept as regression tests) -------------------------------------------


def test_ack_timeout_then_reack_times_out_again(team: dict[str, User]) -> None:
    p = policy("Timeout", [([{"user": "bob@example.com"}], 0)])
    p.ack_timeout_seconds = 30 * 60
    p.save()
    service = Service.objects.create(name="Timeout svc", escalation_policy="Timeout")
    with at(0):
        incident = incident_create(title="Disk filling", service=service)
        run_once()
    with at(5):
        incident_acknowledge(incident=incident, by=team["bob"])
    with at(35):
        run_once()
        run_once()
    with at(36):
        incident_acknowledge(incident=incident, by=team["bob"])
    with at(66):
        run_once()
        run_once()
    incident.refresh_from_db()
    assert incident.status == "triggered"
    assert recipients() == ["bob@example.com"] * 3
    assert incident.timeline.filter(kind="unacknowledged").count() == 2


def test_inactive_role_member_and_person_in_two_levels(team: dict[str, User]) -> None:
    gone = person("gone@example.com")
    gone.is_active = False
    gone.save()
    role("Ops", [team["bob"], gone])
    policy("Ops", [([{"role": "Ops"}, {"user": "bob@example.com"}], 60), ([{"role": "Ops"}], 0)])
    service = Service.objects.create(name="Ops svc", escalation_policy="Ops")
    with at(0):
        incident_create(title="x", service=service)
        run_once()
    with at(1):
        run_once()
    assert recipients() == ["bob@example.com", "bob@example.com"]


def test_escalate_now_last_level_repeat_0_repages_last_level(team: dict[str, User]) -> None:
    policy("One", [([{"user": "bob@example.com"}], 0)])
    service = Service.objects.create(name="One svc", escalation_policy="One")
    with at(0):
        incident = incident_create(title="x", service=service)
        run_once()
    with at(10):
        escalation_escalate_now(incident=incident, by=team["alice"])
        run_once()
    with at(60):
        run_once()
    assert recipients() == ["bob@example.com", "bob@example.com"]


def test_step_run_by_two_workers_pages_once(checkout: Service) -> None:
    from tocsin.engine.worker import run_timer

    with at(0):
        incident_create(title="Checkout down", service=checkout)
        timer = Timer.objects.get(kind="escalation.step")
        copy = Timer.objects.get(pk=timer.pk)
        assert run_timer(timer) is True
        assert run_timer(copy) is False
        run_once()
    assert recipients() == ["alice@example.com"]


def test_a_transport_that_raises_does_not_stop_the_pass(
    team: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        def send(self, target: str, message: object) -> None:
            raise ValueError("a bug in the transport")

    frank = person("frank@example.com", rules=[(0, "webhook", "https://hooks.example.com/f")])
    monkeypatch.setitem(TRANSPORTS, "webhook", Broken())
    policy("Both", [([{"user": frank.email}, {"user": "bob@example.com"}], 0)])
    service = Service.objects.create(name="Both svc", escalation_policy="Both")
    with at(0):
        incident_create(title="x", service=service)
        run_once()
        run_once()
    # Bob's page went out; Frank's is an error like any other: retried later, not re-claimed
    # every lease nor crashing the pass.
    assert recipients() == ["bob@example.com"]
    hook = Delivery.objects.get(transport="webhook")
    assert (hook.status, hook.attempts) == ("pending", 1)
    assert hook.error == "webhook: ValueError: a bug in the transport"


def test_a_slow_send_is_not_claimed_and_sent_again_by_another_worker(
    team: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.notifications.sender import deliveries_send_due
    from tocsin.notifications.services import page_user

    sent: list[str] = []

    class Slow:
        def send(self, target: str, message: object) -> None:
            sent.append(target)
            if len(sent) == 1:
                # Still waiting on a slow SMTP server two minutes later: another worker's pass.
                with at(2):
                    deliveries_send_due()

    monkeypatch.setitem(TRANSPORTS, "email", Slow())
    with at(0):
        incident = incident_create(title="db down")
        page_user(incident=incident, user=team["bob"], step_key="s", reason="test")
        deliveries_send_due()
    assert sent == ["bob@example.com"]
    assert Delivery.objects.get().status == "sent"
