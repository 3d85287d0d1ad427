"""The `tocsin` command maps its verbs onto management commands."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.cli import _command_line
from tocsin.incidents.models import Incident


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["check", "f.yaml"], ["config_check", "f.yaml"]),
        (["apply", "f.yaml", "--prune"], ["config_apply", "f.yaml", "--prune"]),
        (["policy", "load", "f.yaml"], ["config_apply", "f.yaml"]),
        (["serve", "--port", "9000"], ["tocsin_serve", "--port", "9000"]),
        (["migrate"], ["migrate", "--no-input"]),
        (["django", "shell"], ["shell"]),
        (["token", "create", "--email", "a@b.c"], ["token", "create", "--email", "a@b.c"]),
    ],
)
def test_verbs_map_to_management_commands(argv: list[str], expected: list[str]) -> None:
    assert _command_line(argv) == expected


def test_no_arguments_prints_usage() -> None:
    assert _command_line([]) is None
    assert _command_line(["--help"]) is None


@pytest.mark.django_db
def test_createuser_and_token_create_print_what_was_made(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("createuser", "--email", "Erin@Example.com", "--admin")
    out = capsys.readouterr().out
    assert "user erin@example.com (admin)" in out
    assert "password: " in out
    user = User.objects.get(email="erin@example.com")
    assert user.is_superuser
    call_command("token", "create", "--email", "erin@example.com")
    token = capsys.readouterr().out.strip()
    assert token.startswith("tocsin_")
    assert "\n" not in token


@pytest.mark.django_db
def test_createuser_refuses_a_bad_email() -> None:
    with pytest.raises(CommandError, match="--email"):
        call_command("createuser", "--email", "not-an-email")


@pytest.mark.django_db
def test_token_create_for_an_unknown_person_is_an_error() -> None:
    with pytest.raises(CommandError, match="no user"):
        call_command("token", "create", "--email", "ghost@example.com")


@pytest.mark.django_db
def test_incident_declare_ack_resolve_from_the_cli(
    service: Service, alice: User, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command(
        "incident",
        "declare",
        "--title",
        "Checkout down",
        "--severity",
        "P1",
        "--service",
        "Checkout API",
        "--as",
        "alice@example.com",
    )
    assert capsys.readouterr().out.startswith("#1\ttriggered\tP1\tCheckout API")
    call_command("incident", "ack", "#1", "--as", "alice@example.com")
    assert Incident.objects.get(number=1).acknowledged_by == alice
    call_command("incident", "resolve", "1", "--message", "rolled back")
    assert Incident.objects.get(number=1).status == "resolved"
    with pytest.raises(CommandError, match="resolved"):
        call_command("incident", "ack", "1")
    with pytest.raises(CommandError, match="no incident"):
        call_command("incident", "ack", "42")
    with pytest.raises(CommandError, match="--service"):
        call_command("incident", "declare", "--title", "x", "--service", "Nope")


@pytest.mark.django_db
def test_incident_escalate_pages_a_chosen_role(
    service: Service, alice: User, bob: User, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core import mail

    from tocsin.accounts.models import ContactMethod, Role
    from tocsin.engine.worker import run_once

    ContactMethod.objects.create(user=bob, name="mail", kind="email", target=bob.email)
    Role.objects.create(name="CTO").members.set([bob])
    call_command("incident", "declare", "--title", "Checkout down")
    call_command("incident", "escalate", "1", "--to-role", "CTO", "--as", alice.email)
    assert "paging bob@example.com" in capsys.readouterr().out
    run_once()
    assert [m.to[0] for m in mail.outbox] == ["bob@example.com"]
    with pytest.raises(CommandError, match="--to-role"):
        call_command("incident", "escalate", "1", "--to-role", "Nobody")
