"""Paging end to end, against real programs: Alertmanager -> Tocsin -> a real SMTP server.

* the real Prometheus Alertmanager fires, Tocsin pages the primary by mail, escalates to the
  secondary when nobody acknowledges, and stops when the primary acknowledges through the
  one-click link of the mail;
* a worker SIGKILLed again and again while it sends loses no page, and sends one twice only
  when the kill landed between "the SMTP server accepted it" and "recorded as sent";
* two workers on one PostgreSQL database never send a page twice;
* on-call across the 2026-11-01 DST change, with an override, answers the right person.

Needs aiosmtpd (a dev dependency), ``/usr/bin/prometheus-alertmanager`` (or
``TOCSIN_E2E_ALERTMANAGER``) for the first test and ``TOCSIN_TEST_POSTGRES`` (a server URL such
as ``postgresql://user:pass@127.0.0.1:5432/postgres``) for the PostgreSQL one; each test is
skipped with the reason when its program is missing.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from harness import ManagedProcess, TocsinServer

pytest.importorskip("aiosmtpd", reason="aiosmtpd is not installed (pip install -e '.[dev]')")

from mailsink import ReceivedMail, SmtpSink  # after the skip: it needs aiosmtpd
from test_alertmanager_real import ALERTMANAGER, Alertmanager

pytestmark = pytest.mark.e2e

PRIMARY = "pat.primary@example.com"
SECONDARY = "sam.secondary@example.com"
PAGING_SERVICE = "E2E Paging"
LEVEL_WAIT = 5.0  # seconds: level 1 (primary) waits this long before level 2 (secondary)
MAIL_WITHIN = 15.0  # alert -> first mail, generously (group_wait is 1 s; a loaded machine)
QUIET = 8.0  # after the acknowledgement, nothing more may reach the secondary this long

needs_alertmanager = pytest.mark.skipif(
    not os.access(ALERTMANAGER, os.X_OK),
    reason=f"no Alertmanager binary at {ALERTMANAGER} (apt-get install "
    "prometheus-alertmanager, or set TOCSIN_E2E_ALERTMANAGER to its path)",
)

# Printed once at the end of the module (pytest -s shows them; -ra shows nothing else).
MEASURED: dict[str, Any] = {}


# ---- shared helpers ---------------------------------------------------------------------------


def person(email: str, name: str) -> dict[str, Any]:
    return {"email": email, "name": name, "contact": [{"name": "mail", "email": email}]}


def one_person_per_service(prefix: str, count: int) -> tuple[dict[str, Any], dict[str, str]]:
    """A configuration where service ``<prefix> NN`` pages only ``<prefix>-NN@example.com``.

    One recipient per incident: no two pages go to one address, so nothing is bundled or
    rate-limited and every mail is exactly one (incident, person) page.
    """
    people, policies, services, recipients = [], [], [], {}
    for i in range(1, count + 1):
        name, email = f"{prefix} {i:02d}", f"{prefix.lower()}-{i:02d}@example.com"
        people.append(person(email, name))
        policies.append({"name": name, "levels": [{"notify": [{"user": email}]}]})
        services.append({"name": name, "escalation_policy": name})
        recipients[name] = email
    return {"people": people, "escalation_policies": policies, "services": services}, recipients


def declare(server: TocsinServer, service: str) -> int:
    """Declare an incident on ``service`` through the API (escalation starts); its number."""
    body = server.api(
        "post",
        "/incidents",
        {"title": f"E2E {service}", "severity": "P1", "service": service},
        expect=201,
    )
    return int(body["number"])


def shell_json(server: TocsinServer, code: str) -> Any:
    """Run ``code`` in ``tocsin django shell``; it prints one JSON line last."""
    out = server.shell(code).strip()
    assert out, f"the shell printed nothing for:\n{code}"
    return json.loads(out.splitlines()[-1])


DELIVERIES = """
import json
from tocsin.notifications.models import Delivery
print(json.dumps([
    [d.incident.number, d.target.lower(), d.status, d.attempts, d.bundled_into_id, d.kind]
    for d in Delivery.objects.select_related("incident").order_by("id")
]))
"""


def wait_worker_started(server: TocsinServer, worker: ManagedProcess) -> None:
    def started() -> bool:
        assert worker.running, f"the worker exited\n{worker.log()}"
        return " started (" in worker.log(200)

    server.wait_for(started, 60.0, interval=0.1, message="the worker to start")


# ---- 1. Alertmanager -> Tocsin -> SMTP: page, escalate, acknowledge through the link --------


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


@pytest.fixture(scope="module")
def paging(sink: SmtpSink) -> Iterator[tuple[TocsinServer, str]]:
    """``tocsin serve`` mailing through the sink, with the primary/secondary policy applied."""
    key = f"am-paging-{random.randrange(16**6):06x}"
    with TocsinServer("serve", env={"TOCSIN_EMAIL_URL": sink.url}) as server:
        start = date.today() - timedelta(days=14)
        server.apply(
            {
                "people": [person(PRIMARY, "Pat Primary"), person(SECONDARY, "Sam Secondary")],
                "schedules": [
                    {
                        "name": "E2E primary",
                        "timezone": "UTC",
                        "layers": [
                            {
                                "rotation": "weekly",
                                "handoff": {"day": "monday", "time": "09:00"},
                                "start": start.isoformat(),
                                "participants": [PRIMARY],
                            }
                        ],
                    }
                ],
                "escalation_policies": [
                    {
                        "name": "E2E paging",
                        "levels": [
                            {"notify": [{"schedule": "E2E primary"}], "wait": f"{LEVEL_WAIT:g}s"},
                            {"notify": [{"user": SECONDARY}]},
                        ],
                    }
                ],
                "services": [
                    {
                        "name": PAGING_SERVICE,
                        "escalation_policy": "E2E paging",
                        "severity_map": {"critical": "P1"},
                        "integrations": [{"kind": "alertmanager", "key": key}],
                    }
                ],
            },
            name="paging.yaml",
        )
        yield server, key


def _alert(name: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "service": "checkout", "severity": "critical"},
        "annotations": {"summary": f"{name} is firing"},
        "startsAt": (now - timedelta(seconds=30)).isoformat().replace("+00:00", "Z"),
        "endsAt": (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
    }


def _ack_link(mail: ReceivedMail, base_url: str) -> str:
    found = re.search(r"^Acknowledge:[ \t]+(\S+)", mail.text, re.MULTILINE)
    assert found, f"no acknowledge link in the mail:\n{mail.text}"
    link = found.group(1)
    assert re.fullmatch(rf"{re.escape(base_url)}/act/[^/\s]+/", link), link
    assert link in mail.html, "the HTML part must carry the same acknowledge link"
    return link


def _check_mail_shape(mail: ReceivedMail, number: int) -> None:
    assert mail.message.get_content_type() == "multipart/alternative", mail.message
    assert mail.text.strip(), "no text/plain part"
    assert "<" in mail.html and mail.html.strip(), "no text/html part"
    assert f"#{number}" in mail.subject, mail.subject
    assert mail.incident_numbers == [number], mail.text
    assert mail.header("References"), "no References header (mails of one incident thread)"


@needs_alertmanager
def test_alertmanager_pages_escalates_and_link_acknowledges(
    paging: tuple[TocsinServer, str], sink: SmtpSink
) -> None:
    server, key = paging
    am = Alertmanager(f"{server.base_url}/integrations/alertmanager/{key}")

    def wait(predicate: Any, timeout: float, message: str) -> Any:
        try:
            return server.wait_for(predicate, timeout, interval=0.05, message=message)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{am.log()}") from None

    def incident_numbered(n_before: int) -> dict[str, Any] | None:
        """The newest incident of the service once it has more than ``n_before``."""
        items = server.incidents(service=PAGING_SERVICE)
        return max(items, key=lambda i: int(i["number"])) if len(items) > n_before else None

    def mail_for(address: str, number: int) -> ReceivedMail | None:
        mails = [m for m in sink.to(address) if number in m.incident_numbers]
        return mails[0] if mails else None

    try:
        # A: nobody acknowledges -> primary now, secondary after the level's wait.
        t_a = time.monotonic()
        am.post_alerts([_alert("E2EPagingUnanswered")])
        inc_a = wait(lambda: incident_numbered(0), MAIL_WITHIN, "incident A")
        mail_a = wait(lambda: mail_for(PRIMARY, inc_a["number"]), MAIL_WITHIN, "primary page A")
        latency_a = mail_a.at - t_a

        # B: the primary acknowledges through the link in the mail -> the secondary hears nothing.
        t_b = time.monotonic()
        am.post_alerts([_alert("E2EPagingAnswered")])
        inc_b = wait(lambda: incident_numbered(1), MAIL_WITHIN, "incident B")
        mail_b = wait(lambda: mail_for(PRIMARY, inc_b["number"]), MAIL_WITHIN, "primary page B")
        latency_b = mail_b.at - t_b
        for mail, inc in ((mail_a, inc_a), (mail_b, inc_b)):
            _check_mail_shape(mail, inc["number"])
        link = _ack_link(mail_b, server.base_url)

        with httpx.Client(timeout=15.0) as browser:  # no session, no token: the link suffices
            shown = browser.get(link)
            assert shown.status_code == 200, shown.text[:500]
            assert '<form method="post">' in shown.text, shown.text[:2000]
            assert f"Acknowledge incident #{inc_b['number']}" in shown.text, shown.text[:2000]
            # A GET (a mail scanner, a chat preview) must not acknowledge.
            after_get = server.api("get", f"/incidents/{inc_b['id']}")
            assert after_get["status"] == "triggered", after_get
            done = browser.post(link)
            t_ack = time.monotonic()
            assert done.status_code == 200, done.text[:500]
            assert "Done: the incident is acknowledged" in done.text, done.text[:2000]
        acked = server.api("get", f"/incidents/{inc_b['id']}")
        assert acked["status"] == "acknowledged", acked
        assert acked["acknowledged_by"] == "Pat Primary", acked

        # A escalates to the secondary about LEVEL_WAIT after the primary's page.
        second_a = wait(
            lambda: mail_for(SECONDARY, inc_a["number"]),
            LEVEL_WAIT + MAIL_WITHIN,
            "the secondary's page for A",
        )
        _check_mail_shape(second_a, inc_a["number"])
        gap = second_a.at - mail_a.at
        assert LEVEL_WAIT - 1.0 <= gap <= LEVEL_WAIT + 10.0, f"escalated after {gap:.2f} s"
        # One thread per incident: both of A's mails share References, B has its own.
        assert second_a.header("References") == mail_a.header("References"), (
            second_a.header("References"),
            mail_a.header("References"),
        )
        assert second_a.header("In-Reply-To") == mail_a.header("In-Reply-To")
        assert mail_b.header("References") != mail_a.header("References")

        # Acknowledged B: its level 2 was due ~LEVEL_WAIT after its page; QUIET covers that.
        remaining = QUIET - (time.monotonic() - t_ack)
        if remaining > 0:
            time.sleep(remaining)
        leaked = [m.subject for m in sink.to(SECONDARY) if inc_b["number"] in m.incident_numbers]
        assert not leaked, f"the secondary was paged for acknowledged B: {leaked}"
        assert [m.incident_numbers for m in sink.to(PRIMARY)] == [
            [inc_a["number"]],
            [inc_b["number"]],
        ], [m.subject for m in sink.to(PRIMARY)]

        timeline_b = server.api("get", f"/incidents/{inc_b['id']}/timeline")
        kinds_b = [e["kind"] for e in timeline_b]
        assert "escalated" not in kinds_b, timeline_b
        acks = [e for e in timeline_b if e["kind"] == "acknowledged"]
        assert len(acks) == 1, timeline_b
        assert acks[0]["actor"] == "Pat Primary", acks[0]
        assert "link" in acks[0]["message"], acks[0]
        label = shell_json(
            server,
            "import json\n"
            "from tocsin.incidents.models import TimelineEvent\n"
            f"e = TimelineEvent.objects.get(incident__number={inc_b['number']},"
            " kind='acknowledged')\n"
            "print(json.dumps([e.actor_label, e.actor.email if e.actor else None]))\n",
        )
        assert label == ["link", PRIMARY], label

        timeline_a = server.api("get", f"/incidents/{inc_a['id']}/timeline")
        escalated = [e for e in timeline_a if e["kind"] == "escalated"]
        assert len(escalated) == 1 and escalated[0]["data"]["users"] == [SECONDARY], timeline_a
        am.process.stop()
    finally:
        am.close()

    triggered = {
        i["number"]: datetime.fromisoformat(i["triggered_at"]).timestamp() for i in (inc_a, inc_b)
    }
    in_tocsin = [mail_a.wall - triggered[inc_a["number"]], mail_b.wall - triggered[inc_b["number"]]]
    latencies = [latency_a, latency_b]
    MEASURED["alert->mail"] = latencies
    print(
        f"\nalert posted to Alertmanager -> primary's mail: "
        f"p50 {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s "
        f"({', '.join(f'{x:.2f}' for x in latencies)}); incident -> mail "
        f"{', '.join(f'{x:.2f}' for x in in_tocsin)} s; "
        f"primary -> secondary {gap:.2f} s (level wait {LEVEL_WAIT:g} s)"
    )


# ---- 2. SIGKILL the worker while it sends: no page lost, duplicates only in the window -------

KILL_INCIDENTS = 30
KILLS = 6  # each kill starts a worker (Django start-up): the CI run must stay under 15 min
REPLY_DELAY = 0.1  # the sink answers 250 this long after keeping a mail (a scanning server)

# After a SIGKILL: what the dead worker had claimed but not recorded, then give its leases
# back. Waiting out LEASE (60 s) would do the same; the test cannot afford a minute per kill.
AFTER_KILL = """
import json
from django.utils import timezone
from tocsin.engine.models import Timer
from tocsin.notifications.models import Delivery
now = timezone.now()
claimed = [
    [d.incident.number, d.target.lower(), d.attempts]
    for d in Delivery.objects.filter(status="pending", attempts__gt=0).select_related("incident")
]
timers = Timer.objects.filter(done_at__isnull=True, due_at__gt=now).update(due_at=now)
leases = Delivery.objects.filter(status="pending", due_at__gt=now).update(due_at=now)
print(json.dumps({"claimed": claimed, "timers": timers, "leases": leases}))
"""


def test_worker_sigkilled_while_sending_loses_no_page() -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    config, recipients = one_person_per_service("Kill", KILL_INCIDENTS)
    with (
        SmtpSink(reply_delay=REPLY_DELAY) as sink,
        TocsinServer("web", env={"TOCSIN_EMAIL_URL": sink.url}) as server,
    ):
        server.apply(config, name="kill.yaml")
        # No worker runs yet: every incident's first step (and its page) is due at once.
        expected = {declare(server, service): email for service, email in recipients.items()}
        pages = {(n, email) for n, email in expected.items()}
        assert len(pages) == KILL_INCIDENTS

        kills: list[dict[str, Any]] = []
        hits: Counter[tuple[int, str]] = Counter()  # pages kept by the sink, not recorded sent
        claimed: dict[tuple[int, str], int] = {}  # pending pages with attempts, after the last kill
        for _ in range(KILLS):
            counts_before = sink.page_counts()
            if pages <= set(counts_before):
                break  # everything went out at least once: nothing left to interrupt
            worker = server.spawn("worker")

            def sending(worker: ManagedProcess = worker, before: int = len(sink)) -> bool:
                return len(sink) > before or not worker.running

            server.wait_for(sending, 60.0, interval=0.01, message="the worker to send a mail")
            assert worker.running, f"the worker exited by itself\n{worker.log()}"
            time.sleep(rng.uniform(0.0, 0.3))
            worker.kill()  # SIGKILL
            time.sleep(0.3)  # the sink finishes reading what the worker wrote before dying
            state = shell_json(server, AFTER_KILL)
            counts_now = sink.page_counts()
            previous, claimed = claimed, {(n, e): a for n, e, a in state["claimed"]}
            # Claimed (attempts + 1 committed) during this life and not recorded: in flight.
            in_flight = {p for p, a in claimed.items() if previous.get(p) != a}
            # ... and already kept by the sink: the kill landed between "accepted by the SMTP
            # server" and "recorded as sent". The next worker sends it again.
            in_window = {p for p in in_flight if counts_now[p] > counts_before[p]}
            hits.update(in_window)
            kills.append(
                {
                    "sent": sum(counts_now.values()) - sum(counts_before.values()),
                    "in_flight": len(in_flight),
                    "in_window": len(in_window),
                    "timers_released": state["timers"],
                    "leases_released": state["leases"],
                }
            )
            assert len(in_flight) <= 1, f"one send is in flight at a time: {kills[-1]}"

        final = server.spawn("worker")

        def all_sent() -> bool:
            counts = sink.page_counts()
            return all(counts[p] >= 1 + hits[p] for p in pages)

        server.wait_for(all_sent, 60.0, interval=0.1, message="every page to arrive")
        time.sleep(1.0)  # anything sent twice more would show up here
        final.stop()  # SIGTERM: the worker records what it sent and exits 0
        rows = shell_json(server, DELIVERIES)

    counts = sink.page_counts()
    lost = sorted(pages - set(counts))
    assert not lost, f"pages never received: {lost}"
    stray = sorted(set(counts) - pages)
    assert not stray, f"pages nobody should have got: {stray}"
    duplicates = {p: c - 1 for p, c in counts.items() if c > 1}
    unexplained = {p: d for p, d in duplicates.items() if d != hits[p]}
    by_row = {(n, email): (status, attempts) for n, email, status, attempts, _b, _k in rows}
    assert len(rows) == KILL_INCIDENTS and set(by_row) == pages, rows
    assert all(status == "sent" for status, _ in by_row.values()), rows
    attempts = Counter(a for _, a in by_row.values())
    MEASURED["kills"] = kills
    print(
        f"\nSIGKILL test (seed {seed}): {len(kills)} kills, {sum(hits.values())} in the "
        f"send->record window, {sum(duplicates.values())} duplicate mails of "
        f"{sum(counts.values())}; killed with a send in flight "
        f"{sum(k['in_flight'] for k in kills)}, mails per life {[k['sent'] for k in kills]}, "
        f"attempts per delivery {dict(sorted(attempts.items()))}"
    )
    assert not unexplained, (
        f"duplicates the kills do not explain (page: extra copies; window hits {dict(hits)}): "
        f"{unexplained}"
    )
    assert len(kills) >= KILLS // 2, f"too few kills landed while sending: {kills}"


# ---- 3. Two workers on one PostgreSQL database: no page twice -------------------------------

PG_INCIDENTS = 50


@pytest.fixture
def postgres(monkeypatch: pytest.MonkeyPatch) -> str:
    url = os.environ.get("TOCSIN_TEST_POSTGRES", "").strip()
    if not url:
        pytest.skip(
            "TOCSIN_TEST_POSTGRES is not set (a PostgreSQL server URL such as "
            "postgresql://user:pass@127.0.0.1:5432/postgres; each run uses a throw-away database)"
        )
    monkeypatch.setenv("TOCSIN_E2E_POSTGRES", url)  # read by TocsinServer
    return url


@pytest.mark.usefixtures("postgres")
def test_two_workers_on_postgresql_page_each_person_once() -> None:
    config, recipients = one_person_per_service("Pg", PG_INCIDENTS)
    with (
        SmtpSink() as sink,
        TocsinServer("web", env={"TOCSIN_EMAIL_URL": sink.url}) as server,
    ):
        assert server.healthz()["database"]["vendor"] == "postgresql"
        server.apply(config, name="pg.yaml")
        workers = [server.spawn("worker"), server.spawn("worker")]
        for worker in workers:
            wait_worker_started(server, worker)

        # Declare from four clients at once: both workers are woken (NOTIFY) by every commit.
        assert server.token  # created here, once, not by four threads at a time
        services = list(recipients)
        expected: dict[int, str] = {}
        lock = threading.Lock()
        errors: list[BaseException] = []

        def declare_some(chunk: list[str]) -> None:
            try:
                for service in chunk:
                    number = declare(server, service)
                    with lock:
                        expected[number] = recipients[service]
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=declare_some, args=(services[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        pages = set(expected.items())
        assert len(pages) == PG_INCIDENTS, expected

        server.wait_for(
            lambda: pages <= set(sink.page_counts()), 60.0, message="every page to arrive"
        )
        time.sleep(2.0)  # a second copy would arrive here
        for worker in workers:
            worker.stop()
        rows = shell_json(server, DELIVERIES)

    counts = sink.page_counts()
    twice = {p: c for p, c in counts.items() if c != 1}
    assert not twice, f"pages not received exactly once: {twice}"
    assert set(counts) == pages, sorted(set(counts) ^ pages)
    assert len(rows) == PG_INCIDENTS, rows
    bad = [r for r in rows if r[2] != "sent" or r[3] != 1 or r[4] is not None]
    assert not bad, f"deliveries not sent exactly once (number, to, status, attempts): {bad}"
    print(f"\nPostgreSQL, two workers: {len(rows)} pages, each received and sent once")


# ---- 4. On-call across the DST change, with an override ----------------------------------------

ALICE, BOB, CAROL = (f"{n}@dst.example.com" for n in ("alice", "bob", "carol"))


def test_oncall_across_dst_weekend_with_override(paging: tuple[TocsinServer, str]) -> None:
    server, _key = paging
    server.apply(
        {
            "people": [person(ALICE, "Alice"), person(BOB, "Bob"), person(CAROL, "Carol")],
            "schedules": [
                {
                    "name": "DST weekly",
                    "timezone": "America/New_York",
                    "layers": [
                        {
                            "rotation": "weekly",
                            "handoff": {"day": "monday", "time": "09:00"},
                            "start": "2026-10-26",  # a Monday, in EDT (UTC-4)
                            "participants": [ALICE, BOB],
                        }
                    ],
                    # Local times; the night of the change: 00:00 EDT to 03:00 EST is 4 hours.
                    "overrides": [
                        {"who": CAROL, "from": "2026-11-01T00:00", "to": "2026-11-01T03:00"}
                    ],
                }
            ],
        },
        name="dst.yaml",
    )

    def oncall(at: str) -> list[str]:
        response = server.http.get(
            "/api/v1/oncall",
            params={"at": at},
            headers={"Authorization": f"Bearer {server.token}"},
        )
        assert response.status_code == 200, response.text
        (schedule,) = [s for s in response.json()["schedules"] if s["name"] == "DST weekly"]
        return [p["email"] for p in schedule["oncall"]]

    cases = [
        ("2026-10-31T12:00:00-04:00", ALICE),  # Saturday, EDT: Alice's week
        ("2026-10-31T23:59:00-04:00", ALICE),  # just before the override
        ("2026-11-01T00:30:00-04:00", CAROL),  # override, EDT
        ("2026-11-01T01:30:00-04:00", CAROL),  # the first 01:30 (EDT)
        ("2026-11-01T01:30:00-05:00", CAROL),  # the second 01:30 (EST), an hour later
        ("2026-11-01T02:59:00-05:00", CAROL),  # 07:59 UTC: still the override
        ("2026-11-01T03:01:00-05:00", ALICE),  # override over: back to the rotation
        ("2026-11-02T13:30:00+00:00", ALICE),  # 08:30 EST; a handoff kept at 13:00 UTC says Bob
        ("2026-11-02T08:59:00-05:00", ALICE),  # a minute before the Monday handoff
        ("2026-11-02T09:01:00-05:00", BOB),  # a minute after it (14:01 UTC)
        ("2026-11-09T08:59:00-05:00", BOB),
        ("2026-11-09T09:01:00-05:00", ALICE),
    ]
    answers = {at: oncall(at) for at, _ in cases}
    wrong = {at: (answers[at], who) for at, who in cases if answers[at] != [who]}
    assert not wrong, f"at: (answered, expected): {wrong}"
