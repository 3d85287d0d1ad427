"""Bearer-token authentication for the JSON API (a logged-in browser session works too)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from tocsin.accounts.services import token_user


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = token_user(raw=token)
        if user is not None:
            request.user = user
        return user


class SessionCookie(SessionAuth):
    """The web UI's session, so a signed-in browser can read the API; writes need the CSRF
    token, as the UI's own forms do (a plain function here skipped django-ninja's check, and
    any site could make a signed-in browser resolve incidents with a text/plain form)."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        return user if user is not None and user.is_authenticated else None


session_auth = SessionCookie()
