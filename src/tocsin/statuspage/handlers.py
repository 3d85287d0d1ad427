"""The status page's timer kinds, merged into ``engine.handlers.HANDLERS``."""

from __future__ import annotations

from collections.abc import Callable

from tocsin.engine.models import Timer
from tocsin.statuspage.mail import NOTIFY, notify_timer_fire
from tocsin.statuspage.services import MAINTENANCE_END, MAINTENANCE_START, maintenance_timer_fire
from tocsin.statuspage.snapshot import PUBLISH, publish


def _publish(timer: Timer) -> None:
    publish(export=bool(timer.payload.get("export", True)))


def _maintenance(timer: Timer) -> None:
    maintenance_timer_fire(kind=timer.kind, payload=timer.payload)


def _notify(timer: Timer) -> None:
    notify_timer_fire()


HANDLERS: dict[str, Callable[[Timer], None]] = {
    PUBLISH: _publish,
    MAINTENANCE_START: _maintenance,
    MAINTENANCE_END: _maintenance,
    NOTIFY: _notify,
}
