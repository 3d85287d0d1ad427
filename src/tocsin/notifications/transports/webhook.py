"""JSON POST to a URL, optionally signed (``X-Tocsin-Signature: sha256=<hex HMAC of body>``)."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests

from tocsin.notifications.transports.base import Message, TransportError, outbound_guard

TIMEOUT = 10


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _split_secret(target: str) -> tuple[str, str]:
    """A ``#secret=...`` fragment on the URL holds the signing secret (never sent)."""
    parts = urlsplit(target)
    secret = parse_qs(parts.fragment).get("secret", [""])[0]
    return urlunsplit(parts._replace(fragment="")), secret


class WebhookTransport:
    def send(self, target: str, message: Message) -> None:
        """POST the message's JSON body; 2xx is delivered, 5xx, 408, 429 and network errors
        are retried, other 4xx and 3xx (redirects are not followed) are permanent."""
        url, secret = _split_secret(target)
        body = json.dumps(
            message.data or {"subject": message.subject, "text": message.text}, default=str
        ).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Tocsin"}
        if secret:
            headers["X-Tocsin-Signature"] = sign(secret, body)
        with outbound_guard("webhook"):
            try:
                response = requests.post(
                    url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise TransportError(f"webhook: {exc}") from exc
        status = response.status_code
        if 300 <= status < 400:
            # Not followed (a redirect could lead to a private address past the guard): the
            # message did not arrive, and the URL needs fixing.
            raise TransportError(
                f"webhook answered {status} (a redirect: use the URL it points to)",
                permanent=True,
            )
        if status >= 400:
            permanent = status < 500 and status not in (408, 429)
            raise TransportError(f"webhook answered {status}", permanent=permanent)
