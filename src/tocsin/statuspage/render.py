"""Render the whole public site (Statuspage JSON, HTML, feeds) from the database, once.

Called only by the snapshot rebuild; requests never come here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import feedgenerator

from tocsin.policy.models import ConfigSection
from tocsin.statuspage import selectors
from tocsin.statuspage.models import (
    Component,
    ComponentStatus,
    MaintenanceUpdate,
    PublicIncident,
    PublicIncidentUpdate,
    ScheduledMaintenance,
)

JSON = "application/json"
HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
RECENT = 50  # Statuspage's incidents.json and scheduled-maintenances.json list the 50 newest
HISTORY = 500  # incidents with their own page and a line in the history
UPTIME_DAYS = 90
PAST_DAYS = 7  # resolved incidents stay on the front page this long

Files = dict[str, tuple[str, bytes]]  # export path -> (content type, body)


def ts(value: datetime | None) -> str | None:
    """Statuspage's timestamp format: UTC, milliseconds, ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def base_url() -> str:
    return f"{settings.BASE_URL}/status/"


@dataclass
class Page:
    """Everything the site shows, loaded with a handful of queries."""

    page_id: str
    now: datetime
    title: str
    description: str
    components: list[Component]
    incidents: list[PublicIncident]
    maintenances: list[ScheduledMaintenance]
    changes: dict[int, list[Any]] = field(default_factory=dict)

    @property
    def unresolved(self) -> list[PublicIncident]:
        return [i for i in self.incidents if i.unresolved]

    @property
    def recently_resolved(self) -> list[PublicIncident]:
        """Incidents resolved in the last ``PAST_DAYS`` days, newest first: a customer who
        arrives after the all-clear still sees what happened (the page is rebuilt at
        midnight, so they leave the front page by the day)."""
        since = self.now - timedelta(days=PAST_DAYS)
        items = [
            i
            for i in self.incidents
            if not i.unresolved and i.resolved_at is not None and i.resolved_at >= since
        ]
        return sorted(items, key=lambda i: i.resolved_at or self.now, reverse=True)

    @property
    def upcoming(self) -> list[ScheduledMaintenance]:
        items = [m for m in self.maintenances if m.status == ScheduledMaintenance.Status.SCHEDULED]
        return sorted(items, key=lambda m: m.scheduled_for)

    @property
    def active(self) -> list[ScheduledMaintenance]:
        return [
            m
            for m in self.maintenances
            if m.status
            in (ScheduledMaintenance.Status.IN_PROGRESS, ScheduledMaintenance.Status.VERIFYING)
        ]

    def leaves(self) -> list[Component]:
        return [c for c in self.components if not c.is_group]

    def children(self, group: Component) -> list[Component]:
        return [c for c in self.components if c.group_id == group.pk and not c.is_group]

    def status_of(self, component: Component) -> str:
        if component.is_group:
            return selectors.group_status([c.status for c in self.children(component)])
        return component.status

    def updated_at(self) -> datetime:
        stamps = [c.updated_at for c in self.components]
        stamps += [i.updated_at for i in self.incidents[:1]]
        stamps += [m.updated_at for m in self.maintenances]
        return max(stamps, default=self.now)

    def indicator(self) -> tuple[str, str]:
        return selectors.page_indicator(
            component_statuses=[c.status for c in self.leaves()],
            incident_impacts=[i.impact for i in self.unresolved],
            maintenance_active=bool(self.active),
        )


def page_load(*, page_id: str, now: datetime) -> Page:
    """Read what the page shows."""
    section = ConfigSection.objects.filter(name="status_page").first()
    config = section.data if section and isinstance(section.data, dict) else {}
    incidents = PublicIncident.objects.prefetch_related("updates", "components")[:HISTORY]
    maintenances = ScheduledMaintenance.objects.prefetch_related("updates", "components")[:HISTORY]
    return Page(
        page_id=page_id,
        now=now,
        title=config.get("title") or "Status",
        description=config.get("description") or "",
        components=list(Component.objects.all()),
        incidents=list(incidents),
        maintenances=list(maintenances),
        changes=selectors.changes_by_component(since=now - timedelta(days=UPTIME_DAYS + 1)),
    )


# ---- Statuspage v2 JSON ------------------------------------------------------------------


def page_json(page: Page) -> dict[str, Any]:
    return {
        "id": page.page_id,
        "name": page.title,
        "url": base_url(),
        "time_zone": "Etc/UTC",
        "updated_at": ts(page.updated_at()),
    }


