"""One story in a real browser: sign in, watch the list update, acknowledge, note, resolve.

Needs Chromium at /usr/bin/chromium and the ``playwright`` package (its own browser downloads are
not used). Screenshots go to /tmp/tocsin-*.png for a human to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import connections

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.engine.worker import run_once
from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.incidents.services import checklist_check, incident_assign_role
from tocsin.oncall.models import Override

from .conftest import SAT, T0, MakeIncident

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("/tmp")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A headless Chromium driven by Playwright."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # while it runs are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()
        # With that loop running, Django keeps connections per task (asgiref Local), not per
        # thread: close the ones the test opened, or PostgreSQL cannot drop the test database.
        connections.close_all()


def test_alice_runs_an_incident_in_a_browser(
    chromium: Any,
    live_server: Any,
    alice: User,
    service: Service,
    make_incident: MakeIncident,
) -> None:
    alice.timezone = "Europe/Paris"
    alice.save(update_fields=["timezone"])
    make_incident("Search index lagging", severity="P3", status="resolved", minutes_ago=300)
    make_incident("Slow logins", severity="P2", status="acknowledged", minutes_ago=45)
    incident = make_incident(
        "Checkout returns 502 for card payments", severity="P1", service=service, alerts=3
    )
    page = chromium.new_page(viewport={"width": 1280, "height": 800})

    page.goto(f"{live_server.url}/")
    page.screenshot(path=str(SHOTS / "tocsin-login.png"))
    page.fill("input[name=username]", "alice@example.com")
    page.fill("input[name=password]", "alice-pass-123")
    page.click("button[type=submit]")
    page.wait_for_selector("#incidents")
    assert page.evaluate("typeof htmx") == "object"

    # The table polls every 10 s: a new incident shows up without a reload.
    page.evaluate("window.notReloaded = true")
    make_incident("Webhook deliveries delayed", severity="P2", minutes_ago=0)
    page.wait_for_selector("text=Webhook deliveries delayed", timeout=15_000)
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(SHOTS / "tocsin-incident-list.png"), full_page=True)
    page.click("summary:has-text('Declare incident')")
    page.screenshot(path=str(SHOTS / "tocsin-declare.png"))

    page.click(f"text={incident.title}")
    page.wait_for_selector("#incident-live")
    page.evaluate("window.notReloaded = true")
    page.click("button:has-text('Acknowledge')")
    page.wait_for_selector("#incident-live .badge.status-acknowledged")
    page.wait_for_selector(f"#messages >> text=Incident #{incident.number} acknowledged.")
    page.fill("textarea[name=text]", "Rolled back the gateway to v41; error rate falling.")
    page.click("button:has-text('Add note')")
    page.wait_for_selector(".event-message >> text=Rolled back the gateway")
    assert page.evaluate("window.notReloaded") is True  # htmx swapped, no full reload
    assert page.input_value("textarea[name=text]") == ""
    page.screenshot(path=str(SHOTS / "tocsin-incident.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/")
    page.screenshot(path=str(SHOTS / "tocsin-incident-list-phone.png"), full_page=True)
    page.goto(f"{live_server.url}/incidents/{incident.public_id}/")
    page.screenshot(path=str(SHOTS / "tocsin-incident-phone.png"), full_page=True)
    page.goto(f"{live_server.url}/services/")
    page.screenshot(path=str(SHOTS / "tocsin-services-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    page.screenshot(path=str(SHOTS / "tocsin-services.png"), full_page=True)

    incident.refresh_from_db()
    assert incident.status == Incident.Status.ACKNOWLEDGED
    assert incident.acknowledged_by == alice


def test_the_pages_work_with_javascript_off(
    chromium: Any, live_server: Any, alice: User, make_incident: MakeIncident
) -> None:
    incident = make_incident("Checkout down", severity="P1")
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()

    page.goto(f"{live_server.url}/incidents/{incident.public_id}/")
    page.fill("input[name=username]", "alice@example.com")
    page.fill("input[name=password]", "alice-pass-123")
    page.click("button[type=submit]")
    page.click("button:has-text('Resolve')")
    page.wait_for_selector(f"text=Incident #{incident.number} resolved.")
    page.goto(f"{live_server.url}/?status=resolved")
    page.select_option("select[name=status]", "open")
    page.click("button:has-text('Filter')")
    page.wait_for_selector("text=No incidents match these filters.")
    assert page.url.endswith("status=open&severity=&service=")
    context.close()

    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED


def test_alice_covers_a_shift_from_the_schedule_page(
    chromium: Any,
    live_server: Any,
    alice: User,
    rota: dict[str, User],
    make_incident: MakeIncident,
) -> None:
    # The clock starts at T0 and keeps running, so the browser's own timers still fire.
    with time_machine.travel(T0, tick=True):
        checkout = Service.objects.create(name="Checkout", escalation_policy="Platform default")
        incident = make_incident("Checkout returns 502", severity="P1", service=checkout)
        run_once()
        page = chromium.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{live_server.url}/")
        page.fill("input[name=username]", "alice@example.com")
        page.fill("input[name=password]", "alice-pass-123")
        page.click("button[type=submit]")
        page.wait_for_selector("text=Who is on call now")
        page.wait_for_selector("text=Ready: every service pages someone.")  # loaded after the page
        page.screenshot(path=str(SHOTS / "tocsin-home.png"), full_page=True)

        page.click("nav >> text=Schedules")
        page.click("text=Platform primary")
        page.wait_for_selector("h1:has-text('Platform primary')")
        page.select_option("select[name=user]", label="Carol")
        page.fill("input[name=start]", "2026-11-26T00:00")
        page.fill("input[name=end]", "2026-11-27T00:00")
        page.fill("input[name=note]", "Thanksgiving: Dana is away")
        page.click("button:has-text('Add override')")
        page.wait_for_selector("text=Carol is on call for Platform primary instead.")
        page.screenshot(path=str(SHOTS / "tocsin-schedule.png"), full_page=True)

        page.goto(f"{live_server.url}/incidents/{incident.public_id}/")
        page.wait_for_selector("text=Paging")
        page.screenshot(path=str(SHOTS / "tocsin-incident-paging.png"), full_page=True)
        page.click("nav >> text=Me")
        page.wait_for_selector("text=How you are reached")
        page.screenshot(path=str(SHOTS / "tocsin-me.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{live_server.url}/schedules/")
        page.click("text=Platform primary")
        page.screenshot(path=str(SHOTS / "tocsin-schedule-phone.png"), full_page=True)

    override = Override.objects.get()
    assert (override.user, override.note) == (rota["carol"], "Thanksgiving: Dana is away")
    assert override.start == datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


def _sign_in(page: Any, url: str) -> None:
    page.goto(url)
    page.fill("input[name=username]", "alice@example.com")
    page.fill("input[name=password]", "alice-pass-123")
    page.click("button[type=submit]")


def test_alice_posts_an_update_and_simulates_a_saturday_outage(
    chromium: Any, live_server: Any, alice: User, bob: User, declare: Any
) -> None:
    with time_machine.travel(SAT + timedelta(minutes=4), tick=True):
        incident = declare("P1")
        first = incident.checklist.order_by("checklist", "position").first()
        assert first is not None
        checklist_check(item=first, by=bob)
        incident_assign_role(incident=incident, role="tech_lead", user=bob)
        Incident.objects.filter(pk=incident.pk).update(breaches=["respond_within"])
        page = chromium.new_page(viewport={"width": 1280, "height": 800})
        _sign_in(page, f"{live_server.url}/incidents/{incident.public_id}/")
        page.wait_for_selector("text=Next update due in")

        page.select_option("select[name=phase]", "update")
        page.fill("textarea[name=message]", "Rolled back the gateway to v41.")
        page.evaluate("window.notReloaded = true")
        page.click("button:has-text('Draft messages')")
        page.wait_for_selector("textarea[name=chat_body]")
        assert "Rolled back the gateway to v41." in page.input_value("textarea[name=chat_body]")
        assert page.is_checked("input[name=email_send]")
        page.uncheck("input[name=status_page_send]")
        page.click("button:has-text('Send')")
        page.wait_for_selector("#messages >> text=Update sent to 4 destinations.")
        page.wait_for_selector(".update-body >> text=Rolled back the gateway to v41.")
        assert page.evaluate("window.notReloaded") is True  # htmx swapped, no full reload
        page.wait_for_selector("button:has-text('Draft messages')")  # the composer starts over
        page.screenshot(path=str(SHOTS / "tocsin-process.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        page.screenshot(path=str(SHOTS / "tocsin-process-phone.png"), full_page=True)

        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(f"{live_server.url}/services/")
        page.click("text=What happens if this breaks?")
        page.fill("input[name=ack_after]", "")
        page.fill("input[name=resolve_after]", "2h")
        page.click("button:has-text('Simulate')")
        page.wait_for_selector(".sim-table >> text=Carol Diaz")
        page.screenshot(path=str(SHOTS / "tocsin-simulate.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        page.screenshot(path=str(SHOTS / "tocsin-simulate-phone.png"), full_page=True)

    update = StatusUpdate.objects.get(incident=incident)
    assert "Rolled back the gateway to v41." in update.body
    assert update.author == alice


def test_the_public_status_page_during_a_major_outage_and_after(
    chromium: Any, live_server: Any, components: dict[str, Any]
) -> None:
    """What a customer sees, with JavaScript off, on a desktop and a phone: the outage with its
    components and latest update, then the all-clear with the incident in the history."""
    from tocsin.statuspage import snapshot
    from tocsin.statuspage.models import ComponentStatus
    from tocsin.statuspage.services import public_incident_create, public_incident_update

    outage = public_incident_create(
        name="Checkout errors",
        body="We are investigating elevated error rates at checkout.",
        impact="critical",
        components={
            components["API"]: ComponentStatus.MAJOR_OUTAGE,
            components["Cards"]: ComponentStatus.PARTIAL_OUTAGE,
        },
    )
    public_incident_update(
        public_incident=outage, status="identified", body="A bad deploy; rolling back."
    )
    desktop = chromium.new_context(java_script_enabled=False)
    phone = chromium.new_context(
        java_script_enabled=False, viewport={"width": 390, "height": 844}, is_mobile=True
    )

    def look(context: Any, name: str, *, reload: bool = False) -> str:
        page = context.new_page()
        page.goto(f"{live_server.url}/status/")
        if reload:
            page.reload()
        page.screenshot(path=str(SHOTS / f"tocsin-status-{name}.png"), full_page=True)
        # Readable on a phone: nothing wider than the screen.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"], (name, width)
        text: str = page.inner_text("body")
        page.close()
        return text

    for context, name in ((desktop, "outage"), (phone, "outage-phone")):
        text = look(context, name)
        assert "Checkout errors" in text and "A bad deploy; rolling back." in text
        assert "Major System Outage" in text and "All Systems Operational" not in text
        listed = text[text.index("Components") :]
        assert "Major outage" in listed and "Partial outage" in listed

    public_incident_update(
        public_incident=outage, status="resolved", body="Rolled back; checkout works again."
    )
    # A web process looks for a new build once a second (a change shows within 2 s, measured
    # by bench.statuspage); the test does not wait for that check. The customers press reload:
    # their browsers kept the page (max-age) and now revalidate it.
    snapshot.cache.clear()
    for context, name in ((desktop, "after"), (phone, "after-phone")):
        text = look(context, name, reload=True)
        assert "All Systems Operational" in text and "Major System Outage" not in text
        listed = text[text.index("Components") :]
        assert "Major outage" not in listed and "Partial outage" not in listed
        past = text[text.index("Past incidents") :]  # after the components: no longer current
        assert "Checkout errors" in past and "Rolled back; checkout works again." in past
    page = desktop.new_page()
    page.goto(f"{live_server.url}/status/history/")
    page.screenshot(path=str(SHOTS / "tocsin-status-history.png"), full_page=True)
    assert "Checkout errors" in page.inner_text("body")
    page.click("text=Checkout errors")
    page.screenshot(path=str(SHOTS / "tocsin-status-incident.png"), full_page=True)
    text = page.inner_text("body")
    assert page.url.endswith(f"/status/incidents/{outage.public_id}/")
    assert "Resolved" in text
    assert text.index("Rolled back") < text.index("A bad deploy") < text.index("investigating")
    desktop.close()
    phone.close()


def test_alice_starts_the_monthly_drill_from_the_drills_page(
    chromium: Any, live_server: Any, alice: User
) -> None:
    from django.core.management import call_command

    from tests.conftest import ROOT

    call_command("config_apply", str(ROOT / "examples" / "policies" / "alloy.yaml"))
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/drills/")
    page.fill("input[name=username]", "alice@example.com")
    page.fill("input[name=password]", "alice-pass-123")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Overdue: never run")
    page.screenshot(path=str(SHOTS / "tocsin-drills.png"), full_page=True)
    page.select_option("select[name=name]", "Monthly fire drill")
    page.click("button:has-text('Start drill')")
    page.wait_for_selector("text=Drill started")
    incident = Incident.objects.get()
    assert page.url.endswith(f"/incidents/{incident.public_id}/")
    assert incident.drill == "Monthly fire drill"
    page.goto(f"{live_server.url}/")
    page.wait_for_selector("text=Annual full-scale incident simulation")
    page.screenshot(path=str(SHOTS / "tocsin-home-drills.png"), full_page=True)


def test_alice_checks_that_her_pager_reaches_her(
    chromium: Any, live_server: Any, alice: User
) -> None:
    from django.core import mail

    from tocsin.accounts.models import ContactMethod

    ContactMethod.objects.create(user=alice, name="work mail", kind="email", target=alice.email)
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    _sign_in(page, f"{live_server.url}/me/")
    page.click("button:has-text('Send a test message')")
    page.wait_for_selector("text=A test message to work mail is on its way")
    page.wait_for_selector(".test-result.test-pending")
    run_once()
    page.reload()
    page.wait_for_selector(".test-result.test-sent")
    page.wait_for_selector(".delivery-table td:has-text('Test message')")
    # No rules of her own: the first contact method is paged at once.
    page.wait_for_selector("text=No rules of your own: pages go to work mail at once.")
    page.screenshot(path=str(SHOTS / "tocsin-me-test.png"), full_page=True)
    assert [m.subject for m in mail.outbox] == ["[Tocsin] Test message for work mail"]
