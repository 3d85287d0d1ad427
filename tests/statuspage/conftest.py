"""Status page fixtures: rebuilds run at once (test transactions never commit), clean cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tocsin.statuspage import snapshot


@pytest.fixture(autouse=True)
def rebuild_at_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``page_changed`` rebuilds after commit; in a test that is never, so rebuild now."""
    monkeypatch.setattr(snapshot, "_on_commit", lambda fn: fn())
    snapshot.cache.clear()
    yield
    snapshot.cache.clear()


@pytest.fixture
def get_json(client: Any) -> Callable[[str], Any]:
    def get(path: str) -> Any:
        response = client.get(f"/status/api/v2/{path}")
        assert response.status_code == 200, response.content
        return response.json()

    return get