def component_json(page: Page, c: Component) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": c.public_id,
        "name": c.name,
        "status": page.status_of(c),
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "position": c.position,
        "description": c.description or None,
        "showcase": c.showcase,
        "start_date": c.created_at.date().isoformat(),
        "group_id": _group_public_id(page, c),
        "page_id": page.page_id,
        "group": c.is_group,
        "only_show_if_degraded": c.only_show_if_degraded,
    }
    if c.is_group:
        data["components"] = [child.public_id for child in page.children(c)]
    return data


def _group_public_id(page: Page, c: Component) -> str | None:
    if c.group_id is None:
        return None
    return next((g.public_id for g in page.components if g.pk == c.group_id), None)


def _update_json(
    update: PublicIncidentUpdate | MaintenanceUpdate, incident_id: str
) -> dict[str, Any]:
    return {
        "id": update.public_id,
        "status": update.status,
        "body": update.body,
        "incident_id": incident_id,
        "created_at": ts(update.at),
        "updated_at": ts(update.at),
        "display_at": ts(update.at),
        "affected_components": update.affected_components or None,
        "deliver_notifications": getattr(update, "deliver_notifications", True),
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident_json(page: Page, i: PublicIncident) -> dict[str, Any]:
    return {
        "id": i.public_id,
        "name": i.name,
        "status": i.status,
        "created_at": ts(i.created_at),
        "updated_at": ts(i.updated_at),
        "monitoring_at": ts(i.monitoring_at),
        "resolved_at": ts(i.resolved_at),
        "impact": i.impact,
        "shortlink": f"{base_url()}incidents/{i.public_id}/",
        "started_at": ts(i.started_at),
        "page_id": page.page_id,
        "incident_updates": [_update_json(u, i.public_id) for u in i.updates.all()],
        "components": [component_json(page, c) for c in i.components.all()],
    }


def maintenance_json(page: Page, m: ScheduledMaintenance) -> dict[str, Any]:
    return {
        "id": m.public_id,
        "name": m.name,
        "status": m.status,
        "created_at": ts(m.created_at),
        "updated_at": ts(m.updated_at),
        "monitoring_at": None,
        "resolved_at": ts(m.completed_at),
        "impact": m.impact,
        "shortlink": f"{base_url()}maintenance/{m.public_id}/",
        "started_at": ts(m.started_at or m.scheduled_for),
        "page_id": page.page_id,
        "incident_updates": [_update_json(u, m.public_id) for u in m.updates.all()],
        "components": [component_json(page, c) for c in m.components.all()],
        "scheduled_for": ts(m.scheduled_for),
        "scheduled_until": ts(m.scheduled_until),
    }


def api_documents(page: Page) -> dict[str, dict[str, Any]]:
    """The eight Statuspage v2 documents, by path."""
    head = page_json(page)
    indicator, description = page.indicator()
    status = {"indicator": indicator, "description": description}
    components = [component_json(page, c) for c in page.components]
    unresolved = [incident_json(page, i) for i in page.unresolved]
    upcoming = [maintenance_json(page, m) for m in page.upcoming]
    active = [maintenance_json(page, m) for m in page.active]
    return {
        "api/v2/summary.json": {
            "page": head,
            "components": components,
            "incidents": unresolved,
            "scheduled_maintenances": active + upcoming,
            "status": status,
        },
        "api/v2/status.json": {"page": head, "status": status},
        "api/v2/components.json": {"page": head, "components": components},
        "api/v2/incidents.json": {
            "page": head,
            "incidents": [incident_json(page, i) for i in page.incidents[:RECENT]],
        },
        "api/v2/incidents/unresolved.json": {"page": head, "incidents": unresolved},
        "api/v2/scheduled-maintenances.json": {
            "page": head,
            "scheduled_maintenances": [
                maintenance_json(page, m) for m in page.maintenances[:RECENT]
            ],
        },
        "api/v2/scheduled-maintenances/upcoming.json": {
            "page": head,
            "scheduled_maintenances": upcoming,
        },
        "api/v2/scheduled-maintenances/active.json": {
            "page": head,
            "scheduled_maintenances": active,
        },
    }


# ---- HTML ----------------------------------------------------------------------------------

LABELS = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.UNDER_MAINTENANCE: "Under maintenance",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial outage",
    ComponentStatus.MAJOR_OUTAGE: "Major outage",
}


