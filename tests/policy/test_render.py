"""`tocsin render-guide` writes the policy as a readable guide that matches what runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import SHARED
from tocsin.policy.config.loader import config_load
from tocsin.policy.render import render_guide

EXAMPLE = SHARED / "examples" / "tocsin.yaml"


def test_the_guide_has_the_severity_table_and_the_matrix() -> None:
    guide = render_guide(config_load(EXAMPLE))
    assert "| P1 | Critical | Complete service outage" in guide
    assert "| 5m | 1h | 15m | page at any hour |" in guide
    assert "## Escalation matrix" in guide
    matrix = guide.split("## Escalation matrix")[1].split("##")[0]
    assert "after 30m" in matrix
    assert "+ **Engineering Manager**" in matrix


def test_the_guide_lists_deadlines_checklists_templates_and_runbooks() -> None:
    guide = render_guide(config_load(EXAMPLE))
    assert "**Deadline: Rollback decision**: 15m after triggered" in guide
    assert "- [ ] Determine severity level" in guide
    assert "### slack-initial (chat, declared)" in guide
    assert "### RB-ERR-001: High Error Rates" in guide
    assert "Rollback: `kubectl rollout undo deployment/alloy-api`" in guide


def test_the_command_writes_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "guide.md"
    call_command("render_guide", str(EXAMPLE), "-o", str(out))
    assert out.read_text().startswith("# Example Status: incident response guide")


def test_a_bad_file_is_an_error_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("severities:\n  - name: P1\n    respond_within: 15mins\n")
    with pytest.raises(CommandError, match=r"bad\.yaml:3"):
        call_command("render_guide", str(bad))
