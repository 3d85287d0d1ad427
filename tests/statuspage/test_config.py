"""``status_page.components`` from the configuration file become components."""

from __future__ import annotations

import pytest
from django.test import Client

from tocsin.policy.config import schema
from tocsin.policy.config.apply import config_apply
from tocsin.statuspage.models import Component

pytestmark = pytest.mark.django_db


def config(components: list[dict[str, str]]) -> schema.Config:
    return schema.Config.model_validate(
        {"status_page": {"title": "Acme", "components": components}}
    )


def test_components_are_created_in_order_with_their_groups(client: Client) -> None:
    summary = config_apply(
        config=config(
            [
                {"name": "API", "description": "REST"},
                {"name": "Cards", "group": "Payments"},
                {"name": "Wallets", "group": "Payments"},
            ]
        )
    )
    rows = list(Component.objects.values_list("name", "is_group", "group__name", "position"))
    assert rows == [
        ("API", False, None, 1),
        ("Payments", True, None, 2),
        ("Cards", False, "Payments", 3),
        ("Wallets", False, "Payments", 4),
    ]
    assert summary.counts["components"]["created"] == 4
    assert "components:" in str(summary)
    page = client.get("/status/api/v2/components.json").json()
    assert page["page"]["name"] == "Acme"


def test_applying_again_updates_and_prunes_only_with_prune(db: None) -> None:
    config_apply(config=config([{"name": "API"}, {"name": "Web"}]))
    api = Component.objects.get(name="API")
    api.status = "major_outage"
    api.save(update_fields=["status"])

    summary = config_apply(config=config([{"name": "Web"}, {"name": "API", "description": "v2"}]))
    assert summary.counts["components"]["updated"] == 2
    api.refresh_from_db()
    assert (api.position, api.description, api.status) == (2, "v2", "major_outage")

    config_apply(config=config([{"name": "Web"}]))
    assert Component.objects.filter(name="API").exists()
    summary = config_apply(config=config([{"name": "Web"}]), prune=True)
    assert summary.counts["components"]["pruned"] == 1
    assert list(Component.objects.values_list("name", flat=True)) == ["Web"]
    assert config_apply(config=config([{"name": "Web"}])).counts["components"]["unchanged"] == 1
