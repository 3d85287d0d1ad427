"""ASGI entry point: ``uvicorn tocsin.asgi:application``.

Two lean ASGI apps sit in front of Django, each taking only its own paths and passing the rest
on: the ingestion endpoints with group commit (``tocsin.alerts.ingest_fast``;
``TOCSIN_FAST_INGEST=0`` hands them back to Django's views), and GET/HEAD of the public status
page, served from the in-memory snapshot (``tocsin.statuspage.fast``).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
django_application = get_asgi_application()


def _fast_ingest_enabled() -> bool:
    return os.environ.get("TOCSIN_FAST_INGEST", "1").strip().lower() not in {"0", "false", "no"}


from tocsin.alerts.ingest_fast import IngestApp  # noqa: E402 (needs Django set up)
from tocsin.statuspage.fast import StatusPageApp  # noqa: E402

inner: Any = IngestApp(django_application) if _fast_ingest_enabled() else django_application
application = StatusPageApp(inner)
