"""``tocsin apply FILE [--prune]``: idempotent, all or nothing, matched by natural keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management.base import CommandError

from tests.policy.helpers import DEMO, SHARED_EXAMPLE, problems, run
from tocsin.accounts.models import ContactMethod, Role, Team, User
from tocsin.alerts.models import Integration, Service
from tocsin.policy.config import apply as apply_module
from tocsin.policy.models import ConfigSection, Severity, WorkCalendar

pytestmark = pytest.mark.django_db

SMALL = """\
people:
  - {email: alice@example.com, name: Alice Ng, contact: [{name: mail, email: alice@example.com}]}
teams:
  - {name: Platform, members: [alice@example.com]}
roles:
  Engineering Manager: [alice@example.com]
services:
  - name: Checkout API
    team: Platform
    integrations: [{kind: alertmanager, key: am-checkout-1}]
severities:
  - {name: P1, title: Critical}
"""


def squash(text: str) -> str:
    """Collapse runs of spaces, so tests read counts, not column layout."""
    return " ".join(text.split())


def test_it_loads_people_with_their_contacts_and_rules() -> None:
    run("config_apply", str(SHARED_EXAMPLE))
    alice = User.objects.get(email="alice@example.com")
    assert (alice.name, alice.timezone, alice.has_usable_password()) == (
        "Alice Ng",
        "America/New_York",
        False,
    )
    contacts = list(alice.contact_methods.values_list("name", "kind", "target", "position"))
    assert contacts == [
        ("work-email", "email", "alice@example.com", 0),
        ("chat", "apprise", "json://127.0.0.1:9999/alice", 1),
        ("hook", "webhook", "http://127.0.0.1:9999/hooks/alice", 2),
    ]
    rules = alice.notification_rules.order_by("position")
    assert [(r.after_seconds, r.contact_method.name) for r in rules] == [
        (0, "work-email"),
        (120, "chat"),
    ]


def test_it_loads_teams_roles_services_severities_and_sections() -> None:
    run("config_apply", str(SHARED_EXAMPLE))
    platform = Team.objects.get(name="Platform")
    assert sorted(platform.members.values_list("email", flat=True)) == [
        "alice@example.com",
        "bob@example.com",
        "erin@example.com",
    ]
    cto = Role.objects.get(name="CTO")
    assert list(cto.members.values_list("email", flat=True)) == ["dave@example.com"]
    service = Service.objects.get(name="Checkout API")
    assert (service.team, service.escalation_policy, service.runbooks) == (
        platform,
        "Platform default",
        ["RB-ERR-001"],
    )
    assert service.severity_map == {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"}
    assert service.integrations.count() == 4
    p1 = Severity.objects.get(name="P1")
    assert (p1.rank, p1.title, p1.spec["respond_within"], p1.spec["postmortem"]) == (
        0,
        "Critical",
        "5m",
        {"within": "3bd", "template": "standard"},
    )
    assert list(Severity.objects.values_list("name", flat=True)) == ["P1", "P2", "P3", "P4"]
    sections: dict[str, Any] = dict(ConfigSection.objects.values_list("name", "data"))
    assert sections["commander_schedule"] == "Incident commanders"
    assert sections["schedules"][0]["layers"][0]["start"] == "2026-11-02"
    assert WorkCalendar.current().holidays == ["2026-12-25", "2027-01-01"]


def test_integration_options_are_stored_in_config() -> None:
    run("config_apply", str(DEMO))
    grafana = Integration.objects.get(key="demo-grafana")
    webhook = Integration.objects.get(key="demo-webhook")
    assert grafana.config == {"secret": "demo-grafana-secret"}
    assert webhook.config == {
        "fields": {
            "title": "check.name",
            "dedup_key": "check.id",
            "severity": "check.level",
            "status": "state",
        },
        "resolved_values": ["up", "ok"],
    }
    assert Integration.objects.get(key="demo-alertmanager").config == {}


def test_applying_twice_changes_nothing() -> None:
    run("config_apply", str(SHARED_EXAMPLE))
    before = _snapshot()
    output = run("config_apply", str(SHARED_EXAMPLE))
    assert "0 created, 0 updated" in output
    assert " created, " not in output.replace("0 created, ", "")
    assert output.endswith("no changes\n")
    assert _snapshot() == before


def test_it_updates_in_place_and_keeps_passwords(tmp_path: Path, alice: User) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(SMALL)
    run("config_apply", str(path))
    path.write_text(
        SMALL.replace("Alice Ng", "Alice N.").replace(
            "email: alice@example.com}", "apprise: 'json://h/a'}"
        )
    )
    output = run("config_apply", str(path))
    assert "people: 0 created, 1 updated" in squash(output)
    alice.refresh_from_db()
    assert alice.name == "Alice N."
    assert alice.check_password("alice-pass-123")
    assert list(alice.contact_methods.values_list("kind", "target")) == [("apprise", "json://h/a")]


def test_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.yaml"
    path.write_text(SMALL.replace("kind: alertmanager", "kind: nagios"))
    assert problems("config_apply", str(path)) == [
        f"{path}:10 services[0].integrations[0].kind: unknown kind 'nagios'"
        " (use alertmanager, pagerduty, grafana, webhook)"
    ]
    assert not User.objects.exists()
    assert not Team.objects.exists()


def test_a_failure_halfway_rolls_everything_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(apply_module, "_apply_severities", explode)
    with pytest.raises(RuntimeError):
        run("config_apply", str(SHARED_EXAMPLE))
    assert not User.objects.exists()
    assert not Service.objects.exists()


def test_without_prune_nothing_is_removed(tmp_path: Path) -> None:
    run("config_apply", str(SHARED_EXAMPLE))
    path = tmp_path / "tocsin.yaml"
    path.write_text(SMALL)
    run("config_apply", str(path))
    assert Team.objects.count() == 1
    assert User.objects.filter(is_active=True).count() == 5
    assert Role.objects.count() == 3
    assert Integration.objects.count() == 4
    assert Severity.objects.count() == 4


def test_prune_removes_what_the_file_no_longer_lists(tmp_path: Path) -> None:
    run("config_apply", str(SHARED_EXAMPLE))
    admin = User.objects.create_superuser("root@example.com", "root-pass-123")
    path = tmp_path / "tocsin.yaml"
    path.write_text(SMALL)
    output = run("config_apply", str(path), "--prune")
    assert "people: 0 created, 1 updated, 0 unchanged, 4 pruned" in squash(output)
    assert "integrations: 0 created, 0 updated, 1 unchanged, 3 pruned" in squash(output)
    active = User.objects.filter(is_active=True).values_list("email", flat=True)
    assert sorted(active) == ["alice@example.com", "root@example.com"]
    assert User.objects.count() == 6  # people are deactivated, never deleted
    assert list(Role.objects.values_list("name", flat=True)) == ["Engineering Manager"]
    assert list(Integration.objects.values_list("key", flat=True)) == ["am-checkout-1"]
    assert list(Severity.objects.values_list("name", flat=True)) == ["P1"]
    assert not ConfigSection.objects.exists()
    admin.refresh_from_db()
    assert admin.is_active


def test_demo_creates_the_admin_only_the_first_time() -> None:
    first = run("demo", str(DEMO))
    assert "Email:     admin@example.com" in first
    password = first.split("Password:")[1].split()[0]
    admin = User.objects.get(email="admin@example.com")
    assert admin.is_superuser and admin.check_password(password)
    second = run("demo", str(DEMO))
    assert "admin already exists: admin@example.com" in second
    assert password not in second


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"nope\.yaml"):
        run("config_apply", str(tmp_path / "nope.yaml"))


def _snapshot() -> list[object]:
    return [
        list(User.objects.values_list("email", "name", "timezone", "is_active", "password")),
        list(ContactMethod.objects.values("user__email", "name", "kind", "target", "position")),
        list(Team.objects.values_list("name", "members__email").order_by("name", "members__email")),
        list(Service.objects.values()),
        list(Integration.objects.values("key", "kind", "config", "service__name")),
        list(Severity.objects.values()),
        list(ConfigSection.objects.values("name", "data")),
    ]
