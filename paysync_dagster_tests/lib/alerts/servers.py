"""Real local servers the alert channels send to: an HTTP receiver taking Slack's incoming-webhook
format, an SMTP server (aiosmtpd), and a TCP server that accepts and never answers (for timeouts).
Each on a free loopback port, in this process, stopped by its context manager."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from paysync_dagster_tests.support import free_port


@dataclass
class WebhookReceiver:
    url: str = ""
    status: int = 200  # what it answers; set 500 to make the channel fail
    posts: list[dict] = field(default_factory=list)  # bodies it answered 2xx
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def texts(self) -> list[str]:
        with self.lock:
            return [p["text"] for p in self.posts]


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    received = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = received.status
            with received.lock:
                if status < 300:
                    assert self.headers.get("Content-Type", "").startswith("application/json")
                    received.posts.append(json.loads(body))
                else:
                    received.refused += 1
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"error")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/xyzSECRETPATH"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


@dataclass
class Mailbox:
    host: str = "127.0.0.1"
    port: int = 0
    failing: bool = False  # answer 554 to DATA
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[str]:
        with self.lock:
            return [m["Subject"] + "\n" + m.get_payload(decode=True).decode() for m in self.messages]


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802 - aiosmtpd's hook
            if box.failing:
                return "554 Transaction failed"
            with box.lock:
                box.messages.append(message_from_bytes(envelope.content))
                box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            return "250 OK"

    controller = Controller(Handler(), hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """Accepts connections and never sends a byte: a sender without a timeout would hang here."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=10)
        for conn in held:
            conn.close()
        sock.close()
