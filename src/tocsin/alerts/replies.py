"""The answers of the ingestion endpoints, shared by the Django views and the lean ASGI path.

Each builder returns a plain ``Reply`` (status, JSON body, extra headers), so both paths send
byte-for-byte the same bodies and the wording lives in one place.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

from tocsin.alerts.services import IngestResult
from tocsin.alerts.sources.base import ParseError
from tocsin.alerts.sources.pagerduty import parser as pagerduty

RETRY_AFTER_SECONDS = 5


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        """The body as Django's JsonResponse encodes it (default separators, UTF-8)."""
        return json.dumps(self.body).encode()


def error(status: int, message: str, errors: list[str] | None = None) -> Reply:
    return Reply(status, {"error": message, "errors": errors or [message]})


def method_not_allowed(method: str, allowed: tuple[str, ...]) -> Reply:
    return Reply(405, {"error": f"Method {method} not allowed"}, {"Allow": ", ".join(allowed)})


def too_large() -> Reply:
    return error(413, f"Body is larger than {settings.MAX_ALERT_BODY_BYTES} bytes")


def unknown_key(kind: str) -> Reply:
    return error(404, f"No {kind} integration with this key")


def bad_signature() -> Reply:
    return error(401, "Missing or invalid Grafana webhook signature")


def unavailable() -> Reply:
    # Alertmanager retries 5xx and drops a notification on any 4xx, so "busy" must be a 503.
    reply = error(503, "Database unavailable, retry later")
    reply.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return reply


def accepted(result: IngestResult) -> Reply:
    return Reply(202, {"status": "accepted", **asdict(result)})


# ---- PagerDuty Events API v2 --------------------------------------------------------------
# Response bodies copy PagerDuty's: https://developer.pagerduty.com/docs/events-api-v2/overview/


def pd_error(
    status: int,
    errors: list[str],
    *,
    label: str = "invalid event",
    message: str = "Event object is invalid",
) -> Reply:
    return Reply(status, {"status": label, "message": message, "errors": errors})


def pd_parse_error(exc: ParseError) -> Reply:
    if isinstance(exc, pagerduty.UnrecognizedEvent):
        return pd_error(
            400,
            exc.errors,
            label="Unrecognized object",
            message="Event object format is unrecognized",
        )
    return pd_error(400, exc.errors)


def pd_busy() -> Reply:
    # PagerDuty clients retry 429 (and give up on most 5xx after a few tries): see the
    # "Response codes & retry logic" section of the Events API v2 overview.
    reply = pd_error(
        429,
        ["Tocsin's database is busy; retry later"],
        label="throttle event",
        message="Requests for this service are arriving too quickly. Please retry later.",
    )
    reply.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return reply


def pd_too_large() -> Reply:
    limit = settings.MAX_ALERT_BODY_BYTES
    return pd_error(413, [f"Event is larger than {limit // 1024} KB"])


def pd_unknown_key() -> Reply:
    return pd_error(404, ["'routing_key' does not match any PagerDuty integration"])


def pd_accepted(dedup_key: str) -> Reply:
    return Reply(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})


def pd_change_accepted() -> Reply:
    return Reply(202, {"status": "success", "message": "Change event processed"})
