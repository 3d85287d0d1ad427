from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from tocsin.policy.config.demo import demo_load
from tocsin.policy.management.commands._config import load_or_fail

DEFAULT_FILE = Path("examples/demo.yaml")
REPO_ROOT = Path(__file__).resolve().parents[5]


class Command(BaseCommand):
    help = "Load the demo configuration; the first time, create an admin and print its password."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", nargs="?", help=f"default: {DEFAULT_FILE}")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"] or str(_default_file())
        result = demo_load(config=load_or_fail(self, path))
        self.stdout.write(str(result.summary))
        if result.password is None:
            self.stdout.write(f"admin already exists: {result.admin_email} (password not shown)")
            return
        self.stdout.write(_box(result.admin_email, result.password))


def _default_file() -> Path:
    return DEFAULT_FILE if DEFAULT_FILE.exists() else REPO_ROOT / DEFAULT_FILE


def _box(email: str, password: str) -> str:
    lines = [
        "Tocsin demo is ready. The password is shown only this once.",
        "",
        f"URL:       {settings.BASE_URL}/",
        f"Email:     {email}",
        f"Password:  {password}",
    ]
    width = max(len(line) for line in lines)
    border = "+" + "-" * (width + 4) + "+"
    return "\n".join([border, *(f"|  {line:<{width}}  |" for line in lines), border])
