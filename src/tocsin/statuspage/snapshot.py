"""The rendered site: rebuilt after each change, stored in one row, served from memory.

Writers call ``page_changed()``; after their commit the site is rendered once
(``snapshot_rebuild``) and stored in the ``Snapshot`` row with a new ``build`` id. Each web
process keeps the files in memory and asks the database for the current ``build`` at most once
per ``CHECK_SECONDS``; a request serves bytes. If that check fails (database down), the last
good snapshot keeps being served.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from tocsin.engine.services import timer_schedule
from tocsin.statuspage import render
from tocsin.statuspage.models import Snapshot

log = logging.getLogger("tocsin.statuspage")

CHECK_SECONDS = 1.0
PUBLISH = "statuspage.publish"
SNAPSHOT_ID = 1


# Files at least this large are also kept gzip-compressed (served to clients that accept it,
# exported as ``<file>.gz`` for nginx's gzip_static): the page with its uptime bars is ~47 KB,
# ~5 KB compressed, which is what a phone on a bad network during an outage downloads.
GZIP_MIN_BYTES = 1024


@dataclass(frozen=True)
class File:
    content_type: str
    etag: str
    body: bytes
    gzip: bytes | None = None  # the same body gzip-compressed, when that is worth it

    @property
    def gzip_etag(self) -> str:
        """The compressed representation's own strong validator (RFC 9110 8.8.3)."""
        return self.etag[:-1] + '-gz"'


def _file(content_type: str, etag: str, body: bytes) -> File:
    packed = None
    if len(body) >= GZIP_MIN_BYTES:
        # mtime=0: the same body always compresses to the same bytes (export == served).
        packed = gzip.compress(body, compresslevel=6, mtime=0)
        if len(packed) >= len(body):
            packed = None
    return File(content_type, etag, body, packed)


@dataclass(frozen=True)
class Site:
    """One build of the site, ready to serve."""

    build: str
    version: int
    built_at: datetime
    last_modified: str  # HTTP date
    files: dict[str, File]

    def get(self, path: str) -> File | None:
        """The file for a path under /status/ (``""`` and ``x/`` mean their index.html)."""
        if path == "" or path.endswith("/"):
            path += "index.html"
        return self.files.get(path)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:24] + '"'


def _site(row: Snapshot) -> Site:
    files = {
        path: _file(content_type, etag, body.encode())
        for path, (content_type, etag, body) in row.files.items()
    }
    return Site(
        build=row.build,
        version=row.version,
        built_at=row.built_at,
        last_modified=format_datetime(row.built_at.replace(microsecond=0), usegmt=True),
        files=files,
    )


# ---- building --------------------------------------------------------------------------------


def snapshot_rebuild(*, now: datetime | None = None) -> Site:
    """Render the whole site, store it as the current snapshot and serve it from here."""
    now = now or timezone.now()
    row = Snapshot.objects.filter(pk=SNAPSHOT_ID).first()
    page_id = row.page_id if row else None
    page = render.page_load(page_id=page_id or "", now=now)
    if row is None:
        row = Snapshot(pk=SNAPSHOT_ID, build="", built_at=now)
        page.page_id = row.page_id
    files = render.site_files(page)
    row.files = {
        path: [content_type, _etag(body), body.decode()]
        for path, (content_type, body) in files.items()
    }
    row.build, row.built_at = secrets.token_hex(8), now
    if row._state.adding:
        row.version = 1
        row.save(force_insert=True)
    else:
        Snapshot.objects.filter(pk=SNAPSHOT_ID).update(
            files=row.files, build=row.build, built_at=now, version=F("version") + 1
        )
        row.refresh_from_db(fields=["version"])
    site = _site(row)
    cache.install(site)
    return site


def _on_commit(fn: Callable[[], None]) -> None:
    """Indirection so tests can run the rebuild at once (their transaction never commits)."""
    transaction.on_commit(fn, robust=True)


