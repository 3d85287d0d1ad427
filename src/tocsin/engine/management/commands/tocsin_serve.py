from __future__ import annotations

import signal
import subprocess
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from tocsin.engine.management.commands.tocsin_web import (
    add_bind_arguments,
    exit_now,
    exit_on_stop_signals,
    run_web,
)


class Command(BaseCommand):
    help = "Migrate, then run the web server and the worker; SIGINT/SIGTERM stop both."

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_bind_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        exit_on_stop_signals()  # a stop signal at any point below still runs the finally
        call_command("migrate", interactive=False, verbosity=0)
        # The worker is its own process: it competes with request handling for nothing but the
        # database, and a crash in either leaves the other running until we stop it.
        worker = subprocess.Popen([sys.executable, "-m", "tocsin.cli", "worker"])
        clean = False
        try:
            clean = run_web(host=options["host"], port=options["port"])
        finally:
            # Stopping the worker is bounded (15 s, then SIGKILL): a repeated signal must not
            # interrupt it and leave the worker running without us.
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if not clean:
            exit_now()  # requests were abandoned at the end of the grace period (see run_web)
