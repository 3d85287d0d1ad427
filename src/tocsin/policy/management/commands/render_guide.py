from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tocsin.policy.config.loader import ConfigError, config_load
from tocsin.policy.render import render_guide


class Command(BaseCommand):
    help = "Write the policy in FILE as a readable Markdown incident-response guide."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file")
        parser.add_argument("-o", "--output", help="write to this file instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = config_load(options["file"])
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
        text = render_guide(config)
        if options["output"]:
            Path(options["output"]).write_text(text)
            self.stdout.write(f"wrote {options['output']}")
        else:
            self.stdout.write(text, ending="")
