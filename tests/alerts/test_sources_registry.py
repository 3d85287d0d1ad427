"""Conventions: every registered alert source has a parser test module and recorded fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tocsin.alerts.models import Integration
from tocsin.alerts.sources import PARSERS

HERE = Path(__file__).parent
# The generic webhook is exercised with other tools' recorded payloads.
FIXTURE_DIRECTORIES = {"webhook": ["datadog", "opsgenie", "sentry"]}


def test_every_integration_kind_has_a_parser() -> None:
    assert set(PARSERS) == set(Integration.Kind.values)


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_every_source_has_a_test_module_and_fixtures(kind: str) -> None:
    assert (HERE / f"test_{kind}.py").exists()
    for directory in FIXTURE_DIRECTORIES.get(kind, [kind]):
        assert list((FIXTURES / directory).glob("*.json")), directory
