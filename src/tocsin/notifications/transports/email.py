"""E-mail through Django's mail backend (SMTP from TOCSIN_EMAIL_URL)."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from tocsin.notifications.transports.base import Message, TransportError


class EmailTransport:
    def send(self, target: str, message: Message) -> None:
        """Send an HTML + text mail; all mails of one incident share one thread."""
        headers = {}
        if message.thread_id:
            domain = settings.BASE_URL.split("//")[-1].split("/")[0].split(":")[0] or "tocsin"
            root = f"<{message.thread_id}@{domain}>"
            # Same References/In-Reply-To root: mail clients group the incident's messages.
            headers = {"References": root, "In-Reply-To": root}
        # A title may carry line breaks (a YAML block scalar's trailing newline): a header
        # cannot, and Django would refuse the whole message (BadHeaderError).
        subject = " ".join(message.subject.split())
        mail = EmailMultiAlternatives(
            subject=subject, body=message.text, to=[target], headers=headers
        )
        if message.html:
            mail.attach_alternative(message.html, "text/html")
        try:
            mail.send()
        except smtplib.SMTPRecipientsRefused as exc:
            raise TransportError(f"recipient refused: {exc.recipients}", permanent=True) from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"SMTP: {exc}") from exc
