"""The channels an incident goes to: a Slack-compatible incoming webhook and e-mail over SMTP.

Each send has an explicit timeout and raises :class:`DeliveryError` naming the channel and the error's
class only: the webhook URL is itself a secret (whoever has it can post), and an HTTP or SMTP error's
text may quote it, or the server's answer.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal, Protocol

import httpx

DEFAULT_TIMEOUT_SECONDS = 10.0
SLACK, EMAIL = "slack", "email"
CHANNELS = (SLACK, EMAIL)


class DeliveryError(Exception):
    """A channel did not take the notification; ``reason`` is safe to log and store."""

    def __init__(self, channel: str, reason: str):
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason


def _reason(exc: BaseException) -> str:
    """The error's class, and whether a timeout lies beneath it (smtplib reports a reply that never
    came as a disconnection)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, TimeoutError | httpx.TimeoutException):
            return f"{type(exc).__name__} (timed out)"
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


class Channel(Protocol):
    name: str

    def send(self, title: str, text: str) -> None:
        """Deliver, or raise DeliveryError."""


@dataclass(frozen=True)
class SlackWebhook:
    """A Slack incoming webhook, or anything that takes its format: ``POST {"text": ...}`` as JSON,
    any 2xx is delivered (Slack answers ``200 ok``)."""

    url: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    name: str = SLACK

    def send(self, title: str, text: str) -> None:
        payload = {"text": f"*{title}*\n{text}"}
        try:
            with httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False) as client:
                answer = client.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            raise DeliveryError(self.name, _reason(exc)) from None
        if not answer.is_success:
            raise DeliveryError(self.name, f"HTTP {answer.status_code}")


Security = Literal["none", "starttls", "tls"]


@dataclass(frozen=True)
class SmtpEmail:
    """E-mail over SMTP: plain, STARTTLS upgraded (``starttls``), or TLS from the first byte (``tls``,
    usually port 465); AUTH when a username is given."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = None
    security: Security = "starttls"
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    name: str = EMAIL

    def message(self, title: str, text: str) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = " ".join(title.split())  # one line: a line break would start a new header
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(domain="paysync")
        msg.set_content(text)
        return msg

    def send(self, title: str, text: str) -> None:
        msg = self.message(title, text)
        try:
            if self.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(self.name, _reason(exc)) from None
