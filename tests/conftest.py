"""Shared fixtures: people (alice, bob, carol), a service with integrations, an API client."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tocsin.accounts.models import User
from tocsin.accounts.services import token_create, user_create
from tocsin.alerts.models import Integration, Service
from tocsin.statuspage.models import Component

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"


def fixture_json(relpath: str) -> Any:
    """Load a recorded payload from ../shared/fixtures/."""
    return json.loads((FIXTURES / relpath).read_text())


@pytest.fixture
def alice(db: None) -> User:
    return user_create(email="alice@example.com", password="alice-pass-123", name="Alice Ng")


@pytest.fixture
def bob(db: None) -> User:
    return user_create(email="bob@example.com", password="bob-pass-123", name="Bob Ortiz")


@pytest.fixture
def service(db: None) -> Service:
    svc = Service.objects.create(
        name="Checkout API",
        severity_map={"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"},
    )
    for kind, key in [
        ("alertmanager", "am-checkout-1"),
        ("pagerduty", "9f1c2d3e4b5a69788796a5b4c3d2e1f0"),
        ("grafana", "gf-checkout-1"),
        ("webhook", "wh-checkout-1"),
    ]:
        Integration.objects.create(service=svc, kind=kind, key=key)
    return svc


@pytest.fixture
def api(alice: User) -> Callable[..., Any]:
    """Call the JSON API as alice: ``api("get", "/incidents")`` -> (status, json)."""
    token = token_create(user=alice)
    client = Client()

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = getattr(client, method)(
            "/api/v1" + path,
            data=json.dumps(body) if body is not None else None,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        return response.status_code, response.json() if response.content else None

    return call


@pytest.fixture
def components(db: None) -> dict[str, Component]:
    """The shop's page: API and Web, a Payments group with Cards and Wallets."""
    from tocsin.policy.config.apply_statuspage import apply_components
    from tocsin.policy.config.schema import Component as Spec

    apply_components(
        [
            Spec(name="API", description="Public REST API"),
            Spec(name="Web", description="Storefront"),
            Spec(name="Cards", group="Payments"),
            Spec(name="Wallets", group="Payments"),
        ],
        prune=False,
    )
    return {c.name: c for c in Component.objects.all()}
