"""Notification channels: one small module each, listed in one registry."""

from __future__ import annotations

from tocsin.notifications.transports import apprise_url, email, webhook
from tocsin.notifications.transports.base import Message, Transport, TransportError

TRANSPORTS: dict[str, Transport] = {
    "email": email.EmailTransport(),
    "apprise": apprise_url.AppriseTransport(),
    "webhook": webhook.WebhookTransport(),
}

__all__ = ["TRANSPORTS", "Message", "Transport", "TransportError"]