@dataclass
class Row:
    component: Component
    status: str
    label: str
    days: list[selectors.Day]
    uptime: float | None
    children: list[Row] = field(default_factory=list)


def _row(page: Page, c: Component) -> Row:
    days = selectors.uptime_days(
        component=c, changes=page.changes.get(c.pk, []), now=page.now, days=UPTIME_DAYS
    )
    status = page.status_of(c)
    return Row(c, status, LABELS[ComponentStatus(status)], days, selectors.uptime_percent(days))


def component_rows(page: Page) -> list[Row]:
    """Top-level components and groups (with their children), in position order."""
    rows = []
    for c in page.components:
        if c.group_id is not None and not c.is_group:
            continue
        if c.only_show_if_degraded and c.status == ComponentStatus.OPERATIONAL:
            continue
        row = _row(page, c)
        if c.is_group:
            row.children = [_row(page, child) for child in page.children(c)]
            if not row.children:
                continue
        rows.append(row)
    return rows


def _context(page: Page, depth: str) -> dict[str, Any]:
    indicator, description = page.indicator()
    return {
        "page": page,
        "root": depth,  # relative path back to the site root: "", "../", "../../"
        "indicator": indicator,
        "description": description,
        "updated_at": page.updated_at(),
        "subscribe_url": f"{base_url()}subscribe/",
        "labels": LABELS,
    }


def html_documents(page: Page) -> dict[str, str]:
    """index.html, history/index.html and one page per incident and maintenance."""
    docs: dict[str, str] = {
        "index.html": render_to_string(
            "statuspage/index.html",
            _context(page, "")
            | {"rows": component_rows(page), "days": UPTIME_DAYS, "past_days": PAST_DAYS},
        ),
        "history/index.html": render_to_string(
            "statuspage/history.html", _context(page, "../") | {"months": _months(page)}
        ),
    }
    for incident in page.incidents:
        docs[f"incidents/{incident.public_id}/index.html"] = render_to_string(
            "statuspage/incident.html", _context(page, "../../") | {"item": incident}
        )
    for maintenance in page.maintenances:
        docs[f"maintenance/{maintenance.public_id}/index.html"] = render_to_string(
            "statuspage/incident.html",
            _context(page, "../../") | {"item": maintenance, "is_maintenance": True},
        )
    return docs


def _months(page: Page) -> list[tuple[str, list[PublicIncident]]]:
    months: dict[str, list[PublicIncident]] = {}
    for incident in page.incidents:
        months.setdefault(incident.created_at.strftime("%B %Y"), []).append(incident)
    return list(months.items())


# ---- feeds ---------------------------------------------------------------------------------


def _feed(page: Page, cls: type[feedgenerator.SyndicationFeed], path: str) -> str:
    feed = cls(
        title=f"{page.title} status - incident history",
        link=base_url(),
        description=page.description or f"Incidents and maintenance of {page.title}",
        feed_url=f"{base_url()}{path}",
        language="en",
    )
    for incident in page.incidents[:RECENT]:
        updates = list(incident.updates.all())
        body = "\n".join(
            f"<p><small>{u.at:%b %d, %H:%M} UTC</small><br><strong>{u.status.title()}</strong>"
            f" - {_escape(u.body)}</p>"
            for u in updates
        )
        feed.add_item(
            title=incident.name,
            link=f"{base_url()}incidents/{incident.public_id}/",
            description=body,
            unique_id=f"{base_url()}incidents/{incident.public_id}/",
            pubdate=incident.created_at,
            updateddate=incident.updated_at,
        )
    return feed.writeString("utf-8")


def _escape(text: str) -> str:
    from django.utils.html import escape

    return str(escape(text))


# ---- everything ----------------------------------------------------------------------------


def site_files(page: Page) -> Files:
    """Every file of the public site, as bytes."""
    files: Files = {}
    for path, doc in api_documents(page).items():
        files[path] = (JSON, json.dumps(doc, separators=(",", ":")).encode())
    for path, html in html_documents(page).items():
        files[path] = (HTML, html.encode())
    files["history.rss"] = (RSS, _feed(page, feedgenerator.Rss201rev2Feed, "history.rss").encode())
    files["history.atom"] = (ATOM, _feed(page, feedgenerator.Atom1Feed, "history.atom").encode())
    return files
