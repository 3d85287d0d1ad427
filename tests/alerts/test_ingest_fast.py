"""The lean ASGI ingestion path (group commit) answers exactly as the Django views do."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from tests.alerts.helpers import PD_KEY, URLS
from tests.alerts.test_ingest_errors import fixture_files, url_for, valid_body
from tocsin.alerts import services
from tocsin.alerts.ingest_fast import GroupCommitWriter, IngestApp, Overloaded
from tocsin.alerts.models import Alert, ChangeEvent, Service
from tocsin.engine.models import Timer

pytestmark = pytest.mark.django_db(transaction=True)

Answer = tuple[int, Any, dict[str, str]]
COMPARED_HEADERS = ("content-type", "retry-after", "allow", "x-content-type-options")


@pytest.fixture
def app() -> Iterator[IngestApp]:
    lean = IngestApp(get_asgi_application())
    yield lean
    lean.close()


def _answer(status: int, content: bytes, headers: Callable[[str], str | None]) -> Answer:
    body: Any = json.loads(content) if content else None
    if isinstance(body, dict) and "dedup_key" in body and body["dedup_key"]:
        body["dedup_key"] = body["dedup_key"] if len(body["dedup_key"]) != 32 else "<generated>"
    return status, body, {h: headers(h) or "" for h in COMPARED_HEADERS}


def lean_post(app: IngestApp, path: str, body: bytes, method: str = "POST") -> Answer:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(
                method, path, content=body, headers={"content-type": "application/json"}
            )

    response = asyncio.run(go())
    return _answer(response.status_code, response.content, response.headers.get)


def django_post(path: str, body: bytes, method: str = "POST") -> Answer:
    client = Client()
    response = client.generic(method, path, data=body, content_type="application/json")
    return _answer(response.status_code, response.content, response.headers.get)


def forget_everything() -> None:
    Alert.objects.all().delete()
    Timer.objects.all().delete()
    ChangeEvent.objects.all().delete()


def both(app: IngestApp, path: str, body: bytes, method: str = "POST") -> tuple[Answer, Answer]:
    """The same request through Django, then (on a clean slate) through the lean path."""
    forget_everything()
    through_django = django_post(path, body, method)
    stored = sorted(Alert.objects.values_list("fingerprint", "status", "count", "title"))
    forget_everything()
    through_lean = lean_post(app, path, body, method)
    assert sorted(Alert.objects.values_list("fingerprint", "status", "count", "title")) == stored
    return through_django, through_lean


@pytest.mark.parametrize(("source", "path"), list(fixture_files()), ids=lambda v: str(v)[-40:])
def test_every_fixture_gets_the_same_answer_on_both_paths(
    service: Service, app: IngestApp, source: str, path: Path
) -> None:
    raw = path.read_bytes()
    if source == "pagerduty":
        data = json.loads(raw)
        if isinstance(data, dict) and "routing_key" in data:
            data["routing_key"] = PD_KEY
        raw = json.dumps(data).encode()

    through_django, through_lean = both(app, url_for(source, path), raw)

    assert through_lean == through_django


# Past the last year once in UTC (Python's datetime has no year 10000; PostgreSQL stored it and
# then could not read it back), nested past what encoding the body again for storage survives.
FAR = "9999-12-31T23:59:59-05:00"


def _nested(depth: int) -> bytes:
    return b'{"title": "deep", "status": "firing", "x": ' + b"[" * depth + b"]" * depth + b"}"


EDGES = [
    (
        "am far time",
        URLS["alertmanager"],
        {
            "version": "4",
            "groupKey": "g",
            "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "startsAt": FAR}],
        },
        "POST",
    ),
    (
        "pd far time",
        URLS["pagerduty"],
        {
            **valid_body("pagerduty"),
            "payload": {"summary": "s", "source": "h", "severity": "info", "timestamp": FAR},
        },
        "POST",
    ),
    (
        "change far",
        URLS["change"],
        {"routing_key": PD_KEY, "payload": {"summary": "d", "timestamp": FAR}},
        "POST",
    ),
    ("deep", URLS["webhook"], _nested(200), "POST"),
    ("deeper", URLS["webhook"], _nested(919), "POST"),  # decoded, then failed to encode: 500
    ("nul key", "/integrations/webhook/a%00b", valid_body("webhook"), "POST"),
]
EXPECTED = {
    "am far time": 400,
    "pd far time": 202,
    "change far": 202,
    "deep": 400,
    "deeper": 400,
    "nul key": 404,
}


@pytest.mark.parametrize(("name", "path", "body", "method"), EDGES, ids=[e[0] for e in EDGES])
def test_edge_inputs_get_a_clear_answer(
    service: Service, app: IngestApp, name: str, path: str, body: Any, method: str
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    status, body, _headers = lean_post(app, path, raw, method)

    assert status == EXPECTED[name], body
    if name == "am far time":
        assert "startsAt" in str(body)
    if name == "deep":
        assert "nested too deeply (more than 64 levels)" in str(body)
    if name == "pd far time":  # PagerDuty ignores a time it cannot use: so do we
        assert Alert.objects.get().starts_at is None


@pytest.mark.parametrize(
    ("name", "path", "body", "method"),
    [
        ("unknown key", "/integrations/alertmanager/nope", valid_body("alertmanager"), "POST"),
        ("wrong kind", "/integrations/webhook/am-checkout-1", valid_body("webhook"), "POST"),
        ("bad json", URLS["alertmanager"], b'{"alerts": [', "POST"),
        ("trailing slash", URLS["alertmanager"] + "/", valid_body("alertmanager"), "POST"),
        ("GET", URLS["pagerduty"], b"", "GET"),
        ("GET grafana", URLS["grafana"], b"", "GET"),
        ("PUT grafana", URLS["grafana"], valid_body("grafana"), "PUT"),
        (
            "pd unknown key",
            URLS["pagerduty"],
            {**valid_body("pagerduty"), "routing_key": "x" * 32},
            "POST",
        ),
        ("pd not json", URLS["pagerduty"], b"nope", "POST"),
        (
            "pd ack",
            URLS["pagerduty"],
            {"routing_key": PD_KEY, "event_action": "acknowledge", "dedup_key": "x"},
            "POST",
        ),
        ("change", URLS["change"], valid_body("change"), "POST"),
        ("change invalid", URLS["change"], {"routing_key": PD_KEY, "payload": {}}, "POST"),
        ("too large", URLS["webhook"], {"x": "y" * settings.MAX_ALERT_BODY_BYTES}, "POST"),
        ("pd too large", URLS["pagerduty"], {"x": "y" * settings.MAX_ALERT_BODY_BYTES}, "POST"),
        # Both 400; which check refuses it first depends on the stack depth left (the test
        # thread's differs from the event loop's), so the messages may differ.
        *[edge for edge in EDGES if edge[0] != "deeper"],
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "",
)
def test_errors_and_edge_cases_get_the_same_answer(
    service: Service, app: IngestApp, name: str, path: str, body: Any, method: str
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    through_django, through_lean = both(app, path, raw, method)

    assert through_lean == through_django, name


def test_other_paths_go_to_django(service: Service, app: IngestApp) -> None:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get("/healthz")

    response = asyncio.run(go())

    assert response.status_code in {200, 503}
    assert "database" in response.json()


def test_concurrent_requests_share_commits_and_every_2xx_is_a_row(
    service: Service, app: IngestApp
) -> None:
    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

            async def one(i: int) -> int:
                body = {**valid_body("pagerduty"), "dedup_key": f"k-{i}"}
                return (await client.post(URLS["pagerduty"], json=body)).status_code

            return await asyncio.gather(*(one(i) for i in range(200)))

    statuses = asyncio.run(go())

    assert statuses == [202] * 200
    assert Alert.objects.count() == 200
    assert Timer.objects.filter(kind="alert.process").count() == 200
    assert app.writer.items == 200
    assert app.writer.batches < 200  # some requests shared a transaction


def test_a_database_error_answers_retry_later_in_each_senders_terms(
    service: Service, app: IngestApp
) -> None:
    with mock.patch.object(
        services, "alerts_ingest_prepared", side_effect=OperationalError("disk I/O error")
    ):
        am = lean_post(app, URLS["alertmanager"], json.dumps(valid_body("alertmanager")).encode())
        pd = lean_post(app, URLS["pagerduty"], json.dumps(valid_body("pagerduty")).encode())

    assert am[0] == 503
    assert am[2]["retry-after"] == "5"
    assert pd[0] == 429
    assert pd[1]["status"] == "throttle event"
    assert not Alert.objects.exists()


def _blocked_writer(**options: Any) -> tuple[GroupCommitWriter, threading.Event]:
    """A writer whose first job waits for the returned event (to queue work behind it)."""
    writer = GroupCommitWriter(**options)
    release = threading.Event()
    return writer, release


def test_a_full_queue_is_refused_at_once(service: Service) -> None:
    writer, release = _blocked_writer(capacity=1)
    lean = IngestApp(get_asgi_application(), writer=writer)

    async def go() -> tuple[Answer, Answer]:
        blocker = asyncio.ensure_future(writer.call(lambda: release.wait(10)))
        await asyncio.sleep(0.05)
        transport = httpx.ASGITransport(app=lean)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            am = await client.post(URLS["alertmanager"], json=valid_body("alertmanager"))
            pd = await client.post(URLS["pagerduty"], json=valid_body("pagerduty"))
        release.set()
        await blocker
        return (
            _answer(am.status_code, am.content, am.headers.get),
            _answer(pd.status_code, pd.content, pd.headers.get),
        )

    try:
        am, pd = asyncio.run(go())
    finally:
        lean.close()

    assert (am[0], am[2]["retry-after"]) == (503, "5")
    assert (pd[0], pd[2]["retry-after"]) == (429, "5")
    assert not Alert.objects.exists()


def test_only_the_failing_item_of_a_batch_fails(db: None) -> None:
    writer, release = _blocked_writer()

    def fail() -> object:
        raise OperationalError("constraint failed")

    async def go() -> list[Any]:
        blocker = asyncio.ensure_future(writer.call(lambda: release.wait(10)))
        await asyncio.sleep(0.05)
        jobs = [writer.call(lambda: "a"), writer.call(fail), writer.call(lambda: "c")]
        futures = [asyncio.ensure_future(j) for j in jobs]
        await asyncio.sleep(0.05)
        release.set()
        await blocker
        return await asyncio.gather(*futures, return_exceptions=True)

    try:
        first, second, third = asyncio.run(go())
    finally:
        writer.close()

    assert (first, third) == ("a", "c")
    assert isinstance(second, OperationalError)
    assert writer.batches == 2 and writer.items == 4  # the three queued shared one batch


def test_overloaded_is_raised_past_the_capacity(db: None) -> None:
    writer, release = _blocked_writer(capacity=2)

    async def go() -> None:
        blocker = asyncio.ensure_future(writer.call(lambda: release.wait(10)))
        second = asyncio.ensure_future(writer.call(lambda: None))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await writer.call(lambda: None)
        release.set()
        await asyncio.gather(blocker, second)

    try:
        asyncio.run(go())
    finally:
        writer.close()


def test_two_alerts_given_one_public_id_are_both_stored(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ordered public ids repeat with odds of 1 in 34 billion per millisecond: the batch is
    # refused by the unique index, and the one-by-one replay prepares new ids.
    from tocsin.alerts.models import Integration
    from tocsin.alerts.services import IngestItem
    from tocsin.alerts.sources.base import NormalizedAlert

    codes = iter(["0000000000000dup", "0000000000000dup", "000000000000one1", "000000000000two2"])
    monkeypatch.setattr(services, "new_ordered_public_id", lambda: next(codes))
    integration = Integration.objects.get(key=PD_KEY)
    writer, release = _blocked_writer()

    def item(key: str) -> IngestItem:
        alert = NormalizedAlert(fingerprint=key, status="firing", title=key)
        return IngestItem(integration=integration, alerts=[alert], now=timezone.now())

    async def go() -> list[Any]:
        blocker = asyncio.ensure_future(writer.call(lambda: release.wait(10)))
        await asyncio.sleep(0.05)
        futures = [asyncio.ensure_future(writer.ingest(item(k))) for k in ("one", "two")]
        await asyncio.sleep(0.05)
        release.set()
        await blocker
        return await asyncio.gather(*futures)

    try:
        results = asyncio.run(go())
    finally:
        writer.close()

    assert [r.new for r in results] == [1, 1]
    assert sorted(Alert.objects.values_list("fingerprint", "public_id")) == [
        ("one", "000000000000one1"),
        ("two", "000000000000two2"),
    ]
