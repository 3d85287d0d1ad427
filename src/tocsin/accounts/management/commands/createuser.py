from __future__ import annotations

import secrets
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from tocsin.accounts.services import user_create


class Command(BaseCommand):
    help = "Create a person who can log in (prints a generated password when none is given)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--password")
        parser.add_argument("--name", default="")
        parser.add_argument("--admin", action="store_true", help="may use the admin screens")

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip()
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"--email: {email!r} is not an e-mail address") from exc
        password = options["password"] or secrets.token_urlsafe(12)
        user = user_create(
            email=email, password=password, name=options["name"], admin=options["admin"]
        )
        self.stdout.write(f"user {user.email}" + (" (admin)" if user.is_superuser else ""))
        if not options["password"]:
            self.stdout.write(f"password: {password}")
