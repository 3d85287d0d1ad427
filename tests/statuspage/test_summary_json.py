"""Statuspage-compatible JSON: same keys, enumerations and statuses as Atlassian Statuspage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import fixture_json
from tocsin.statuspage.models import Component, ComponentStatus, PublicIncident
from tocsin.statuspage.selectors import page_indicator
from tocsin.statuspage.services import (
    component_set_status,
    public_incident_create,
    public_incident_update,
)

pytestmark = pytest.mark.django_db
GITHUB = "statuspage/rapid7_github_summary_major_outage_2020-04-02.json"

Get = Callable[[str], Any]


def _github_like_outage(components: dict[str, Component]) -> PublicIncident:
    """Major outage of API and Web, an investigating incident with two updates."""
    incident = public_incident_create(
        name="Incident on 2020-04-02 20:20 UTC",
        body="We are investigating reports of degraded performance.",
        impact="major",
        components={components["Web"]: ComponentStatus.OPERATIONAL},
    )
    public_incident_update(
        public_incident=incident,
        status="investigating",
        body="We are investigating reports of service unavailability.",
        components={
            components["API"]: ComponentStatus.MAJOR_OUTAGE,
            components["Cards"]: ComponentStatus.PARTIAL_OUTAGE,
        },
    )
    return incident


def test_summary_has_the_keys_of_a_real_statuspage_summary(
    components: dict[str, Component], get_json: Get
) -> None:
    _github_like_outage(components)
    ours, theirs = get_json("summary.json"), fixture_json(GITHUB)

    assert list(ours) == list(theirs)
    assert set(ours["page"]) == set(theirs["page"])
    assert set(ours["status"]) == set(theirs["status"])
    # Our components also carry start_date (newer Statuspage pages do too).
    assert set(theirs["components"][0]) <= set(ours["components"][0])
    assert set(ours["components"][0]) - set(theirs["components"][0]) == {"start_date"}
    their_incident, our_incident = theirs["incidents"][0], ours["incidents"][0]
    assert list(our_incident) == list(their_incident)
    assert list(our_incident["incident_updates"][0]) == list(their_incident["incident_updates"][0])
    affected = [u["affected_components"] for u in our_incident["incident_updates"]]
    assert set(affected[1][0]) == set(
        their_incident["incident_updates"][1]["affected_components"][0]
    )


def test_summary_values_use_statuspage_enumerations(
    components: dict[str, Component], get_json: Get
) -> None:
    _github_like_outage(components)
    ours, theirs = get_json("summary.json"), fixture_json(GITHUB)

    assert (
        ours["status"]
        == theirs["status"]
        == {
            "indicator": "major",
            "description": "Partial System Outage",
        }
    )
    incident = ours["incidents"][0]
    assert (incident["status"], incident["impact"]) == ("investigating", "major")
    assert [u["status"] for u in incident["incident_updates"]] == ["investigating"] * 2
    newest, first = incident["incident_updates"]
    assert newest["body"] == "We are investigating reports of service unavailability."
    assert first["affected_components"][0]["new_status"] == "operational"
    assert incident["shortlink"].endswith(f"/status/incidents/{incident['id']}/")
    assert incident["resolved_at"] is None and incident["monitoring_at"] is None
    assert incident["created_at"].endswith("Z") and len(incident["created_at"]) == 24
    by_name = {c["name"]: c for c in ours["components"]}
    assert by_name["API"]["status"] == "major_outage"
    assert by_name["Payments"]["group"] is True
    assert by_name["Payments"]["status"] == "partial_outage"  # its worst member
    assert by_name["Payments"]["components"] == [by_name["Cards"]["id"], by_name["Wallets"]["id"]]
    assert by_name["Cards"]["group_id"] == by_name["Payments"]["id"]
    assert by_name["API"]["group_id"] is None
    assert by_name["API"]["description"] == "Public REST API"
    assert {c["status"] for c in ours["components"]} <= {
        "operational",
        "degraded_performance",
        "partial_outage",
        "major_outage",
        "under_maintenance",
    }
    assert ours["page"]["time_zone"] == "Etc/UTC"
    assert ours["page"]["url"].endswith("/status/")


def test_resolving_puts_components_back_and_empties_the_unresolved_list(
    components: dict[str, Component], get_json: Get
) -> None:
    incident = _github_like_outage(components)
    public_incident_update(public_incident=incident, status="resolved", body="All good.")

    summary = get_json("summary.json")
    assert summary["incidents"] == []
    assert summary["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert get_json("incidents/unresolved.json")["incidents"] == []
    listed = get_json("incidents.json")["incidents"][0]
    assert listed["status"] == "resolved" and listed["resolved_at"] is not None
    assert {c["status"] for c in get_json("components.json")["components"]} == {"operational"}


@pytest.mark.parametrize(
    ("statuses", "impacts", "maintenance", "expected"),
    [
        ([], [], False, ("none", "All Systems Operational")),
        (["operational", "operational"], [], False, ("none", "All Systems Operational")),
        (
            ["operational", "under_maintenance"],
            [],
            False,
            ("maintenance", "Service Under Maintenance"),
        ),
        (["operational"], [], True, ("maintenance", "Service Under Maintenance")),
        (["operational", "degraded_performance"], [], False, ("minor", "Minor Service Outage")),
        (["operational", "partial_outage"], [], False, ("minor", "Minor Service Outage")),
        (["operational", "major_outage"], [], False, ("major", "Partial System Outage")),
        (["major_outage", "major_outage"], [], False, ("critical", "Major System Outage")),
        (["operational"], ["minor"], False, ("minor", "Minor Service Outage")),
        (["operational"], ["major"], False, ("major", "Partial System Outage")),
        (["operational"], ["critical"], False, ("critical", "Major System Outage")),
        (["operational"], ["none"], False, ("none", "All Systems Operational")),
        (["partial_outage"], ["none"], True, ("minor", "Minor Service Outage")),
        (
            ["under_maintenance", "major_outage"],
            ["minor"],
            True,
            ("major", "Partial System Outage"),
        ),
    ],
)
def test_the_indicator_is_the_worst_of_components_incidents_and_maintenance(
    statuses: list[str], impacts: list[str], maintenance: bool, expected: tuple[str, str]
) -> None:
    assert (
        page_indicator(
            component_statuses=statuses, incident_impacts=impacts, maintenance_active=maintenance
        )
        == expected
    )


def test_status_json_follows_a_component_change(
    components: dict[str, Component], get_json: Get
) -> None:
    assert get_json("status.json")["status"]["indicator"] == "none"
    component_set_status(component=components["Web"], status="degraded_performance")
    status = get_json("status.json")
    assert status["status"] == {"indicator": "minor", "description": "Minor Service Outage"}
    assert set(status) == {"page", "status"}


def test_every_statuspage_endpoint_answers(components: dict[str, Component], get_json: Get) -> None:
    for path, key in [
        ("summary.json", "components"),
        ("status.json", "status"),
        ("components.json", "components"),
        ("incidents.json", "incidents"),
        ("incidents/unresolved.json", "incidents"),
        ("scheduled-maintenances.json", "scheduled_maintenances"),
        ("scheduled-maintenances/upcoming.json", "scheduled_maintenances"),
        ("scheduled-maintenances/active.json", "scheduled_maintenances"),
    ]:
        assert key in get_json(path)
