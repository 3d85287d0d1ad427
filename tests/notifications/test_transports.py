"""The transports against real peers: a local HTTP server for webhooks and apprise's json://,
Django's mail outbox for e-mail; the outbound guard in front of both HTTP ones."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings

from tocsin.notifications.transports import TRANSPORTS, Message, TransportError
from tocsin.notifications.transports.webhook import sign

MESSAGE = Message(
    subject="[Tocsin] #7 P1 Checkout down",
    text="Checkout is down.\nAcknowledge: https://tocsin.example.com/a/x",
    html="<p>Checkout is down.</p>",
    thread_id="incident-abc123",
    data={"event": "incident.page", "incident": {"number": 7, "title": "Checkout down"}},
)


class Receiver:
    """A real HTTP server on 127.0.0.1 that records each request and answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.headers: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                self.send_response(receiver.status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def send(kind: str, target: str, message: Message = MESSAGE) -> None:
    TRANSPORTS[kind].send(target, message)


# ---- webhook ------------------------------------------------------------------------------


@override_settings(ALLOW_PRIVATE_NETWORKS=True)
def test_a_webhook_posts_the_message_json(receiver: Receiver) -> None:
    send("webhook", f"{receiver.url}/hooks/oncall?team=platform")

    [request] = receiver.requests
    assert request["path"] == "/hooks/oncall?team=platform"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["User-Agent"] == "Tocsin"
    assert json.loads(request["body"]) == MESSAGE.data
    assert "X-Tocsin-Signature" not in request["headers"]


@override_settings(ALLOW_PRIVATE_NETWORKS=True)
def test_a_webhook_with_a_secret_is_signed_and_the_secret_never_sent(receiver: Receiver) -> None:
    send("webhook", f"{receiver.url}/hook#secret=s3cret-value")

    [request] = receiver.requests
    expected = hmac.new(b"s3cret-value", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Tocsin-Signature"] == f"sha256={expected}"
    assert sign("s3cret-value", request["body"]) == f"sha256={expected}"
    assert b"s3cret-value" not in request["body"]
    assert "s3cret" not in request["path"]


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(410, True), (404, True), (400, True), (408, False), (429, False), (500, False), (503, False)],
)
@override_settings(ALLOW_PRIVATE_NETWORKS=True)
def test_webhook_answers_are_permanent_or_retried(
    receiver: Receiver, status: int, permanent: bool
) -> None:
    receiver.status = status
    with pytest.raises(TransportError) as raised:
        send("webhook", f"{receiver.url}/hook")
    assert raised.value.permanent is permanent
    assert str(status) in raised.value.message


@override_settings(ALLOW_PRIVATE_NETWORKS=True)
def test_a_webhook_redirect_is_not_followed_and_not_counted_as_delivered(
    receiver: Receiver,
) -> None:
    receiver.status = 302
    receiver.headers = {"Location": "http://169.254.169.254/latest/meta-data/"}
    with pytest.raises(TransportError) as raised:
        send("webhook", f"{receiver.url}/hook")
    assert raised.value.permanent
    assert "302" in raised.value.message
    assert len(receiver.requests) == 1  # the redirect was not followed


@override_settings(ALLOW_PRIVATE_NETWORKS=True)
def test_a_webhook_that_cannot_be_reached_is_retried(receiver: Receiver) -> None:
    url = f"{receiver.url}/hook"
    receiver.close()
    with pytest.raises(TransportError) as raised:
        send("webhook", url)
    assert not raised.value.permanent


# ---- the outbound guard --------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "{url}/hook",  # loopback
        "http://localhost:9/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::1]:9/hook",
    ],
)
def test_the_guard_refuses_private_addresses_for_webhooks(receiver: Receiver, target: str) -> None:
    with pytest.raises(TransportError) as raised:
        send("webhook", target.format(url=receiver.url))
    assert raised.value.permanent
    assert "TOCSIN_ALLOW_PRIVATE_NETWORKS" in raised.value.message
    assert receiver.requests == []


