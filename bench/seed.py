"""Open N incidents whose escalation steps all fall due at one instant (run inside Tocsin).

``python -m bench.seed N SERVICE`` with Tocsin's environment; prints the due instant (epoch s).
Rows are bulk-inserted as ``escalation_start`` would leave them: the incident, its escalation
run with the policy snapshot, and its first step timer.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
    import django

    django.setup()
    from django.db import transaction
    from django.db.models import Max
    from django.utils import timezone

    from tocsin.alerts.models import Service
    from tocsin.engine.models import Timer
    from tocsin.escalation.models import EscalationPolicy, EscalationRun
    from tocsin.escalation.selectors import policy_snapshot
    from tocsin.escalation.services import STEP
    from tocsin.incidents.models import Incident

    count, service_name = int(sys.argv[1]), sys.argv[2]
    spread = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    prefix = sys.argv[4] if len(sys.argv) > 4 else "bench-esc-"
    service = Service.objects.get(name=service_name)
    policy = EscalationPolicy.objects.get(name=service.escalation_policy)
    snapshot = policy_snapshot(policy=policy)
    now = timezone.now()
    parked = now + timedelta(days=1)
    with transaction.atomic():
        base = (Incident.objects.aggregate(n=Max("number"))["n"] or 0) + 1
        incidents = Incident.objects.bulk_create(
            [
                Incident(
                    number=base + i,
                    title=f"Bench escalation {i}",
                    service=service,
                    group_key=f"{prefix}{i}",
                    triggered_at=now,
                )
                for i in range(count)
            ],
            batch_size=2000,
        )
        if any(i.pk is None for i in incidents):  # SQLite before RETURNING support
            incidents = list(Incident.objects.filter(group_key__startswith=prefix))
        EscalationRun.objects.bulk_create(
            [
                EscalationRun(
                    incident=i, policy_name=policy.name, snapshot=snapshot, started_at=now
                )
                for i in incidents
            ],
            batch_size=2000,
        )
        Timer.objects.bulk_create(
            [
                Timer(
                    kind=STEP,
                    due_at=parked,
                    incident=i,
                    payload={"token": i.escalation_token, "level": 0, "iteration": 0},
                    key=f"esc:{i.pk}:{i.escalation_token}:0:0",
                )
                for i in incidents
            ],
            batch_size=2000,
        )
    # Every step falls due at one instant, two seconds from now; with a spread, step i of N
    # falls due at that instant + i/N x spread (incident group key ``<prefix><i>``).
    due = timezone.now() + timedelta(seconds=2)
    if spread:
        # A CASE update per 500 incidents (a row each would take seconds of commits); the
        # first step is 5 s ahead so every row is in place before anything falls due.
        from django.db.models import Case, Value, When

        due = timezone.now() + timedelta(seconds=5)
        for start in range(0, count, 500):
            chunk = list(enumerate(incidents))[start : start + 500]
            Timer.objects.filter(
                kind=STEP, due_at=parked, incident_id__in=[i.pk for _n, i in chunk]
            ).update(
                due_at=Case(
                    *(
                        When(
                            incident_id=i.pk,
                            then=Value(due + timedelta(seconds=spread * n / count)),
                        )
                        for n, i in chunk
                    )
                )
            )
    else:
        Timer.objects.filter(kind=STEP, due_at=parked).update(due_at=due)
    print(due.timestamp())
    sys.stdout.flush()
    time.sleep(0)


if __name__ == "__main__":
    main()
