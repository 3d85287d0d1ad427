"""Fixtures for the end-to-end tests: one live, configured Tocsin for the session."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from harness import Configured, TocsinServer


@pytest.fixture(scope="session")
def tocsin() -> Iterator[Configured]:
    """``tocsin serve`` with one service per source (tests filter incidents by service)."""
    with TocsinServer() as server:
        configured = Configured(
            server,
            alertmanager_key=f"am-e2e-{secrets.token_hex(4)}",
            pagerduty_key=secrets.token_hex(16),  # PagerDuty routing keys are 32 characters
        )
        server.configure(configured.services())
        services = server.api("get", "/services")
        keys = {(i["kind"], i["key"]) for s in services for i in s["integrations"]}
        expected = {
            ("alertmanager", configured.alertmanager_key),
            ("pagerduty", configured.pagerduty_key),
        }
        assert expected <= keys, services
        yield configured
