from __future__ import annotations

import json
from argparse import ArgumentParser
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tocsin.policy.config.durations import parse_duration
from tocsin.policy.management.commands._config import load_or_fail
from tocsin.policy.simulate import Scenario, SimulationError, Simulator, display_zone


def _duration(flag: str, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return timedelta(seconds=parse_duration(value).seconds)
    except ValueError as exc:
        raise CommandError(f"{flag}: {exc}") from exc


def _instant(value: str | None) -> datetime:
    if value is None:
        return timezone.now()
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(
            f"--at: {value!r} is not an ISO 8601 time (e.g. 2026-11-28T03:00-05:00)"
        ) from exc
    if at.tzinfo is None:
        raise CommandError("--at: give the UTC offset, e.g. 2026-11-28T03:00-05:00")
    return at


class Command(BaseCommand):
    help = "Run a policy file on a virtual clock and print who is paged when, and why."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--severity", required=True)
        parser.add_argument("--service", help="service whose escalation policy pages")
        parser.add_argument("--at", help="when it breaks, ISO 8601 with offset (default now)")
        parser.add_argument("--ack-after", help="acknowledged this long after (e.g. 20m)")
        parser.add_argument("--mitigate-after", help="mitigated this long after")
        parser.add_argument("--resolve-after", help="resolved this long after (e.g. 2h)")
        parser.add_argument("--updates-every", help="status updates are posted this often")
        parser.add_argument("--horizon", help="how far to run when unresolved (default 24h+)")
        parser.add_argument("--json", action="store_true", help="print a JSON list of events")

    def handle(self, *args: Any, **options: Any) -> None:
        config = load_or_fail(self, options["file"])
        at = _instant(options["at"])
        scenario = Scenario(
            severity=options["severity"],
            at=at,
            service=options["service"],
            ack_after=_duration("--ack-after", options["ack_after"]),
            mitigate_after=_duration("--mitigate-after", options["mitigate_after"]),
            resolve_after=_duration("--resolve-after", options["resolve_after"]),
            updates_every=_duration("--updates-every", options["updates_every"]),
            horizon=_duration("--horizon", options["horizon"]),
        )
        try:
            events = Simulator(config).run(scenario)
        except SimulationError as exc:
            raise CommandError(str(exc)) from exc
        zone = display_zone(at, config)
        rows = [e.as_json(at, zone) for e in events]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            minutes = row["offset_seconds"] // 60
            offset = f"+{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"+{minutes}m"
            when = datetime.fromisoformat(row["at"]).strftime("%a %H:%M")
            targets = ", ".join(row["targets"])
            self.stdout.write(
                f"{offset:>9}  {when}  {row['kind']:<14} {targets or '-':<40} "
                f"{row['detail']}  [{row['rule']}]"
            )
