"""Who may see the pages, and in which time zone they read them."""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Concatenate, ParamSpec, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.http import urlencode

from tocsin.accounts.models import User
from tocsin.web.htmx import is_htmx

P = ParamSpec("P")
UTC = ZoneInfo("UTC")


class AuthedRequest(HttpRequest):
    """A request from a signed-in person (what ``responder_view`` hands its view)."""

    user: User


def viewer_zone(user: User) -> ZoneInfo:
    """The person's time zone, or UTC when unset or unknown."""
    try:
        return ZoneInfo(user.timezone) if user.timezone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _login_redirect(request: HttpRequest) -> HttpResponse:
    if not is_htmx(request):
        return redirect_to_login(request.get_full_path())
    # An htmx request (a poll, a button) would follow a 302 and swap the login page into the
    # middle of the page; ask htmx for a full-page visit instead, back to the page it was on.
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    back = current.path + (f"?{current.query}" if current.query else "") or "/"
    response = HttpResponse(status=401)
    response["HX-Redirect"] = f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': back})}"
    return response


def responder_view(
    view: Callable[Concatenate[AuthedRequest, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Require a signed-in person and render times in their zone."""

    def wrapped(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return _login_redirect(request)
        authed = cast(AuthedRequest, request)
        with timezone.override(viewer_zone(authed.user)):
            return view(authed, *args, **kwargs)

    update_wrapper(wrapped, view)
    return wrapped
