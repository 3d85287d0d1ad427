"""Policy reads."""

from __future__ import annotations

from tocsin.policy.models import Severity

UNRANKED = 10_000


def severity_rank(name: str) -> int:
    """Rank of a severity name (0 is most severe); unknown or empty names rank last."""
    if not name:
        return UNRANKED + 1
    return _ranks().get(name, UNRANKED)


def _ranks() -> dict[str, int]:
    return dict(Severity.objects.values_list("name", "rank"))


def severity_names() -> list[str]:
    """Severity names, most severe first."""
    return list(Severity.objects.order_by("rank", "name").values_list("name", flat=True))
