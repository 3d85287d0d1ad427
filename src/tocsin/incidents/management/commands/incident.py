from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tocsin.accounts.models import Role, User
from tocsin.alerts.models import Service
from tocsin.escalation.services import escalation_escalate_now, escalation_page_directly
from tocsin.incidents.models import Incident
from tocsin.incidents.selectors import incident_get, incident_list
from tocsin.incidents.services import (
    IncidentError,
    incident_acknowledge,
    incident_create,
    incident_resolve,
)


class Command(BaseCommand):
    help = "Declare, acknowledge, resolve and list incidents."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        declare = sub.add_parser("declare", help="declare an incident by hand")
        declare.add_argument("--title", required=True)
        declare.add_argument("--severity", default="")
        declare.add_argument("--service", help="service name")
        declare.add_argument("--summary", default="")
        declare.add_argument("--as", dest="as_email", help="e-mail of the person declaring")
        for name in ("ack", "resolve"):
            action = sub.add_parser(name, help=f"{name} an incident")
            action.add_argument("incident", help="number (42 or #42) or id")
            action.add_argument("--as", dest="as_email", help="e-mail of the person acting")
            action.add_argument("--message", default="")
        escalate = sub.add_parser("escalate", help="escalate now (next level, or a chosen target)")
        escalate.add_argument("incident", help="number (42 or #42) or id")
        escalate.add_argument("--to-user", help="e-mail of a person to page now")
        escalate.add_argument("--to-role", help="role whose members to page now")
        escalate.add_argument("--message", default="")
        escalate.add_argument("--as", dest="as_email", help="e-mail of the person acting")
        listing = sub.add_parser("list", help="list incidents, open first")
        listing.add_argument("--status", help="open, triggered, acknowledged or resolved")
        listing.add_argument("--limit", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list(options)
        elif action == "declare":
            self._declare(options)
        elif action == "escalate":
            self._escalate(options)
        else:
            self._act(action, options)

    def _person(self, email: str | None) -> User | None:
        if not email:
            return None
        user = User.objects.filter(email=email.strip().lower()).first()
        if user is None:
            raise CommandError(f"--as: no user {email!r}")
        return user

    def _declare(self, options: dict[str, Any]) -> None:
        service = None
        if options["service"]:
            service = Service.objects.filter(name=options["service"]).first()
            if service is None:
                raise CommandError(f"--service: no service named {options['service']!r}")
        incident = incident_create(
            title=options["title"],
            severity=options["severity"],
            service=service,
            summary=options["summary"],
            by=self._person(options["as_email"]),
            actor_label="cli",
        )
        self.stdout.write(self._line(incident))

    def _act(self, action: str, options: dict[str, Any]) -> None:
        incident = incident_get(ref=options["incident"])
        if incident is None:
            raise CommandError(f"no incident {options['incident']!r}")
        service = incident_acknowledge if action == "ack" else incident_resolve
        try:
            incident = service(
                incident=incident,
                by=self._person(options["as_email"]),
                actor_label="cli",
                message=options["message"],
            )
        except IncidentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self._line(incident))

    def _escalate(self, options: dict[str, Any]) -> None:
        incident = incident_get(ref=options["incident"])
        if incident is None:
            raise CommandError(f"no incident {options['incident']!r}")
        if not incident.is_open:
            raise CommandError(f"incident #{incident.number} is resolved")
        by = self._person(options["as_email"])
        people = self._targets(options)
        if people:
            escalation_page_directly(
                incident=incident, people=people, by=by, message=options["message"]
            )
            self.stdout.write(f"#{incident.number}: paging {', '.join(p.email for p in people)}")
        elif incident.status != Incident.Status.TRIGGERED:
            # As the API and the web UI answer: the policy stopped paging at the acknowledgement.
            raise CommandError(
                f"incident #{incident.number} is {incident.status}: the policy no longer pages; "
                "escalate to a chosen person or role instead (--to-user E or --to-role R)"
            )
        else:
            escalation_escalate_now(incident=incident, by=by, message=options["message"])
            self.stdout.write(f"#{incident.number}: escalating to the next level")

    def _targets(self, options: dict[str, Any]) -> list[User]:
        """The people chosen with --to-user or --to-role ([] for the policy's next level)."""
        if options["to_user"]:
            email = options["to_user"].lower()
            person = User.objects.filter(email=email, is_active=True).first()
            if person is None:
                raise CommandError(f"--to-user: no active person {options['to_user']!r}")
            return [person]
        if options["to_role"]:
            role = Role.objects.filter(name=options["to_role"]).first()
            people = list(role.members.filter(is_active=True)) if role else []
            if not people:
                raise CommandError(f"--to-role: no role {options['to_role']!r} with active members")
            return people
        return []

    def _list(self, options: dict[str, Any]) -> None:
        for incident in incident_list(status=options["status"])[: options["limit"]]:
            self.stdout.write(self._line(incident))

    @staticmethod
    def _line(incident: Incident) -> str:
        service = incident.service.name if incident.service else "-"
        severity = incident.severity or "-"
        return (
            f"#{incident.number}\t{incident.status}\t{severity}\t{service}\t{incident.title}"
            f"\t{incident.public_id}"
        )
