"""HTTP semantics shared by the Django views and the lean ASGI path: headers, 304, CORS."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from tocsin.statuspage.snapshot import File, Site

# Browsers and CDNs may reuse a page for 2 s without asking: a change shows within 2 s on
# the server (a web process checks for a new build every second), and no later than that
# again in a cache. Past it they revalidate, and a 304 from memory is cheap.
CACHE_CONTROL = "public, max-age=2"


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value admits gzip (RFC 9110 12.5.3: ``gzip`` or ``*`` with
    a non-zero q; an explicit ``gzip;q=0`` refuses it)."""
    star = False
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip()
        if coding not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding == "*":
            star = q > 0
        else:
            return q > 0
    return star


def representation(file: File, accept_encoding: str) -> tuple[bytes, bool]:
    """The body to send and whether it is the gzip-compressed one."""
    if file.gzip is not None and accepts_gzip(accept_encoding):
        return file.gzip, True
    return file.body, False


def not_modified(site: Site, file: File, if_none_match: str, if_modified_since: str) -> bool:
    """RFC 9110: If-None-Match wins; If-Modified-Since only without it. Either representation's
    validator matches: both stand for the same unchanged content."""
    if if_none_match:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return (
            "*" in tags or file.etag in tags or (file.gzip is not None and file.gzip_etag in tags)
        )
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return since is not None and site.built_at.replace(microsecond=0) <= since
    return False


def headers(
    site: Site, file: File, *, is_api: bool, gzipped: bool = False
) -> list[tuple[str, str]]:
    """Response headers for a file of the snapshot (``gzipped``: its compressed body)."""
    out = [
        ("Content-Type", file.content_type),
        ("ETag", file.gzip_etag if gzipped else file.etag),
        ("Last-Modified", site.last_modified),
        ("Cache-Control", CACHE_CONTROL),
        ("X-Content-Type-Options", "nosniff"),
    ]
    if file.gzip is not None:
        out.append(("Vary", "Accept-Encoding"))  # caches keep the two representations apart
    if gzipped:
        out.append(("Content-Encoding", "gzip"))
    if is_api or file.content_type.startswith(("application/rss", "application/atom")):
        out.append(("Access-Control-Allow-Origin", "*"))
    else:
        out.append(("X-Frame-Options", "DENY"))
    return out
