"""Environment variables become settings, and bad values are refused with the variable's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tocsin.envconfig import (
    ConfigError,
    database_from_url,
    email_from_url,
    secret_key,
    sqlite_database,
)


def test_a_postgres_url_becomes_a_django_database() -> None:
    db = database_from_url("postgresql://tocsin:s%40cret@db.internal:5433/tocsin?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "tocsin",
        "s@cret",
        "db.internal",
        "5433",
        "tocsin",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://x/y", "unsupported scheme"), ("postgresql://host/", "no database name")],
)
def test_bad_database_urls_name_the_variable(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"DATABASE_URL: .*{message}"):
        database_from_url(url)


def test_sqlite_runs_in_wal_mode_with_durable_commits(tmp_path: Path) -> None:
    options = sqlite_database(tmp_path)["OPTIONS"]
    assert "journal_mode=WAL" in options["init_command"]
    assert "synchronous=FULL" in options["init_command"]
    assert options["transaction_mode"] == "IMMEDIATE"


@pytest.mark.parametrize(
    ("url", "port", "ssl", "tls"),
    [
        ("smtp://u:p@mail:2525", 2525, False, False),
        ("smtps://u:p@mail", 465, True, False),
        ("smtp+starttls://u:p@mail", 587, False, True),
    ],
)
def test_email_urls(url: str, port: int, ssl: bool, tls: bool) -> None:
    email = email_from_url(url)
    assert email["EMAIL_HOST"] == "mail"
    assert (email["EMAIL_PORT"], email["EMAIL_USE_SSL"], email["EMAIL_USE_TLS"]) == (
        port,
        ssl,
        tls,
    )
    assert (email["EMAIL_HOST_USER"], email["EMAIL_HOST_PASSWORD"]) == ("u", "p")


def test_console_email_prints_instead_of_sending() -> None:
    assert email_from_url("console:")["EMAIL_BACKEND"].endswith("console.EmailBackend")


def test_an_unknown_email_scheme_is_refused() -> None:
    with pytest.raises(ConfigError, match="TOCSIN_EMAIL_URL"):
        email_from_url("imap://mail")


def test_the_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = secret_key(tmp_path)
    assert secret_key(tmp_path) == first
    assert len(first) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
