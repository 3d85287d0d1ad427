"""A real SMTP server (aiosmtpd) that keeps every mail it accepts, for end-to-end paging tests.

``with SmtpSink() as sink:`` listens on a free port of 127.0.0.1; point Tocsin at it with
``TOCSIN_EMAIL_URL=sink.url``. Each accepted mail is kept with the moment it was accepted (the
end of DATA, before the ``250`` reply) on this process's monotonic and wall clocks.

``reply_delay`` holds the ``250`` reply back that long, like a server that scans a mail before
accepting it: the mail is already kept, but the sender only learns so after the delay. That
is the window in which a sender killed before recording "sent" will send the mail again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from types import TracebackType
from typing import cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from harness import free_port

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command

# "Incident #12 [P1]: ..." (one page) or "#12 [P1] ..." per incident of a bundle.
_NUMBER = re.compile(r"^(?:Incident )?#(\d+)\b", re.MULTILINE)


@dataclass(frozen=True)
class ReceivedMail:
    at: float  # time.monotonic() of this process when the mail was accepted
    wall: float  # time.time() at the same moment
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def header(self, name: str) -> str:
        return str(self.message[name] or "")

    def part(self, subtype: str) -> str:
        """The decoded ``text/<subtype>`` body ("" when the mail has none)."""
        body = self.message.get_body(preferencelist=(subtype,))
        if body is None or body.get_content_subtype() != subtype:
            return ""
        return cast(str, body.get_content())

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")

    @property
    def incident_numbers(self) -> list[int]:
        """Incident numbers this mail pages for: one for a page, several for a bundle."""
        return [int(n) for n in _NUMBER.findall(self.text)]

    @property
    def pages(self) -> list[tuple[int, str]]:
        """(incident number, recipient) for every page this mail carries."""
        return [(n, rcpt.lower()) for rcpt in self.rcpt_tos for n in self.incident_numbers]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        mail = ReceivedMail(
            at=time.monotonic(),
            wall=time.time(),
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=message_from_bytes(raw, policy=default),
        )
        self.sink._keep(mail)
        if self.sink.reply_delay:
            await asyncio.sleep(self.sink.reply_delay)
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that accepts every mail and keeps it (thread-safe)."""

    def __init__(self, *, reply_delay: float = 0.0) -> None:
        self.reply_delay = reply_delay
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._mails: list[ReceivedMail] = []
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def _keep(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._mails.append(mail)

    def mails(self, predicate: Callable[[ReceivedMail], bool] | None = None) -> list[ReceivedMail]:
        """Every mail kept so far (those matching ``predicate``), in arrival order."""
        with self._lock:
            mails = list(self._mails)
        return [m for m in mails if predicate is None or predicate(m)]

    def to(self, address: str) -> list[ReceivedMail]:
        address = address.lower()
        return self.mails(lambda m: address in (r.lower() for r in m.rcpt_tos))

    def page_counts(self) -> Counter[tuple[int, str]]:
        """How many times each (incident number, recipient) page arrived."""
        return Counter(page for mail in self.mails() for page in mail.pages)

    def __len__(self) -> int:
        with self._lock:
            return len(self._mails)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
