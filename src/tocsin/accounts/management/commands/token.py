from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tocsin.accounts.models import User
from tocsin.accounts.services import token_create


class Command(BaseCommand):
    help = "Manage API tokens: `token create --email E` prints only the new token."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=["create"])
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=options["email"].strip().lower()).first()
        if user is None:
            raise CommandError(f"--email: no user {options['email']!r} (tocsin createuser first)")
        self.stdout.write(token_create(user=user, name=options["name"]))
