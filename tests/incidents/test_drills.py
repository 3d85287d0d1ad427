"""Drills start a real incident from the policy, flagged so metrics leave it out."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import ROOT
from tocsin.engine.worker import run_once
from tocsin.incidents.models import Incident

pytestmark = pytest.mark.django_db
ALLOY = ROOT / "examples" / "policies" / "alloy.yaml"


def test_a_drill_from_the_alloy_policy_pages_marked_drill(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("config_apply", str(ALLOY))
    capsys.readouterr()
    call_command("drill")
    names = capsys.readouterr().out.split("\n")
    assert names[0]
    service = Incident._meta.apps.get_model("alerts", "Service").objects.first()
    call_command("drill", names[0], "--service", service.name)
    incident = Incident.objects.get()
    assert incident.is_drill
    assert incident.title.startswith("[DRILL]")
    run_once()
    assert mail.outbox
    assert all("DRILL" in m.subject for m in mail.outbox)


def test_an_unknown_drill_names_the_known_ones() -> None:
    call_command("config_apply", str(ALLOY))
    with pytest.raises(CommandError, match="the policy has"):
        call_command("drill", "Nope")
