"""Parse Tocsin's environment variables into Django settings values.

Kept apart from ``settings.py`` so each parser is a small pure function with tests.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigError(ValueError):
    """An environment variable holds a value Tocsin cannot use."""


def truthy(value: str | None) -> bool:
    """Read a boolean environment value ("1", "true", "yes", "on")."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def database_from_url(url: str) -> dict[str, Any]:
    """Turn ``postgresql://user:pass@host:port/name`` into a Django DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "postgresql+psycopg"}:
        raise ConfigError(f"DATABASE_URL: unsupported scheme {parts.scheme!r} (use postgresql://)")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ConfigError("DATABASE_URL: no database name in the path")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        # 0: under ASGI each request may run on a different thread, and a persistent
        # connection per thread leaks until PostgreSQL's max_connections is reached.
        "CONN_MAX_AGE": 0,
    }


def sqlite_database(data_dir: Path) -> dict[str, Any]:
    """The embedded default: a SQLite file in WAL mode with a busy timeout and durable commits."""
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(data_dir / "tocsin.sqlite3"),
        "OPTIONS": {
            # IMMEDIATE takes the write lock at BEGIN, so two writers queue on the busy timeout
            # instead of one failing with "database is locked" when it upgrades a read lock.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=FULL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=20000;"
            ),
        },
    }


def email_from_url(url: str) -> dict[str, Any]:
    """Turn ``smtp://``, ``smtps://``, ``smtp+starttls://`` or ``console:`` into email settings."""
    if url.strip() in {"console:", "console://"}:
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in {"smtp", "smtps", "smtp+starttls"}:
        raise ConfigError(
            f"TOCSIN_EMAIL_URL: unsupported scheme {scheme!r} "
            "(use smtp://, smtps://, smtp+starttls:// or console:)"
        )
    default_port = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}[scheme]
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": parts.port or default_port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": scheme == "smtps",
        "EMAIL_USE_TLS": scheme == "smtp+starttls",
        "EMAIL_TIMEOUT": 20,
    }


def secret_key(data_dir: Path) -> str:
    """Read the secret key from the data dir, generating it (mode 0600) on first start."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes starting at once must not write two different keys.
    try:
        with path.open("x") as fh:
            fh.write(key)
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text().strip()
    return key
