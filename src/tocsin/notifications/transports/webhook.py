"""JSON POST to a URL, optionally signed (``X-Tocsin-Signature: sha256=<hex HMAC of body>``)."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests

from tocsin.notifications.transports.base import Message, TransportError, check_outbound

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
        """POST the message's JSON body; 4xx is permanent (but 408/429), 5xx is retried."""
        url, secret = _split_secret(target)
        check_outbound(url)
        body = json.dumps(
            message.data or {"subject": message.subject, "text": message.text}, default=str
        ).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Tocsin"}
        if secret:
            headers["X-Tocsin-Signature"] = sign(secret, body)
        try:
            response = requests.post(
                url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise TransportError(f"webhook: {exc}") from exc
        if response.status_code >= 400:
            permanent = response.status_code < 500 and response.status_code not in (408, 429)
            raise TransportError(f"webhook answered {response.status_code}", permanent=permanent)
