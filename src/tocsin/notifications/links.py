"""One-click acknowledge/resolve links: signed, for one incident and one action, expiring."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing

SALT = "tocsin.incident-action"
MAX_AGE = timedelta(hours=24)
ACTIONS = ("acknowledge", "resolve")


@dataclass(frozen=True)
class ActionClaim:
    incident: str  # public id
    action: str
    user: int | None
    issued: datetime | None = None  # None in links made before it was recorded


def action_token(*, incident_public_id: str, action: str, user_id: int | None) -> str:
    """A signed token naming one incident and one action (and who the link was sent to)."""
    assert action in ACTIONS
    return signing.dumps(
        {"i": incident_public_id, "a": action, "u": user_id, "t": int(time.time() * 1000)},
        salt=SALT,
        compress=True,
    )


def action_url(*, incident_public_id: str, action: str, user_id: int | None) -> str:
    token = action_token(incident_public_id=incident_public_id, action=action, user_id=user_id)
    return f"{settings.BASE_URL}/act/{token}/"


def action_claim(token: str) -> ActionClaim:
    """Verify a token; raise signing.BadSignature (or SignatureExpired) when it is not valid."""
    data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    if data.get("a") not in ACTIONS or not isinstance(data.get("i"), str):
        raise signing.BadSignature("malformed action token")
    issued = data.get("t")
    return ActionClaim(
        incident=data["i"],
        action=data["a"],
        user=data.get("u"),
        issued=datetime.fromtimestamp(issued / 1000, UTC) if isinstance(issued, int) else None,
    )
