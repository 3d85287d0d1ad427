"""Serving the snapshot: ETag and 304, CORS, no work per request, up with the database down."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import httpx
import pytest
import time_machine
from django.db import DatabaseError
from django.test import Client

from tocsin.statuspage import snapshot
from tocsin.statuspage.fast import StatusPageApp
from tocsin.statuspage.models import Component
from tocsin.statuspage.services import component_set_status

pytestmark = pytest.mark.django_db
SUMMARY = "/status/api/v2/summary.json"


def test_json_has_cors_cache_control_etag_and_last_modified(
    client: Client, components: dict[str, Component]
) -> None:
    response = client.get(SUMMARY)
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "public, max-age=2"
    assert response["ETag"].startswith('"')
    assert response["Last-Modified"].endswith("GMT")
    assert response["Content-Type"] == "application/json"


def test_an_unchanged_document_answers_304_to_if_none_match_and_if_modified_since(
    client: Client, components: dict[str, Component]
) -> None:
    first = client.get(SUMMARY)
    again = client.get(SUMMARY, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"]
    since = client.get(SUMMARY, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert since.status_code == 304
    other = client.get(SUMMARY, HTTP_IF_NONE_MATCH='"something-else"')
    assert other.status_code == 200


def test_a_change_gives_a_new_etag(client: Client, components: dict[str, Component]) -> None:
    before = client.get(SUMMARY)["ETag"]
    component_set_status(component=components["API"], status="major_outage")
    response = client.get(SUMMARY, HTTP_IF_NONE_MATCH=before)
    assert response.status_code == 200
    assert response["ETag"] != before


def test_a_warm_cache_serves_without_queries(
    client: Client, components: dict[str, Component], django_assert_num_queries: Any
) -> None:
    with time_machine.travel("2026-03-01 12:00:00Z", tick=False):
        client.get("/status/")
        with django_assert_num_queries(0):
            for path in ("/status/", SUMMARY, "/status/history.rss", "/status/api/v2/status.json"):
                assert client.get(path).status_code == 200


def test_after_a_second_one_cheap_version_check_and_no_rebuild(
    client: Client, components: dict[str, Component], django_assert_num_queries: Any
) -> None:
    client.get(SUMMARY)
    snapshot.cache.checked -= snapshot.CHECK_SECONDS
    with django_assert_num_queries(1) as ctx:
        client.get(SUMMARY)
    assert "build" in ctx.captured_queries[0]["sql"]


def test_another_process_sees_a_change_at_its_next_check(
    client: Client, components: dict[str, Component]
) -> None:
    client.get(SUMMARY)
    stale = snapshot.cache.site
    component_set_status(component=components["API"], status="major_outage")
    snapshot.cache.site, snapshot.cache.checked = stale, 0.0  # as in a process that did not write
    assert "major_outage" in client.get(SUMMARY).content.decode()


def test_with_the_database_down_the_last_good_snapshot_is_served(
    client: Client, components: dict[str, Component], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = client.get(SUMMARY).content

    def down(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseError("connection refused")

    monkeypatch.setattr(snapshot.Snapshot.objects, "filter", down)
    snapshot.cache.checked = 0.0
    for _ in range(3):
        response = client.get(SUMMARY)
        assert response.status_code == 200 and response.content == good
    assert client.get("/status/").status_code == 200


def test_unknown_paths_are_404(client: Client, components: dict[str, Component]) -> None:
    assert client.get("/status/api/v2/nope.json").status_code == 404
    assert client.get("/status/incidents/zzzz/").status_code == 404


class _NoThread:
    def ensure(self) -> None:
        pass


def _asgi_get(app: StatusPageApp, path: str, **headers: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.get(path, headers=headers)

    return asyncio.run(go())


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_the_lean_asgi_path_serves_the_same_bytes_and_headers(
    client: Client, components: dict[str, Component], encoding: str
) -> None:
    served = client.get(SUMMARY, HTTP_ACCEPT_ENCODING=encoding)

    async def django_app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the lean path should have answered")

    app = StatusPageApp(django_app, refresher=_NoThread())  # type: ignore[arg-type]
    response = _asgi_get(app, SUMMARY, **{"Accept-Encoding": encoding})
    assert response.status_code == 200
    # httpx undoes the gzip encoding; Django's test client does not.
    assert response.content == (
        gzip.decompress(served.content) if encoding == "gzip" else served.content
    )
    for header in (
        "ETag",
        "Last-Modified",
        "Cache-Control",
        "Access-Control-Allow-Origin",
        "Vary",
        "Content-Length",
    ):
        assert response.headers[header] == served[header], header
    assert response.headers.get("Content-Encoding") == served.get("Content-Encoding")
    assert (
        _asgi_get(
            app, SUMMARY, **{"If-None-Match": served["ETag"], "Accept-Encoding": encoding}
        ).status_code
        == 304
    )


def test_clients_that_accept_gzip_get_the_compressed_body(
    client: Client, components: dict[str, Component]
) -> None:
    plain = client.get("/status/", HTTP_ACCEPT_ENCODING="identity")
    packed = client.get("/status/", HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.content) == plain.content
    assert len(packed.content) < len(plain.content) / 3
    assert plain["Vary"] == packed["Vary"] == "Accept-Encoding"
    assert packed["ETag"] != plain["ETag"]  # two representations, two strong validators
    # Either validator means "unchanged".
    for etag in (plain["ETag"], packed["ETag"]):
        again = client.get("/status/", HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 304 and "Content-Encoding" not in again
    refused = client.get("/status/", HTTP_ACCEPT_ENCODING="gzip;q=0, *;q=1")
    assert "Content-Encoding" not in refused and refused.content == plain.content
    starred = client.get("/status/", HTTP_ACCEPT_ENCODING="*")
    assert starred["Content-Encoding"] == "gzip"


def test_small_documents_are_not_compressed(
    client: Client, components: dict[str, Component]
) -> None:
    response = client.get("/status/api/v2/status.json", HTTP_ACCEPT_ENCODING="gzip")
    assert len(response.content) < snapshot.GZIP_MIN_BYTES
    assert "Content-Encoding" not in response and "Vary" not in response


def test_the_lean_asgi_path_hands_forms_and_misses_to_django(
    components: dict[str, Component], client: Client
) -> None:
    client.get(SUMMARY)
    seen: list[str] = []

    async def django_app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = StatusPageApp(django_app, refresher=_NoThread())
    _asgi_get(app, "/status/api/v2/missing.json")
    _asgi_get(app, "/incidents/")
    assert seen == ["/status/api/v2/missing.json", "/incidents/"]


def test_the_lean_asgi_path_leaves_a_host_it_does_not_serve_to_django(
    components: dict[str, Component], client: Client, settings: Any
) -> None:
    client.get(SUMMARY)
    settings.ALLOWED_HOSTS = ["status.example.com"]
    seen: list[str] = []

    async def django_app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope["headers"])[b"host"].decode())
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = StatusPageApp(django_app, refresher=_NoThread())
    assert _asgi_get(app, SUMMARY, Host="evil.example.net").status_code == 400
    assert _asgi_get(app, SUMMARY, Host="status.example.com").status_code == 200
    assert seen == ["evil.example.net"]
