"""``tocsin export``: the configuration written back, applied again without any change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.policy.helpers import DEMO, SHARED_EXAMPLE, run
from tocsin.policy.config.durations import parse_duration
from tocsin.policy.config.loader import config_load, config_parse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", [SHARED_EXAMPLE, DEMO], ids=["shared-example", "demo"])
def test_export_round_trips(path: Path, tmp_path: Path) -> None:
    run("config_apply", str(path))
    exported = tmp_path / "exported.yaml"
    run("config_export", "-o", str(exported))
    assert run("config_apply", str(exported)).endswith("no changes\n")
    assert run("config_export") == exported.read_text()
    assert _meaning(config_parse(exported.read_text())) == _meaning(config_load(path))


def test_export_writes_durations_as_written(tmp_path: Path) -> None:
    run("config_apply", str(SHARED_EXAMPLE))
    text = run("config_export")
    assert "notify: [{after: 0m, via: work-email}, {after: 2m, via: chat}]" in text
    assert "postmortem: {within: 3bd, template: standard}" in text
    assert "holidays: [2026-12-25, 2027-01-01]" in text


def test_an_empty_database_exports_an_empty_configuration() -> None:
    text = run("config_export")
    assert config_parse(text).model_dump(exclude_unset=True) == {}


def _meaning(config: Any) -> dict[str, Any]:
    """The configuration with the order of people, teams, roles and services left out."""
    data: dict[str, Any] = config.model_dump(mode="json", by_alias=True, exclude_unset=True)
    for person in data.get("people", []):
        for rule in person.get("notify", []):
            rule["after"] = parse_duration(rule["after"]).seconds
    for team in data.get("teams", []):
        team["members"] = sorted(team.get("members", []))
    data["roles"] = {title: sorted(emails) for title, emails in data.get("roles", {}).items()}
    for section, key in (("people", "email"), ("teams", "name"), ("services", "name")):
        data[section] = sorted(data.get(section, []), key=lambda item: item[key])
    return data
