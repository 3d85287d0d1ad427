from __future__ import annotations

import os
import signal
from argparse import ArgumentParser
from types import FrameType
from typing import Any

import uvicorn
from django.core.management.base import BaseCommand


def add_bind_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def exit_on_stop_signals() -> None:
    """Make SIGINT/SIGTERM end the process with SystemExit(0), so ``finally`` blocks run.

    uvicorn handles both signals while it serves, shuts down gracefully, then restores the
    previous handlers and re-raises the signal. With the default SIGTERM action that re-raise
    killed the process on the spot: no cleanup ran (``tocsin serve`` orphaned its worker).
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_cleanly)


def default_workers() -> int:
    """``TOCSIN_WEB_WORKERS`` (default 1): uvicorn worker processes."""
    try:
        return max(1, int(os.environ.get("TOCSIN_WEB_WORKERS", "1")))
    except ValueError:
        return 1


def run_web(*, host: str, port: int, workers: int | None = None) -> None:
    """Serve the ASGI application (UI, API, ingestion) until SIGINT/SIGTERM (exit status 0).

    One process by default: the ingestion writer commits many requests at once, and SQLite has
    a single writer anyway. ``workers`` > 1 runs that many uvicorn processes (each with its
    own group-commit writer), which can help on PostgreSQL with spare cores.
    """
    exit_on_stop_signals()
    uvicorn.run(
        "tocsin.asgi:application",
        host=host,
        port=port,
        workers=workers or default_workers(),
        http="httptools",
        loop="uvloop",
        lifespan="off",
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=10,
    )


class Command(BaseCommand):
    help = "Run the web server only (UI, API, ingestion endpoints)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_bind_arguments(parser)
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="uvicorn worker processes (default: $TOCSIN_WEB_WORKERS or 1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        run_web(host=options["host"], port=options["port"], workers=options["workers"])
