"""Chat, SMS and push through any apprise URL (Slack, Teams, Discord, Telegram, ...)."""

from __future__ import annotations

import apprise

from tocsin.notifications.transports.base import Message, TransportError, check_outbound


class AppriseTransport:
    def send(self, target: str, message: Message) -> None:
        """Send through apprise; an URL apprise cannot parse is a permanent error."""
        check_outbound(_http_equivalent(target))
        sender = apprise.Apprise()
        if not sender.add(target):
            raise TransportError("apprise does not understand this URL", permanent=True)
        if not sender.notify(title=message.subject, body=message.text):
            raise TransportError("apprise: the service did not accept the notification")


def _http_equivalent(url: str) -> str:
    """apprise's json://, xml://, form:// schemes are plain HTTP: guard them like webhooks."""
    for scheme in ("json", "xml", "form"):
        for suffix in ("", "s"):
            prefix = f"{scheme}{suffix}://"
            if url.startswith(prefix):
                return f"http{suffix}://" + url[len(prefix) :]
    return url
