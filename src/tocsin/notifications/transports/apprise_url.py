"""Chat, SMS and push through any apprise URL (Slack, Teams, Discord, Telegram, ...)."""

from __future__ import annotations

import apprise

from tocsin.notifications.transports.base import Message, TransportError, outbound_guard


class AppriseTransport:
    def send(self, target: str, message: Message) -> None:
        """Send through apprise; an URL apprise cannot parse is a permanent error."""
        sender = apprise.Apprise()
        if not sender.add(target):
            raise TransportError("apprise does not understand this URL", permanent=True)
        with outbound_guard("apprise"):
            if not sender.notify(title=message.subject, body=message.text):
                raise TransportError("apprise: the service did not accept the notification")
