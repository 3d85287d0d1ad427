"""Policy reads."""

from __future__ import annotations

from tocsin.engine.memo import memoized
from tocsin.policy.config.export import config_export
from tocsin.policy.config.loader import config_parse
from tocsin.policy.models import Severity
from tocsin.policy.simulate import Scenario, SimEvent, Simulator

UNRANKED = 10_000


def severity_rank(name: str) -> int:
    """Rank of a severity name (0 is most severe); unknown or empty names rank last."""
    if not name:
        return UNRANKED + 1
    return _ranks().get(name, UNRANKED)


def _ranks() -> dict[str, int]:
    return memoized(("severity_ranks",), lambda: dict(Severity.objects.values_list("name", "rank")))


def severity_names() -> list[str]:
    """Severity names, most severe first."""
    return list(Severity.objects.order_by("rank", "name").values_list("name", flat=True))


def simulate_current(*, scenario: Scenario) -> list[SimEvent]:
    """Run a scenario against the configuration Tocsin is running now (no writes)."""
    config = config_parse(config_export(), filename="(current configuration)")
    return Simulator(config).run(scenario)
