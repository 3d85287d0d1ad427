"""Posting to the ingestion endpoints as a monitoring tool would."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client

from tests.alerts.helpers import Post

if TYPE_CHECKING:
    # Only in django-stubs: the test client's response, with .json().
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse


@pytest.fixture
def post() -> Post:
    """POST a JSON value, or raw bytes as they are; ``headers`` as META keys (HTTP_X_...)."""
    client = Client()

    def call(path: str, body: Any, **headers: Any) -> TestResponse:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        response: TestResponse = client.post(
            path, data=data, content_type="application/json", **headers
        )
        return response

    return call
