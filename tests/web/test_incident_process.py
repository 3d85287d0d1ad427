"""Running the process from the incident page: the phase bar and its gates, severity, clocks,
details, roles and checklists, by plain POST and by htmx."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from tocsin.accounts.models import User
from tocsin.incidents.models import ChecklistItem, Incident, IncidentRole, TimelineEvent

from .conftest import HTMX, SAT

Declare = Callable[..., Incident]


def url(name: str, incident: Incident, *args: object) -> str:
    return reverse(f"web:{name}", args=[incident.public_id, *args])


def page(browser: Client, incident: Incident) -> str:
    response = browser.get(url("incident-detail", incident))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def incident(declare: Declare) -> Incident:
    return declare("P1")


def done_all(incident: Incident, who: User) -> None:
    ChecklistItem.objects.filter(incident=incident).update(checked_at=SAT, checked_by=who)


# ---- the phase bar ---------------------------------------------------------------------------


def test_the_phase_bar_shows_where_the_incident_is_and_the_ways_on(
    browser: Client, incident: Incident
) -> None:
    html = page(browser, incident)

    assert '<li class="step current" aria-current="step">Investigating</li>' in html
    assert '<li class="step todo">Closed</li>' in html
    assert f'action="{url("incident-phase", incident)}"' in html
    for phase in ("investigating", "identified", "monitoring"):
        assert f'<input type="hidden" name="status" value="{phase}">' in html
    assert "Move to identified" in html and ">Resolve<" in html


@pytest.mark.parametrize("phase", ["investigating", "identified", "monitoring"])
def test_each_phase_button_moves_the_incident_on(
    browser: Client, incident: Incident, alice: User, phase: str
) -> None:
    response = browser.post(url("incident-phase", incident), {"status": phase}, follow=True)

    incident.refresh_from_db()
    assert incident.status == phase
    assert incident.acknowledged_by == alice  # moving on implies someone is on it
    html = response.content.decode()
    assert f"Incident #{incident.number} is now {phase.capitalize()}." in html
    assert f'aria-current="step">{phase.capitalize()}</li>' in html
    assert TimelineEvent.objects.filter(
        incident=incident, kind="status_changed", new=phase
    ).exists()


def test_an_unknown_phase_is_refused_with_a_message(browser: Client, incident: Incident) -> None:
    response = browser.post(url("incident-phase", incident), {"status": "resolved"}, follow=True)

    assert "is not a phase" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == Incident.Status.TRIGGERED


@pytest.mark.parametrize(
    "name",
    [
        "incident-phase",
        "incident-close",
        "incident-reopen",
        "incident-severity",
        "incident-details",
        "incident-role",
    ],
)
def test_a_get_changes_nothing(browser: Client, incident: Incident, name: str) -> None:
    events = TimelineEvent.objects.filter(incident=incident).count()

    response = browser.get(url(name, incident), {"status": "identified", "severity": "P3"})

    assert response.status_code == 405
    incident.refresh_from_db()
    assert (incident.status, incident.severity) == ("triggered", "P1")
    assert TimelineEvent.objects.filter(incident=incident).count() == events


def test_a_get_on_a_checklist_item_changes_nothing(browser: Client, incident: Incident) -> None:
    for name in ("checklist-check", "checklist-waive"):
        response = browser.get(url(name, incident, "triage", 0), {"checked": "1", "reason": "x"})
        assert response.status_code == 405
    assert not ChecklistItem.objects.filter(incident=incident, checked_at__isnull=False).exists()


def test_resolving_with_open_required_items_shows_the_gate(
    browser: Client, incident: Incident
) -> None:
    response = browser.post(url("incident-resolve", incident), follow=True)

    html = response.content.decode()
    n = incident.number
    assert f"Could not resolve incident #{n}: checklist items open: " in html
    assert "resolution-immediate: Service responding to health checks" in html
    assert "(check or waive them with a reason)." in html
    incident.refresh_from_db()
    assert incident.status == Incident.Status.TRIGGERED


def test_htmx_shows_the_gate_in_place(browser: Client, incident: Incident) -> None:
    response = browser.post(url("incident-resolve", incident), headers=HTMX)

    html = response.content.decode()
    assert html.strip().startswith('<div id="incident-live" ')
    assert 'class="message error"' in html and "checklist items open" in html


def test_resolve_close_and_reopen(browser: Client, incident: Incident, alice: User) -> None:
    done_all(incident, alice)

    browser.post(url("incident-resolve", incident))
    html = page(browser, incident)
    assert "Move to" not in html  # no phases once resolved: close or reopen
    assert f'action="{url("incident-reopen", incident)}"' in html

    response = browser.post(url("incident-close", incident), follow=True)

    incident.refresh_from_db()
    assert incident.status == Incident.Status.CLOSED
    html = response.content.decode()
    assert f"Incident #{incident.number} closed." in html
    assert 'aria-current="step">Closed</li>' in html
    assert f'action="{url("incident-close", incident)}"' not in html

    response = browser.post(url("incident-reopen", incident), follow=True)

    incident.refresh_from_db()
    assert (incident.status, incident.resolved_at) == ("investigating", None)
    assert f"Incident #{incident.number} reopened." in response.content.decode()


def test_closing_an_open_incident_is_refused(browser: Client, incident: Incident) -> None:
    response = browser.post(url("incident-close", incident), follow=True)

    assert "must be resolved before it is closed" in response.content.decode()


# ---- severity, clocks, badges, details -----------------------------------------------------


def test_changing_the_severity(browser: Client, incident: Incident, alice: User) -> None:
    html = page(browser, incident)
    assert '<option value="P1" selected>P1</option>' in html

    response = browser.post(url("incident-severity", incident), {"severity": "P2"}, follow=True)

    incident.refresh_from_db()
    assert incident.severity == "P2"
    event = TimelineEvent.objects.get(incident=incident, kind="severity_changed")
    assert (event.old, event.new, event.actor) == ("P1", "P2", alice)
    assert f"Incident #{incident.number} is now P2." in response.content.decode()


def test_an_unknown_severity_is_refused_in_the_form(browser: Client, incident: Incident) -> None:
    response = browser.post(url("incident-severity", incident), {"severity": "P9"})

    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
    incident.refresh_from_db()
    assert incident.severity == "P1"


def test_the_clocks_show_the_next_update_breaches_and_the_postmortem(
    browser: Client, incident: Incident
) -> None:
    with time_machine.travel(SAT + timedelta(minutes=8), tick=False):
        html = page(browser, incident)
    assert "Next update due in 7 min" in html
    assert "update-clock overdue" not in html

    Incident.objects.filter(pk=incident.pk).update(
        breaches=["respond_within"], postmortem_due_at=SAT + timedelta(days=4)
    )
    with time_machine.travel(SAT + timedelta(minutes=20), tick=False):
        html = page(browser, incident)

    assert 'class="clock update-clock overdue"' in html
    assert "Update overdue by 5 min" in html
    assert '<p class="clock breach">Response target missed</p>' in html
    assert "Post-mortem due" in html and "2026-12-02 03:00 EST" in html


def test_bridge_and_chat_channel_are_links_to_copy(browser: Client, incident: Incident) -> None:
    html = page(browser, incident)

    n = incident.number
    assert f'<a href="https://meet.example.com/incident-{n}" rel="noopener noreferrer"' in html
    assert f'<code class="copy">#inc-{n}-p1</code>' in html


def test_the_details_form_saves_impact_cause_and_flags(
    browser: Client, incident: Incident, alice: User
) -> None:
    form = {
        "impact": "Card payments fail",
        "users_affected": "~12%",
        "error_rate": "18%",
        "affected_components": "Checkout, Payments API,",
        "root_cause": "Bad gateway config",
        "resolution": "Rolled back to v41",
        "bridge_url": "https://meet.example.com/war-room",
        "chat_channel": "#inc-checkout",
        "is_drill": "on",
    }

    response = browser.post(url("incident-details", incident), form, follow=True)

    incident.refresh_from_db()
    assert incident.affected_components == ["Checkout", "Payments API"]
    assert (incident.impact, incident.users_affected, incident.error_rate) == (
        "Card payments fail",
        "~12%",
        "18%",
    )
    assert (incident.root_cause, incident.resolution) == (
        "Bad gateway config",
        "Rolled back to v41",
    )
    assert (incident.bridge_url, incident.chat_channel) == (
        "https://meet.example.com/war-room",
        "#inc-checkout",
    )
    assert (incident.is_drill, incident.is_security) == (True, False)
    html = response.content.decode()
    assert "Details saved." in html
    assert "Drill · excluded from metrics" in html
    assert "<dd>Checkout, Payments API</dd>" in html
    assert TimelineEvent.objects.get(incident=incident, kind="details_changed").actor == alice


def test_a_bad_bridge_url_is_refused_next_to_the_field(browser: Client, incident: Incident) -> None:
    response = browser.post(url("incident-details", incident), {"bridge_url": "not a url"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid URL." in html
    assert '<details class="edit-details" open>' in html


def test_the_security_badge(browser: Client, incident: Incident, alice: User) -> None:
    Incident.objects.filter(pk=incident.pk).update(is_security=True)
    IncidentRole.objects.create(incident=incident, role="scribe", user=alice, assigned_at=SAT)

    assert "Security · restricted" in page(browser, incident)


# ---- roles -----------------------------------------------------------------------------------


def test_the_roles_panel_lists_each_role_with_its_holders(
    browser: Client, incident: Incident
) -> None:
    html = page(browser, incident)

    roles = html[html.index('id="incident-roles"') : html.index('id="incident-details"')]
    for label in ("Commander", "Tech lead", "Comms lead", "Scribe"):
        assert f'<span class="role-name">{label}</span>' in roles
    assert '<span class="role-holder">Dave Kim</span>' in roles  # proposed from the rota
    assert roles.count("unassigned") == 3


def test_handing_over_the_commander_role(
    browser: Client, incident: Incident, alice: User, bob: User
) -> None:
    response = browser.post(
        url("incident-role", incident),
        {"role": "commander", "user": bob.public_id, "backup": "0"},
        follow=True,
    )

    holder = IncidentRole.objects.get(incident=incident, role="commander", backup=False)
    assert (holder.user, holder.assigned_by) == (bob, alice)
    event = TimelineEvent.objects.get(incident=incident, kind="role_handover")
    assert (event.old, event.new) == ("dave@example.com", "bob@example.com")
    html = response.content.decode()
    assert "Commander: Bob Ortiz." in html
    assert '<span class="role-holder">Bob Ortiz</span>' in html


def test_assigning_a_backup_by_htmx_swaps_the_roles_panel(
    browser: Client, incident: Incident, alice: User
) -> None:
    response = browser.post(
        url("incident-role", incident),
        {"role": "scribe", "user": alice.public_id, "backup": "1"},
        headers=HTMX,
    )

    html = response.content.decode()
    assert '<section id="incident-roles" class="card roles"' in html
    assert 'hx-swap-oob="true"' in html
    assert "backup: Alice Ng" in html
    assert IncidentRole.objects.get(incident=incident, role="scribe", backup=True).user == alice


def test_a_role_needs_a_person(browser: Client, incident: Incident) -> None:
    response = browser.post(url("incident-role", incident), {"role": "tech_lead", "user": ""})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not IncidentRole.objects.filter(incident=incident, role="tech_lead").exists()


# ---- checklists ------------------------------------------------------------------------------


def test_the_checklists_panel_groups_items_by_checklist(
    browser: Client, incident: Incident
) -> None:
    html = page(browser, incident)

    panel = html[html.index('id="incident-checklists"') : html.index('id="incident-roles"')]
    assert "Triage <span" in panel and "Immediate resolution <span" in panel
    assert '<span class="count">0/3</span>' in panel
    assert '<span class="badge required">required to resolve</span>' in panel
    assert "Determine severity level" in panel
    assert panel.count('class="tick"') == 8
    assert panel.count("<summary>Waive</summary>") == 8


def test_checking_and_unchecking_an_item(browser: Client, incident: Incident, alice: User) -> None:
    with time_machine.travel(SAT + timedelta(minutes=3), tick=False):
        response = browser.post(
            url("checklist-check", incident, "triage", 1), {"checked": "1"}, follow=True
        )

    item = ChecklistItem.objects.get(incident=incident, checklist="triage", position=1)
    assert (item.checked_by, item.checked_at) == (alice, SAT + timedelta(minutes=3))
    html = response.content.decode()
    assert "Checked: Identify affected systems." in html
    assert "Alice Ng, <time" in html  # who and when
    assert 'aria-label="Uncheck: Identify affected systems"' in html

    browser.post(url("checklist-check", incident, "triage", 1), {"checked": "0"})

    item.refresh_from_db()
    assert (item.checked_at, item.checked_by) == (None, None)


def test_htmx_check_swaps_the_checklists_out_of_band(browser: Client, incident: Incident) -> None:
    response = browser.post(
        url("checklist-check", incident, "triage", 0), {"checked": "1"}, headers=HTMX
    )

    html = response.content.decode()
    assert html.strip().startswith('<div id="incident-live" ')
    assert 'id="incident-checklists" class="card checklists"' in html
    assert '<span class="count">1/5</span>' in html
    assert 'id="update-compose"' not in html  # a draft being written is left alone


def test_waiving_needs_a_reason(browser: Client, incident: Incident) -> None:
    waive = url("checklist-waive", incident, "resolution-immediate", 2)

    response = browser.post(waive, {"reason": "   "})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Say why this item is waived." in html
    assert '<details class="waive" open>' in html
    item = ChecklistItem.objects.get(
        incident=incident, checklist="resolution-immediate", position=2
    )
    assert not item.waived_reason

    response = browser.post(waive, {"reason": "No latency SLO for this path"}, follow=True)

    assert ChecklistItem.objects.get(pk=item.pk).waived_reason == "No latency SLO for this path"
    html = response.content.decode()
    assert "waived: No latency SLO for this path" in html
    assert TimelineEvent.objects.filter(incident=incident, kind="checklist_waived").exists()


def test_an_unknown_checklist_item_is_404(browser: Client, incident: Incident) -> None:
    for checklist, position in [("nosuch", 0), ("triage", 99)]:
        response = browser.post(
            url("checklist-check", incident, checklist, position), {"checked": "1"}
        )
        assert response.status_code == 404


def test_required_items_done_then_resolve_works(
    browser: Client, incident: Incident, alice: User
) -> None:
    for position in range(3):
        browser.post(
            url("checklist-check", incident, "resolution-immediate", position), {"checked": "1"}
        )

    response = browser.post(url("incident-resolve", incident), follow=True)

    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    assert f"Incident #{incident.number} resolved." in response.content.decode()
