"""``tocsin test-message --email E``: check that a person's contact methods reach them."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tocsin.accounts.models import ContactMethod, User
from tocsin.notifications.models import Delivery
from tocsin.notifications.sender import delivery_send
from tocsin.notifications.services import TestTooSoon, contact_method_test


class Command(BaseCommand):
    help = (
        "Send a test message through a person's contact methods (all, or --method NAME) and "
        "say what happened: sent, or the transport's error. Exits 1 when one was not sent."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--email", required=True, help="the person's e-mail")
        parser.add_argument("--method", help="one contact method, by name (default: all)")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="only queue the messages for the running worker (default: send them now)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        person = User.objects.filter(email=options["email"].lower()).first()
        if person is None:
            raise CommandError(f"--email: no person {options['email']!r}")
        methods = ContactMethod.objects.filter(user=person).order_by("position", "id")
        if options["method"]:
            methods = methods.filter(name=options["method"])
            if not methods:
                names = ", ".join(m.name for m in person.contact_methods.order_by("position"))
                raise CommandError(
                    f"--method: {person.email} has no contact method named "
                    f"{options['method']!r} (has: {names or 'none'})"
                )
        elif not methods:
            raise CommandError(f"--email: {person.email} has no contact methods")
        unsent = 0
        for method in methods:
            try:
                delivery = contact_method_test(method=method, by=None)
            except TestTooSoon as exc:
                self.stdout.write(f"{method.name}\t{method.kind}\tnot queued: {exc}")
                unsent += 1
                continue
            if not options["queue"]:
                delivery_send(delivery)
                delivery.refresh_from_db()
            self.stdout.write(f"{method.name}\t{method.kind}\t{_outcome(delivery)}")
            unsent += delivery.status != Delivery.Status.SENT and not options["queue"]
        if unsent:
            raise SystemExit(1)


def _outcome(delivery: Delivery) -> str:
    if delivery.status == Delivery.Status.SENT:
        assert delivery.sent_at is not None
        return f"sent {delivery.sent_at:%Y-%m-%d %H:%M:%S} UTC"
    if delivery.status == Delivery.Status.FAILED:
        return f"failed: {delivery.error}"
    if delivery.error:
        return f"not sent yet: {delivery.error} (the worker retries it)"
    return "queued: the worker sends it"
