"""The ``tocsin`` command: a thin front over Django management commands.

Tocsin's verbs map onto management commands of the same job (``tocsin check`` is
``config_check``: Django's own ``check`` is its system check, which stays reachable as
``tocsin django check``).
"""

from __future__ import annotations

import os
import sys

USAGE = """\
usage: tocsin COMMAND [ARGS]

Run:
  serve [--host H] [--port P]     migrate, then run the web server and the worker
  web [--host H] [--port P]       run the web server only (UI, API, ingestion)
  worker                          run the worker only (timers, grouping, notifications)
  migrate                         create or upgrade the database

Configuration as code:
  check FILE                      validate a configuration file; every problem with its line
  apply FILE [--prune]            load a configuration file (idempotent, all or nothing)
  export [-o FILE]                write the current configuration as YAML
  simulate FILE --severity S [--at T] [--ack-after D] [--resolve-after D] [--json]
                                  run a policy on a virtual clock: who is paged when
  render-guide FILE [-o OUT]      write the policy as a Markdown incident-response guide

People and access:
  createuser --email E [--password P] [--admin]
  token create --email E [--name N]   print a new API token
  test-message --email E [--method NAME] [--queue]
                                  send a test message through a person's contact methods

Incidents:
  incident declare --title T [--severity S] [--service NAME]
  incident ack NUMBER | incident resolve NUMBER | incident list
  incident escalate NUMBER [--to-user E | --to-role R]
  drill [NAME] [--service S]      list the policy's drills (last run, next due), or start one

Anything else is passed to Django's manage.py (for example: tocsin django shell).
"""

COMMANDS = {
    "serve": "tocsin_serve",
    "web": "tocsin_web",
    "worker": "tocsin_worker",
    "migrate": "migrate",
    "createuser": "createuser",
    "token": "token",
    "check": "config_check",
    "apply": "config_apply",
    "export": "config_export",
    "incident": "incident",
    "simulate": "simulate",
    "render-guide": "render_guide",
    "drill": "drill",
    "test-message": "test_message",
}
POLICY_VERBS = {
    "check": "config_check",
    "load": "config_apply",
    "export": "config_export",
    "render": "render_guide",
}


def _command_line(argv: list[str]) -> list[str] | None:
    """Translate ``tocsin`` arguments into a manage.py command line (None: print usage)."""
    if not argv or argv[0] in {"-h", "--help", "help"}:
        return None
    verb, rest = argv[0], argv[1:]
    if verb == "django":
        return rest or ["help"]
    if verb == "policy" and rest and rest[0] in POLICY_VERBS:
        return [POLICY_VERBS[rest[0]], *rest[1:]]
    if verb == "migrate":
        return ["migrate", "--no-input", *rest]
    return [COMMANDS.get(verb, verb), *rest]


def main(argv: list[str] | None = None) -> None:
    """Run a ``tocsin`` subcommand."""
    args = _command_line(list(sys.argv[1:] if argv is None else argv))
    if args is None:
        sys.stdout.write(USAGE)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["tocsin", *args])


if __name__ == "__main__":
    main()
