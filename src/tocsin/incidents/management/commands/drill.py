from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.incidents.drills import DrillStatus, drill_start, drills_status
from tocsin.incidents.services import IncidentError


class Command(BaseCommand):
    help = "Start a drill from the policy: a real incident, flagged DRILL, that pages and runs."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "name",
            nargs="?",
            help="the drill's name (omit to list them with their last run and next due time)",
        )
        parser.add_argument("--service", help="service whose escalation policy pages")
        parser.add_argument("--as", dest="as_email", help="e-mail of the person running it")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["name"]:
            for drill in drills_status():
                self.stdout.write(_line(drill))
            return
        service = None
        if options["service"]:
            service = Service.objects.filter(name=options["service"]).first()
            if service is None:
                raise CommandError(f"--service: no service named {options['service']!r}")
        by = User.objects.filter(email=(options["as_email"] or "").lower()).first()
        try:
            incident = drill_start(name=options["name"], service=service, by=by)
        except IncidentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"#{incident.number}\t{incident.title}\t{incident.public_id}")


def _line(drill: DrillStatus) -> str:
    """name, cadence, last run, next due (UTC), tab-separated."""
    last = drill.last_run
    ran = (
        f"last run {last.triggered_at:%Y-%m-%d %H:%M} UTC (#{last.number})" if last else "never run"
    )
    if drill.due_at is None:
        due = "due now"
    else:
        due = f"{'overdue since' if drill.overdue else 'due'} {drill.due_at:%Y-%m-%d %H:%M} UTC"
    return f"{drill.name}\tevery {drill.every}\t{ran}\t{due}"