def test_the_guard_covers_apprise_urls_that_are_plain_http(receiver: Receiver) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    with pytest.raises(TransportError) as raised:
        send("apprise", f"json://127.0.0.1:{port}/notify")
    assert raised.value.permanent
    assert receiver.requests == []


# ---- apprise --------------------------------------------------------------------------------


@override_settings(ALLOW_PRIVATE_NETWORKS=True)
def test_apprise_delivers_through_a_real_json_endpoint(receiver: Receiver) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    send("apprise", f"json://127.0.0.1:{port}/notify")

    [request] = receiver.requests
    assert request["path"] == "/notify"
    body = json.loads(request["body"])
    assert body["title"] == MESSAGE.subject
    assert body["message"] == MESSAGE.text


@override_settings(ALLOW_PRIVATE_NETWORKS=True)
def test_apprise_reports_a_refusing_service_as_retryable(receiver: Receiver) -> None:
    receiver.status = 500
    port = receiver.url.rsplit(":", 1)[1]
    with pytest.raises(TransportError) as raised:
        send("apprise", f"json://127.0.0.1:{port}/notify")
    assert not raised.value.permanent


def test_an_url_apprise_does_not_know_is_permanent() -> None:
    with pytest.raises(TransportError) as raised:
        send("apprise", "nosuchscheme://whatever")
    assert raised.value.permanent


# ---- e-mail ---------------------------------------------------------------------------------


def test_a_mail_has_text_and_html_and_threads_by_incident() -> None:
    send("email", "alice@example.com")
    send(
        "email",
        "alice@example.com",
        Message(subject="again", text="t", thread_id="incident-abc123"),
    )
    send("email", "alice@example.com", Message(subject="other", text="t", thread_id="incident-zz"))

    first, second, other = mail.outbox
    assert first.to == ["alice@example.com"]
    assert first.body == MESSAGE.text
    assert first.alternatives[0][1] == "text/html"
    assert "<p>Checkout is down.</p>" in str(first.alternatives[0][0])
    root = first.extra_headers["References"]
    assert root.startswith("<incident-abc123@")
    assert first.extra_headers["In-Reply-To"] == root
    assert second.extra_headers["References"] == root
    assert other.extra_headers["References"] != root


def test_a_chat_url_whose_host_part_is_a_token_is_not_taken_for_a_host() -> None:
    # slack://TOKEN_A/TOKEN_B/TOKEN_C posts to hooks.slack.com: "t1234abcd" is no host name, and
    # checking it as one failed every Slack page with "cannot resolve t1234abcd".
    with pytest.raises(TransportError) as raised:
        send("apprise", "slack://T1234ABCD/B5678EFGH/abcdefghijklmnopqrstuvwx")
    assert "t1234abcd" not in raised.value.message.lower()
    assert not raised.value.permanent  # here: no route to Slack (or a refused token): retried


def test_the_guard_checks_the_address_connected_to_not_the_url() -> None:
    from tocsin.notifications.transports.base import outbound_guard

    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        with pytest.raises(TransportError) as raised, outbound_guard("test"):
            socket.create_connection(("localhost", port), timeout=1).close()
        assert raised.value.permanent
        assert "127.0.0.1 is not a public address" in raised.value.message
        # Outside the guard the same connection is fine: only sends are guarded.
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        listener.close()


def test_a_subject_with_line_breaks_is_sent_on_one_line() -> None:
    # An alert summary written as a YAML block scalar ends with a newline; an API caller can
    # put "\r\nBcc: ..." in a title. A header cannot hold either.
    send(
        "email",
        "alice@example.com",
        Message(subject="Disk full\r\nBcc: x@evil.example\n", text="t"),
    )

    [message] = mail.outbox
    assert message.subject == "Disk full Bcc: x@evil.example"
    assert message.recipients() == ["alice@example.com"]
