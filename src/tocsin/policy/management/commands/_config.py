"""What the configuration commands share: read a file or report its problems and fail."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tocsin.policy.config.loader import ConfigError, config_load
from tocsin.policy.config.schema import Config


def load_or_fail(command: BaseCommand, path: str) -> Config:
    """Return the file's configuration, or print every problem to stderr and fail (exit 1)."""
    try:
        return config_load(path)
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except ConfigError as exc:
        for problem in exc.problems:
            command.stderr.write(str(problem))
        count = len(exc.problems)
        raise CommandError(f"{path}: {count} problem{'s' if count != 1 else ''}") from None


def describe(config: Config) -> str:
    """Count what a configuration defines: ``5 people, 1 team, ...``."""
    counts = [
        (len(config.people), "person", "people"),
        (len(config.teams), "team", "teams"),
        (len(config.roles), "role", "roles"),
        (len(config.schedules), "schedule", "schedules"),
        (len(config.escalation_policies), "escalation policy", "escalation policies"),
        (len(config.services), "service", "services"),
        (sum(len(s.integrations) for s in config.services), "integration", "integrations"),
        (len(config.severities), "severity", "severities"),
        (len(config.runbooks), "runbook", "runbooks"),
    ]
    return ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts)
