"""The two htmx facts the views need: is this an htmx request, and answer it with a fragment."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def is_htmx(request: HttpRequest) -> bool:
    """True for htmx requests that want a fragment (a history restore wants the whole page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render_page(
    request: HttpRequest,
    page: str,
    fragment: str,
    context: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    """Render ``fragment`` for htmx, else the full ``page``; caches keep the two apart."""
    template = fragment if is_htmx(request) else page
    response = render(request, template, {**context, "htmx": is_htmx(request)}, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response
