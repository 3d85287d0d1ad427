"""``/healthz``: database and worker liveness, for load balancers and the smoke test."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from tocsin.engine.selectors import overdue_work
from tocsin.engine.worker import worker_alive


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers; the worker's state is reported alongside."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # any driver error means "not ready"
        return JsonResponse(
            {"status": "error", "database": {"ok": False, "error": str(exc)[:200]}}, status=503
        )
    beat = worker_alive()
    worker = (
        {"ok": True, "name": beat.name, "last_seen": beat.beat_at.isoformat()}
        if beat
        else {"ok": False, "error": "no worker heartbeat in the last 30 s"}
    )
    overdue = overdue_work()
    audit: dict[str, object] = {
        "ok": not overdue.alert,
        "overdue_timers": overdue.timers,
        "overdue_deliveries": overdue.deliveries,
        "failing_timers": overdue.failing,
    }
    if overdue.alert:
        audit["error"] = overdue.describe()
    status = "ok" if beat and not overdue.alert else "degraded"
    return JsonResponse(
        {
            "status": status,
            "time": timezone.now().isoformat(),
            "database": database,
            "worker": worker,
            "audit": audit,
        }
    )
