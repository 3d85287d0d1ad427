"""The real Prometheus Alertmanager delivers a group to Tocsin through its webhook receiver.

Needs ``/usr/bin/prometheus-alertmanager`` (Debian package ``prometheus-alertmanager``) or the
binary named by ``TOCSIN_E2E_ALERTMANAGER``; skipped with the reason when it is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from harness import Configured, ManagedProcess, free_port, wait_for

ALERTMANAGER = Path(os.environ.get("TOCSIN_E2E_ALERTMANAGER", "/usr/bin/prometheus-alertmanager"))

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.access(ALERTMANAGER, os.X_OK),
        reason=f"no Alertmanager binary at {ALERTMANAGER} (apt-get install "
        "prometheus-alertmanager, or set TOCSIN_E2E_ALERTMANAGER to its path)",
    ),
]
DELIVERY = 30.0  # group_wait/interval are 1 s; the rest is a loaded machine


class Alertmanager:
    """One Alertmanager (clustering off) whose only receiver is a Tocsin webhook URL."""

    def __init__(self, webhook_url: str) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="tocsin-e2e-am-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "route": {
                "receiver": "tocsin",
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "tocsin",
                    "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
                }
            ],
        }
        (self.tmp / "alertmanager.yml").write_text(yaml.safe_dump(config))
        (self.tmp / "data").mkdir()
        self.process = ManagedProcess(
            [
                str(ALERTMANAGER),
                f"--config.file={self.tmp / 'alertmanager.yml'}",
                f"--storage.path={self.tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            env={"PATH": "/usr/bin:/bin"},
            log_path=self.tmp / "alertmanager.log",
        )
        wait_for(
            self._ready, 30.0, interval=0.2, message="alertmanager /-/ready", diagnostics=self.log
        )

    def _ready(self) -> bool:
        if not self.process.running:
            raise AssertionError(f"alertmanager exited at start\n{self.log()}")
        return httpx.get(f"{self.url}/-/ready", timeout=2.0).status_code == 200

    def log(self) -> str:
        return self.process.log(30)

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10.0)
        assert response.status_code == 200, response.text

    def close(self) -> None:
        self.process.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def alertmanager(tocsin: Configured) -> Iterator[Alertmanager]:
    server = tocsin.server
    am = Alertmanager(f"{server.base_url}/integrations/alertmanager/{tocsin.alertmanager_key}")
    try:
        yield am
        am.process.stop()  # Alertmanager too exits 0 on SIGTERM
    finally:
        am.close()


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _alert(instance: str, *, starts: datetime, ends: datetime) -> dict[str, Any]:
    return {
        "labels": {
            "alertname": "E2ECheckoutErrors",
            "service": "checkout",
            "severity": "critical",
            "instance": instance,
        },
        "annotations": {"summary": f"Checkout 5xx above 10% on {instance}"},
        "startsAt": _iso(starts),
        "endsAt": _iso(ends),
        "generatorURL": "http://prometheus.example/graph?g0.expr=up",
    }


def test_alertmanager_group_becomes_one_incident_and_resolves(
    tocsin: Configured, alertmanager: Alertmanager
) -> None:
    server = tocsin.server

    def am_incidents() -> list[dict[str, Any]]:
        return server.incidents(service=tocsin.alertmanager_service)

    def diagnostics() -> str:
        return f"{server.logs()}\n{alertmanager.log()}"

    def wait(predicate: Any, message: str) -> Any:
        return wait_for(
            predicate, DELIVERY, interval=0.25, message=message, diagnostics=diagnostics
        )

    def alerts_of(incident: dict[str, Any]) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = server.api("get", f"/incidents/{incident['id']}/alerts")
        return alerts

    starts = datetime.now(UTC) - timedelta(minutes=2)
    later = datetime.now(UTC) + timedelta(hours=1)

    # 1. Two alerts of one group: Alertmanager waits group_wait, then posts them together.
    alertmanager.post_alerts(
        [_alert(i, starts=starts, ends=later) for i in ("checkout-a", "checkout-b")]
    )

    def one_incident_with_two_alerts() -> dict[str, Any] | None:
        incidents = am_incidents()
        if len(incidents) == 1 and len(alerts_of(incidents[0])) == 2:
            return incidents[0]
        assert len(incidents) <= 1, f"one group must open one incident: {incidents}"
        return None

    incident = wait(one_incident_with_two_alerts, "one incident with two alerts")
    assert incident["status"] == "triggered", incident
    assert incident["service"]["name"] == tocsin.alertmanager_service, incident
    assert incident["severity"] == "P1", incident  # severity=critical through severity_map
    alerts = alerts_of(incident)
    assert {a["labels"]["instance"] for a in alerts} == {"checkout-a", "checkout-b"}, alerts
    assert all(a["status"] == "firing" and a["integration"] == "alertmanager" for a in alerts)
    assert len({a["fingerprint"] for a in alerts}) == 2, alerts

    # 2. A third alert joins the group: Alertmanager re-sends the whole group (all three).
    #    The two known alerts are repeats (dedup: their count goes up), not new alerts, and
    #    the group stays one incident.
    alertmanager.post_alerts([_alert("checkout-c", starts=starts, ends=later)])

    def regrouped() -> list[dict[str, Any]] | None:
        incidents = am_incidents()
        assert len(incidents) == 1, f"a re-sent group must not open a second incident: {incidents}"
        alerts = alerts_of(incidents[0])
        counts = {a["labels"]["instance"]: a["count"] for a in alerts}
        if len(alerts) == 3 and counts["checkout-a"] >= 2 and counts["checkout-b"] >= 2:
            return alerts
        return None

    alerts = wait(regrouped, "the re-sent group: three alerts, the first two counted twice")
    counts = {a["labels"]["instance"]: a["count"] for a in alerts}
    assert counts["checkout-c"] == 1, counts

    # 3. Every alert ends at the source: the resolved notification resolves the incident.
    ended = datetime.now(UTC) - timedelta(seconds=1)
    alertmanager.post_alerts(
        [_alert(i, starts=starts, ends=ended) for i in ("checkout-a", "checkout-b", "checkout-c")]
    )

    def resolved() -> dict[str, Any] | None:
        current: dict[str, Any] = server.api("get", f"/incidents/{incident['id']}")
        return current if current["status"] == "resolved" else None

    final = wait(resolved, "the incident to resolve when Alertmanager sends resolved")
    assert final["resolved_by"] is None, final  # the source resolved it, not a person
    assert all(a["status"] == "resolved" for a in alerts_of(final)), alerts_of(final)
    assert len(am_incidents()) == 1, am_incidents()

    timeline: list[dict[str, Any]] = server.api("get", f"/incidents/{incident['id']}/timeline")
    kinds = [e["kind"] for e in timeline]
    assert kinds.count("alert_added") == 3, kinds
    # The alert whose processing closed the incident is on the timeline. Today the others of
    # the same notification reach the worker after the incident closed and get no event of
    # their own; "every alert resolved" is in the closing event's message.
    assert kinds.count("alert_resolved") >= 1, kinds
    closing = [e for e in timeline if e["kind"] == "resolved"]
    assert len(closing) == 1, timeline
    assert closing[0]["actor"] == "alertmanager", closing[0]
    message = (closing[0]["message"] or "").lower()
    assert "every alert" in message and "source" in message, closing[0]
    assert kinds.index("resolved") > kinds.index("alert_resolved"), kinds
