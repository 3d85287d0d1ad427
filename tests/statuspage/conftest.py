"""Status page fixtures: rebuilds run at once (test transactions never commit), clean cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tocsin.statuspage import snapshot
from tocsin.statuspage.models import Component


@pytest.fixture(autouse=True)
def rebuild_at_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``page_changed`` rebuilds after commit; in a test that is never, so rebuild now."""
    monkeypatch.setattr(snapshot, "_on_commit", lambda fn: fn())
    snapshot.cache.clear()
    yield
    snapshot.cache.clear()


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


@pytest.fixture
def get_json(client: Any) -> Callable[[str], Any]:
    def get(path: str) -> Any:
        response = client.get(f"/status/api/v2/{path}")
        assert response.status_code == 200, response.content
        return response.json()

    return get
