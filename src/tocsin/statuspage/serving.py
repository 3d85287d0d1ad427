"""HTTP semantics shared by the Django views and the lean ASGI path: headers, 304, CORS."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from tocsin.statuspage.snapshot import File, Site

CACHE_CONTROL = "public, max-age=10"


def not_modified(site: Site, file: File, if_none_match: str, if_modified_since: str) -> bool:
    """RFC 9110: If-None-Match wins; If-Modified-Since only without it."""
    if if_none_match:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or file.etag in tags
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return since is not None and site.built_at.replace(microsecond=0) <= since
    return False


def headers(site: Site, file: File, *, is_api: bool) -> list[tuple[str, str]]:
    """Response headers for a file of the snapshot."""
    out = [
        ("Content-Type", file.content_type),
        ("ETag", file.etag),
        ("Last-Modified", site.last_modified),
        ("Cache-Control", CACHE_CONTROL),
        ("X-Content-Type-Options", "nosniff"),
    ]
    if is_api or file.content_type.startswith(("application/rss", "application/atom")):
        out.append(("Access-Control-Allow-Origin", "*"))
    else:
        out.append(("X-Frame-Options", "DENY"))
    return out
