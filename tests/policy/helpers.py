"""Run the configuration commands as a user would, and capture what they print."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[2]
SHARED_EXAMPLE = ROOT.parent / "shared" / "examples" / "tocsin.yaml"
DEMO = ROOT / "examples" / "demo.yaml"


def run(command: str, *args: str) -> str:
    """Run a management command; return its stdout."""
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def problems(command: str, *args: str) -> list[str]:
    """Run a command that must fail; return the problems it printed, one per line."""
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(command, *args, stdout=io.StringIO(), stderr=err)
    return err.getvalue().splitlines()