def page_changed() -> None:
    """Rebuild the snapshot once the current transaction commits; export it in the worker."""

    def rebuild() -> None:
        site = snapshot_rebuild()
        schedule_daily_rebuild(site.built_at)
        if settings.STATUS_EXPORT_DIR:
            timer_schedule(kind=PUBLISH, payload={"export": True})

    _on_commit(rebuild)


def snapshot_ensure() -> None:
    """Build a first snapshot if there is none (first request on a fresh install)."""
    if not Snapshot.objects.filter(pk=SNAPSHOT_ID).exists():
        snapshot_rebuild()


# ---- serving -------------------------------------------------------------------------------


class SiteCache:
    """The current site in process memory, re-validated against the database once a second."""

    def __init__(self) -> None:
        self.site: Site | None = None
        self.checked = 0.0
        self.lock = threading.Lock()

    def install(self, site: Site) -> None:
        """Serve a site this process just built."""
        self.site, self.checked = site, time.monotonic()

    def clear(self) -> None:
        self.site, self.checked = None, 0.0

    def current(self) -> Site | None:
        """The site to serve now; reads the database at most once per CHECK_SECONDS."""
        if self.site is not None and time.monotonic() - self.checked < CHECK_SECONDS:
            return self.site
        if not self.lock.acquire(blocking=self.site is None):
            return self.site  # another thread is checking; serve what we have
        try:
            self.refresh()
        finally:
            self.lock.release()
        return self.site

    def refresh(self) -> None:
        """Load the stored snapshot if its build differs from ours; keep ours on errors."""
        self.checked = time.monotonic()
        try:
            build = Snapshot.objects.filter(pk=SNAPSHOT_ID).values_list("build", flat=True).first()
            if build is None:
                snapshot_rebuild()
            elif self.site is None or build != self.site.build:
                row = Snapshot.objects.filter(pk=SNAPSHOT_ID).first()
                if row is not None:
                    self.site = _site(row)
        except DatabaseError:
            log.warning("status page: database unavailable, serving the last snapshot")


cache = SiteCache()


# ---- static export -------------------------------------------------------------------------


def snapshot_export(*, directory: str | os.PathLike[str], site: Site | None = None) -> Path:
    """Write the site under ``directory`` atomically: a new tree, then a symlink swap.

    ``directory`` becomes a symlink to ``directory.<build>``; a web server following it sees
    either the old tree or the new one, never a half-written one.
    """
    site = site or cache.current()
    if site is None:
        raise RuntimeError("no status page snapshot to export")
    target = Path(directory)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    tree = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    for path, file in site.files.items():
        out = tree / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(file.body)
        if file.gzip is not None:
            out.with_name(out.name + ".gz").write_bytes(file.gzip)
    tree.chmod(0o755)
    _swap(target, tree)
    return tree


def _swap(target: Path, tree: Path) -> None:
    old = target.resolve() if target.is_symlink() else None
    if target.exists() and not target.is_symlink():
        # A real directory from an earlier setup: move it aside once.
        target.rename(target.with_name(f".{target.name}.old-{secrets.token_hex(4)}"))
    link = target.with_name(f".{target.name}.link-{secrets.token_hex(4)}")
    link.symlink_to(tree.name)
    os.replace(link, target)  # atomic on POSIX
    if old is not None and old != tree and old.parent == target.parent:
        shutil.rmtree(old, ignore_errors=True)


def publish(*, export: bool) -> None:
    """Worker step: rebuild (state may have moved on with time) and export."""
    site = snapshot_rebuild()
    schedule_daily_rebuild(site.built_at)
    if export and settings.STATUS_EXPORT_DIR:
        snapshot_export(directory=settings.STATUS_EXPORT_DIR, site=site)


def schedule_daily_rebuild(now: datetime) -> None:
    """Uptime bars move at midnight UTC: rebuild then, once."""
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=5, microsecond=0)
    timer_schedule(
        kind=PUBLISH,
        due_at=midnight,
        payload={"export": True},
        key=f"statuspage.daily:{midnight:%Y-%m-%d}",
    )
