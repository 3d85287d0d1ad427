from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from tocsin.engine.worker import run_forever


class Command(BaseCommand):
    help = "Run the worker: fires timers (grouping, escalations, reminders, deliveries)."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        run_forever(stop)
