from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from tocsin.policy.config.export import config_export


class Command(BaseCommand):
    help = "Write the current configuration as YAML (to stdout, or to FILE with -o)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("-o", "--output", metavar="FILE")

    def handle(self, *args: Any, **options: Any) -> None:
        text = config_export()
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"wrote {options['output']}")
        else:
            self.stdout.write(text, ending="")
