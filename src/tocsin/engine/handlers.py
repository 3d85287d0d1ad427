"""Timer kinds and the domain function that handles each (one plain registry)."""

from __future__ import annotations

from collections.abc import Callable

from tocsin.alerts.services import alert_process
from tocsin.engine.models import Timer

Handler = Callable[[Timer], None]


def _alert_process(timer: Timer) -> None:
    alert_process(alert_id=int(timer.payload["alert"]))


HANDLERS: dict[str, Handler] = {
    "alert.process": _alert_process,
}
