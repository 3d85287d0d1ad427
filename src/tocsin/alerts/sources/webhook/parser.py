"""Generic webhook bodies: any JSON object, one alert per request.

``integration.config`` may name where each field is, as dot paths (numeric segments index
arrays): ``{"fields": {"title": "alert.name", "dedup_key": "alert.id", "severity": "level",
"status": "state", "source": "host", "group_key": "rule"}, "resolved_values": ["ok"]}``.
A configured path is tried first, then the defaults below, which fit common senders
(Datadog, Opsgenie, Sentry legacy webhooks and hand-written scripts).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tocsin.alerts.sources.base import NormalizedAlert, ParseError, labels_fingerprint
from tocsin.alerts.sources.fields import decode_object, web_link

DEFAULT_PATHS: dict[str, tuple[str, ...]] = {
    # Sentry's legacy webhook sends an empty "message" and puts the title under "event".
    "title": ("title", "summary", "message", "name", "event.title", "description", "culprit"),
    # Opsgenie's create-alert body deduplicates on "alias".
    "dedup_key": ("dedup_key", "fingerprint", "id", "alert_id", "alias"),
    "severity": ("severity", "priority", "level"),
    # Datadog's custom payloads carry $ALERT_TRANSITION ("Triggered", "Recovered").
    "status": ("status", "state", "alert_transition"),
    "source": ("source", "host", "hostname"),
    "group_key": (),
}
DEFAULT_RESOLVED_VALUES = frozenset({"resolved", "ok", "recovered", "closed", "inactive", "normal"})
LINK_PATHS = ("url", "link", "html_url")
DEFAULT_TITLE = "Webhook alert"


class WrongType(ValueError):
    """A configured path leads to an object or an array where a value was expected."""


def lookup(data: Any, path: str) -> Any:
    """Follow a dot path (``a.b.0.c``) through objects and arrays; None when absent."""
    current = data
    for segment in path.removeprefix("$.").split("."):
        if isinstance(current, dict) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and segment.isascii() and segment.isdigit():
            index = int(segment)
            current = current[index] if index < len(current) else None
        else:
            return None
    return current


def _scalar(value: Any) -> str | None:
    """A JSON scalar as text; None for null, "" and containers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float) and value != "":
        return str(value)
    return None


def _configured_paths(config: Mapping[str, Any]) -> dict[str, str]:
    """The integration's field paths, ignoring malformed entries (config is admin-edited)."""
    fields = config.get("fields")
    if not isinstance(fields, dict):
        return {}
    return {k: v for k, v in fields.items() if k in DEFAULT_PATHS and isinstance(v, str) and v}


def _pick(data: dict[str, Any], name: str, configured: dict[str, str]) -> str:
    """The first non-empty value among the configured path and the defaults for ``name``."""
    path = configured.get(name)
    if path:
        value = lookup(data, path)
        if isinstance(value, dict | list):
            raise WrongType(f"'{path}' is invalid (must be a string or a number)")
        if (text := _scalar(value)) is not None:
            return text
    # Defaults are guesses: a default path holding an object is another sender's field.
    for default in DEFAULT_PATHS[name]:
        if (text := _scalar(lookup(data, default))) is not None:
            return text
    return ""


def _without_status(data: dict[str, Any], configured: dict[str, str]) -> dict[str, Any]:
    """The body without the fields a status can be read from (configured and default)."""
    stripped = copy.deepcopy(data)
    paths = [configured["status"]] if "status" in configured else []
    for path in [*paths, *DEFAULT_PATHS["status"]]:
        *parents, leaf = path.removeprefix("$.").split(".")
        parent = lookup(stripped, ".".join(parents)) if parents else stripped
        if isinstance(parent, dict):
            parent.pop(leaf, None)
    return stripped


def _resolved_values(config: Mapping[str, Any]) -> frozenset[str]:
    values = config.get("resolved_values")
    if isinstance(values, list) and values:
        return frozenset(str(v).lower() for v in values if isinstance(v, str | int))
    return DEFAULT_RESOLVED_VALUES


def parse(body: bytes, *, config: Mapping[str, Any] | None = None) -> list[NormalizedAlert]:
    """Parse any JSON object into one alert, using the integration's field paths."""
    data = decode_object(body)
    config = config or {}
    configured = _configured_paths(config)
    try:
        picked = {name: _pick(data, name, configured) for name in DEFAULT_PATHS}
    except WrongType as exc:
        raise ParseError("Invalid webhook payload", errors=[str(exc)]) from exc
    links = [web_link(lookup(data, path), "Source") for path in LINK_PATHS]
    resolved = picked["status"].strip().lower() in _resolved_values(config)
    return [
        NormalizedAlert(
            # Without a key, an identical repeat of the body is the same alert, and so is the
            # same body with its status changed (the resolve of that alert).
            fingerprint=picked["dedup_key"]
            or labels_fingerprint(_without_status(data, configured)),
            status="resolved" if resolved else "firing",
            title=picked["title"] or DEFAULT_TITLE,
            group_key=picked["group_key"],
            source=picked["source"],
            source_severity=picked["severity"],
            details=data,
            links=[link for link in links if link],
        )
    ]
