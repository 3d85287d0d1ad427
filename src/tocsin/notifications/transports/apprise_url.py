"""Chat, SMS and push through any apprise URL (Slack, Teams, Discord, Telegram, ...)."""

from __future__ import annotations

import logging

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


def apprise_understands(url: str) -> bool:
    """Whether apprise can parse ``url`` into one of its services (no network involved)."""
    logger = logging.getLogger("apprise")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # its "unsupported URL" warnings: the caller says why
    try:
        return apprise.Apprise.instantiate(url) is not None
    finally:
        logger.setLevel(level)
