"""Finding the open incident of an alert group."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from tocsin.alerts.models import Service
from tocsin.incidents.models import Incident
from tocsin.incidents.selectors import OPEN_GROUPS_QUERY, open_incidents_for_groups
from tocsin.incidents.services import Opening, incident_open, incident_resolve

pytestmark = pytest.mark.django_db


def _open(service: Service | None, group_key: str) -> Incident:
    return incident_open(
        Opening(title=group_key, at=timezone.now(), service=service, group_key=group_key)
    )


def test_it_finds_the_open_incident_of_each_service_and_group_only() -> None:
    web = Service.objects.create(name="web")
    db = Service.objects.create(name="db")
    disk = _open(web, "disk")
    cpu = _open(web, "cpu")
    _open(db, "disk")  # same group key, other service
    gone = _open(web, "memory")
    incident_resolve(incident=gone, message="fixed")
    orphan = _open(None, "disk")  # no service: not in the grouping index

    found = open_incidents_for_groups(
        {(web.id, "disk"), (web.id, "cpu"), (web.id, "memory"), (web.id, "nothing"), (None, "disk")}
    )

    assert [i.id for i in found[:2]] == sorted([disk.id, cpu.id])  # oldest first
    assert {i.id for i in found} == {disk.id, cpu.id, orphan.id}
    assert open_incidents_for_groups(set()) == []


def test_the_lookup_searches_the_grouping_index() -> None:
    # Filtering by status read every open incident: in a storm of distinct alerts each worker
    # batch grew slower. The index is used only while the query states its condition.
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's query plan")
    sql = f"WITH k(service_id, group_key) AS (VALUES (%s, %s), (%s, %s)) {OPEN_GROUPS_QUERY}"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", [1, "a", 2, "b"])
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "USING INDEX incident_one_open_per_group (service_id=? AND group_key=?)" in plan
