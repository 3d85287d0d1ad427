"""Timer kinds and the domain function that handles each (one plain registry)."""

from __future__ import annotations

from collections.abc import Callable

from tocsin.alerts.services import alert_process, alerts_process
from tocsin.engine.models import Timer
from tocsin.escalation.services import (
    ACK_TIMEOUT,
    STEP,
    escalation_ack_timeout,
    escalation_step,
    escalation_steps,
)
from tocsin.incidents.policy import STEP as POLICY_STEP
from tocsin.incidents.policy import UPDATE_DUE, policy_step_fire, policy_update_due
from tocsin.statuspage.handlers import HANDLERS as STATUSPAGE_HANDLERS

Handler = Callable[[Timer], None]
BatchHandler = Callable[[list[Timer]], None]


def _alert_process(timer: Timer) -> None:
    alert_process(alert_id=int(timer.payload["alert"]))


def _alerts_process(timers: list[Timer]) -> None:
    alerts_process([int(timer.payload["alert"]) for timer in timers])


def _escalation_ack_timeout(timer: Timer) -> None:
    assert timer.incident_id is not None
    escalation_ack_timeout(incident_id=timer.incident_id, payload=timer.payload)


def _escalation_step(timer: Timer) -> None:
    assert timer.incident_id is not None
    escalation_step(incident_id=timer.incident_id, payload=timer.payload)


def _policy_step(timer: Timer) -> None:
    assert timer.incident_id is not None
    policy_step_fire(incident_id=timer.incident_id, payload=timer.payload)


def _policy_update_due(timer: Timer) -> None:
    assert timer.incident_id is not None
    policy_update_due(incident_id=timer.incident_id, payload=timer.payload)


HANDLERS: dict[str, Handler] = {
    "alert.process": _alert_process,
    STEP: _escalation_step,
    ACK_TIMEOUT: _escalation_ack_timeout,
    POLICY_STEP: _policy_step,
    UPDATE_DUE: _policy_update_due,
    **STATUSPAGE_HANDLERS,
}

# Kinds that also run set-based: the worker hands consecutive claimed timers of the kind to
# this in one call (one savepoint); it falls back to HANDLERS one by one if the call fails.
BATCH_HANDLERS: dict[str, BatchHandler] = {
    "alert.process": _alerts_process,
    STEP: escalation_steps,
}
