"""Alert sources: one parser per integration kind, listed in one plain registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from tocsin.alerts.sources.alertmanager import parser as alertmanager
from tocsin.alerts.sources.base import NormalizedAlert
from tocsin.alerts.sources.grafana import parser as grafana
from tocsin.alerts.sources.pagerduty import parser as pagerduty
from tocsin.alerts.sources.webhook import parser as webhook


class Parser(Protocol):
    """Turn a request body into alerts, or raise ``ParseError``."""

    def __call__(
        self, body: bytes, *, config: Mapping[str, Any] | None = None
    ) -> list[NormalizedAlert]: ...


PARSERS: dict[str, Parser] = {
    "alertmanager": alertmanager.parse,
    "grafana": grafana.parse,
    "pagerduty": pagerduty.parse,
    "webhook": webhook.parse,
}
