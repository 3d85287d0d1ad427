"""Sync ``status_page.components`` into status page ``Component`` rows.

A component's ``group`` names a group; groups become components of their own (Statuspage's
``group: true`` rows) placed before their first member. Statuses are never touched here: they
belong to incidents and maintenance, not to the file.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tocsin.policy.config import schema
from tocsin.statuspage.models import Component
from tocsin.statuspage.snapshot import page_changed


def _rows(components: list[schema.Component]) -> list[dict[str, Any]]:
    """Wanted rows in page order: each group just before its first member."""
    rows: list[dict[str, Any]] = []
    groups: set[str] = set()
    for c in components:
        if c.group and c.group not in groups:
            groups.add(c.group)
            rows.append({"name": c.group, "is_group": True, "group": None, "description": ""})
        rows.append(
            {
                "name": c.name,
                "is_group": False,
                "group": c.group,
                "description": c.description or "",
            }
        )
    return rows


def apply_components(components: list[schema.Component], *, prune: bool) -> Counter[str]:
    """Create or update components by name (group, description, order); prune the rest."""
    counts: Counter[str] = Counter()
    existing = {c.name: c for c in Component.objects.all()}
    wanted = _rows(components)
    for position, row in enumerate(wanted, start=1):
        group = existing.get(row["group"]) if row["group"] else None
        values = {
            "description": row["description"],
            "is_group": row["is_group"],
            "group_id": group.pk if group else None,
            "position": position,
        }
        obj = existing.get(row["name"])
        if obj is None:
            existing[row["name"]] = Component.objects.create(name=row["name"], **values)
            counts["created"] += 1
            continue
        changed = [k for k, v in values.items() if getattr(obj, k) != v]
        for k in changed:
            setattr(obj, k, values[k])
        if changed:
            obj.save(update_fields=[k.removesuffix("_id") for k in changed] + ["updated_at"])
        counts["updated" if changed else "unchanged"] += 1
    if prune:
        names = [row["name"] for row in wanted]
        counts["pruned"] += (
            Component.objects.exclude(name__in=names).delete()[1].get("statuspage.Component", 0)
        )
    if counts["created"] or counts["updated"] or counts["pruned"]:
        page_changed()
    return counts


def apply_status_page(config: schema.Config, summary: Any, *, prune: bool) -> None:
    """Hook for ``config_apply``: the file's components become the page's components."""
    if config.status_page is None:
        return
    for outcome, n in apply_components(config.status_page.components, prune=prune).items():
        summary.add("components", outcome, n)
