"""docs/webhooks.md tells the truth: each documented event's example has exactly the fields
that Tocsin's webhook bodies have, at every level."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from tests.conftest import ROOT
from tests.factories import person, policy
from tocsin.accounts.models import ContactMethod
from tocsin.alerts.models import Service
from tocsin.engine.worker import run_once
from tocsin.incidents.services import incident_create
from tocsin.notifications.services import contact_method_test, message_delivery_create
from tocsin.notifications.transports import TRANSPORTS, Message

pytestmark = pytest.mark.django_db
HOOK = "https://hooks.example.com/oncall"


def documented() -> dict[str, Any]:
    """Each ``### `event` ...`` section's JSON example, by event name."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    sections = re.findall(r"^### `([a-z_.]+)`.*?```json\n(.*?)```", text, re.M | re.S)
    return {event: json.loads(body) for event, body in sections}


def shape(value: Any) -> Any:
    """Keys all the way down (a list by its first item); leaves as their JSON kind."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "leaf"


class Capture:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def send(self, target: str, message: Message) -> None:
        self.bodies.append(message.data)


def test_every_event_tocsin_sends_is_documented_with_its_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    capture = Capture()
    monkeypatch.setitem(TRANSPORTS, "webhook", capture)
    alice = person("alice@example.com", rules=[(0, "webhook", HOOK)])
    policy("Alice", [([{"user": alice.email}], 0)])
    service = Service.objects.create(name="Checkout API", escalation_policy="Alice")
    with time_machine.travel(datetime(2026, 11, 28, 8, 0, tzinfo=UTC), tick=False):
        incident_create(title="One", severity="P1", service=service)
        run_once()  # one page
        incident_create(title="Two", severity="P1", service=service)
        incident_create(title="Three", severity="P1", service=service)
        run_once()  # two pages due together: one bundle
        message_delivery_create(
            key="update:1",
            incident=None,
            transport="webhook",
            target=HOOK,
            subject="s",
            body="b",
            reason="r",
        )
        run_once()
    with time_machine.travel(datetime(2026, 11, 28, 8, 5, tzinfo=UTC), tick=False):
        contact_method_test(method=ContactMethod.objects.get(user=alice), by=None)
        run_once()

    sent = {body["event"]: body for body in capture.bodies}
    assert sorted(sent) == sorted(documented())
    for event, example in documented().items():
        assert shape(example) == shape(sent[event]), event
