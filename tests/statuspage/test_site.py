"""The HTML pages, the feeds and the static export."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from django.test import Client, override_settings

from tocsin.engine.models import Timer
from tocsin.engine.worker import run_once
from tocsin.statuspage import snapshot
from tocsin.statuspage.models import Component, ComponentStatus
from tocsin.statuspage.services import public_incident_create, public_incident_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def outage(components: dict[str, Component]) -> Any:
    incident = public_incident_create(
        name="Checkout errors",
        body="We are investigating <elevated> error rates.",
        impact="critical",
        components={components["API"]: ComponentStatus.MAJOR_OUTAGE},
    )
    public_incident_update(
        public_incident=incident, status="identified", body="A bad deploy; rolling back."
    )
    return incident


def test_the_page_shows_the_indicator_components_and_the_incident(
    client: Client, outage: Any
) -> None:
    html = client.get("/status/").content.decode()
    assert 'class="banner i-critical"' in html
    assert "Checkout errors" in html and "A bad deploy; rolling back." in html
    assert "&lt;elevated&gt;" in html  # escaped
    assert "<script" not in html
    assert 'name="viewport"' in html
    assert "Payments" in html and "Major outage" in html


def test_the_incident_page_and_history(client: Client, outage: Any) -> None:
    page = client.get(f"/status/incidents/{outage.public_id}/")
    assert page.status_code == 200 and "Identified" in page.content.decode()
    history = client.get("/status/history/").content.decode()
    assert f"../incidents/{outage.public_id}/" in history


def test_rss_and_atom_parse_as_xml(client: Client, outage: Any) -> None:
    rss = client.get("/status/history.rss")
    assert rss["Content-Type"].startswith("application/rss+xml")
    items = ElementTree.fromstring(rss.content).findall("./channel/item")
    assert [i.findtext("title") for i in items] == ["Checkout errors"]
    atom = ElementTree.fromstring(client.get("/status/history.atom").content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert atom.findtext("a:entry/a:title", namespaces=ns) == "Checkout errors"


def _served_path(path: str) -> str:
    url = "/status/" + path
    return url.removesuffix("index.html")


def test_the_static_export_equals_what_tocsin_serves(
    client: Client, outage: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    target = tmp_path / "site"
    with override_settings(STATUS_EXPORT_DIR=str(target)):
        public_incident_update(public_incident=outage, status="monitoring", body="Fix deployed.")
        assert Timer.objects.filter(kind=snapshot.PUBLISH, done_at__isnull=True).exists()
        with django_capture_on_commit_callbacks(execute=True):
            run_once()
    files = sorted(
        str(p.relative_to(target.resolve())) for p in target.resolve().rglob("*") if p.is_file()
    )
    assert "index.html" in files and "api/v2/summary.json" in files
    assert f"incidents/{outage.public_id}/index.html" in files
    assert "history.rss" in files and "history/index.html" in files
    # Large files also lie compressed beside themselves, for nginx's gzip_static.
    assert "index.html.gz" in files
    for path in files:
        if path.endswith(".gz"):
            served = client.get(_served_path(path.removesuffix(".gz")), HTTP_ACCEPT_ENCODING="gzip")
            assert served["Content-Encoding"] == "gzip", path
        else:
            served = client.get(_served_path(path))
        assert served.status_code == 200, path
        assert (target / path).read_bytes() == served.content, path
    assert b"Fix deployed." in (target / "index.html").read_bytes()


def test_an_export_swaps_the_whole_tree_at_once(outage: Any, tmp_path: Path) -> None:
    target = tmp_path / "site"
    first = snapshot.snapshot_export(directory=target)
    second = snapshot.snapshot_export(directory=target)
    assert target.is_symlink() and target.resolve() == second
    assert not first.exists()  # the previous tree is gone once nobody links to it
    assert os.listdir(tmp_path) == ["site", second.name] or set(os.listdir(tmp_path)) == {
        "site",
        second.name,
    }


def test_incidents_resolved_in_the_last_week_stay_on_the_front_page(
    client: Client, outage: Any
) -> None:
    import time_machine
    from django.utils import timezone

    public_incident_update(public_incident=outage, status="resolved", body="All clear now.")
    html = client.get("/status/").content.decode()
    past = html[html.index("Past incidents") :]
    assert "Checkout errors" in past and "All clear now." in past
    assert f'href="incidents/{outage.public_id}/"' in past

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        snapshot.snapshot_rebuild()  # the midnight rebuild
        html = client.get("/status/").content.decode()
    assert "Past incidents" not in html and "Checkout errors" not in html
