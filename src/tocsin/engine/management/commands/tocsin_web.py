from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

import uvicorn
from django.core.management.base import BaseCommand


def add_bind_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")


def run_web(*, host: str, port: int) -> None:
    """Serve the ASGI application (UI, API, ingestion) until SIGINT/SIGTERM."""
    uvicorn.run(
        "tocsin.asgi:application",
        host=host,
        port=port,
        lifespan="off",
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=10,
    )


class Command(BaseCommand):
    help = "Run the web server only (UI, API, ingestion endpoints)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_bind_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        run_web(host=options["host"], port=options["port"])
