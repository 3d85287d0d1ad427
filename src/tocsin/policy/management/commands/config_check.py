from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from tocsin.policy.management.commands._config import describe, load_or_fail


class Command(BaseCommand):
    help = "Validate a configuration file; print every problem as FILE:LINE path: message."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        config = load_or_fail(self, options["file"])
        self.stdout.write(f"{options['file']}: ok ({describe(config)})")
