"""Bearer-token authentication for the JSON API (a logged-in browser session works too)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from tocsin.accounts.services import token_user


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = token_user(raw=token)
        if user is not None:
            request.user = user
        return user


def session_auth(request: HttpRequest) -> Any:
    """Accept the web UI's session, so the UI's htmx calls can use the API."""
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None
