"""Django settings, read from the environment (see README "Configuration")."""

from __future__ import annotations

import os
from pathlib import Path

import django_stubs_ext

from tocsin.envconfig import (
    database_from_url,
    email_from_url,
    secret_key,
    sqlite_database,
    truthy,
)

# Lets admin and manager classes be subscripted at run time (ModelAdmin[Model]) for mypy.
django_stubs_ext.monkeypatch()

DATA_DIR = Path(os.environ.get("TOCSIN_DATA_DIR", "./var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = truthy(os.environ.get("TOCSIN_DEBUG"))
SECRET_KEY = os.environ.get("TOCSIN_SECRET_KEY") or secret_key(DATA_DIR)
BASE_URL = os.environ.get("TOCSIN_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOW_PRIVATE_NETWORKS = truthy(os.environ.get("TOCSIN_ALLOW_PRIVATE_NETWORKS"))

ALLOWED_HOSTS = [h for h in os.environ.get("TOCSIN_ALLOWED_HOSTS", "*").split(",") if h]
CSRF_TRUSTED_ORIGINS = [BASE_URL]
# Served over https (behind a proxy that terminates TLS): cookies only travel over https.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = BASE_URL.startswith("https://")

_db_url = os.environ.get("DATABASE_URL", "").strip()
DATABASES = {"default": database_from_url(_db_url) if _db_url else sqlite_database(DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

globals().update(email_from_url(os.environ.get("TOCSIN_EMAIL_URL", "console:")))
DEFAULT_FROM_EMAIL = os.environ.get("TOCSIN_EMAIL_FROM", "Tocsin <tocsin@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tocsin.accounts",
    "tocsin.policy",
    "tocsin.alerts",
    "tocsin.incidents",
    "tocsin.oncall",
    "tocsin.escalation",
    "tocsin.notifications",
    "tocsin.comms",
    "tocsin.statuspage",
    "tocsin.engine",
    "tocsin.web",
    "tocsin.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tocsin.urls"
ASGI_APPLICATION = "tocsin.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:incident-list"
LOGOUT_REDIRECT_URL = "web:login"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the installed apps: `tocsin serve` needs no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# The status page is also written as static files here on every change (empty: off).
STATUS_EXPORT_DIR = os.environ.get("TOCSIN_STATUS_EXPORT_DIR", "").strip()

# Ingestion limit (PagerDuty's documented maximum event size is 512 KB).
MAX_ALERT_BODY_BYTES = 512 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("TOCSIN_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
