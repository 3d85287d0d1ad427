from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from tocsin.policy.config.apply import config_apply
from tocsin.policy.management.commands._config import load_or_fail


class Command(BaseCommand):
    help = "Load a configuration file: validated first, applied all or nothing, idempotent."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="remove what the file's sections no longer list (people are deactivated)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = load_or_fail(self, options["file"])
        summary = config_apply(config=config, prune=options["prune"])
        self.stdout.write(str(summary))
        self.stdout.write(f"{options['file']}: applied" if summary.changed else "no changes")
