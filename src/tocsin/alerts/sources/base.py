"""What every alert source parser produces, and the error it raises on bad input."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


class ParseError(ValueError):
    """The body is not a valid payload for this source; ``errors`` lists each problem."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or [message]


@dataclass
class NormalizedAlert:
    """One alert as Tocsin stores it, whatever the source."""

    fingerprint: str
    status: Literal["firing", "resolved"]
    title: str
    group_key: str = ""
    source: str = ""
    source_severity: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, str]] = field(default_factory=list)
    starts_at: datetime | None = None
    # PagerDuty's "acknowledge" action: the source says a human is on it.
    acknowledge: bool = False


def labels_fingerprint(labels: dict[str, Any]) -> str:
    """A stable hash of a label set, for sources that send no fingerprint."""
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
