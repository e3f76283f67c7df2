"""Where alerts go: a Slack-compatible incoming webhook and e-mail over SMTP, set in the environment."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from paysync_dagster.lib.alerts.incidents import secrets_in_environment
from paysync_dagster.lib.alerts.senders import DEFAULT_TIMEOUT_SECONDS, Channel, SlackWebhook, SmtpEmail

ENV = {
    "slack_webhook_url": "PAYSYNC_ALERT_SLACK_WEBHOOK_URL",
    "smtp_host": "PAYSYNC_ALERT_SMTP_HOST",
    "smtp_port": "PAYSYNC_ALERT_SMTP_PORT",
    "smtp_security": "PAYSYNC_ALERT_SMTP_SECURITY",
    "smtp_username": "PAYSYNC_ALERT_SMTP_USERNAME",
    "smtp_password": "PAYSYNC_ALERT_SMTP_PASSWORD",
    "smtp_from": "PAYSYNC_ALERT_SMTP_FROM",
    "smtp_to": "PAYSYNC_ALERT_SMTP_TO",
    "timeout_seconds": "PAYSYNC_ALERT_TIMEOUT_SECONDS",
    "ui_base_url": "PAYSYNC_UI_BASE_URL",
}
SECRETS = ("slack_webhook_url", "smtp_password")


class AlertsResource(dg.ConfigurableResource):
    """The channels PaySync's alert sensors notify (docs/alerts-and-metrics.md). A channel without its
    settings is off; with neither, incidents are still recorded in ``alert_incidents`` and sent once a
    channel is set. The webhook URL and the SMTP password are secrets (``dg.EnvVar``)."""

    slack_webhook_url: str | None = Field(default=None, description="a Slack incoming webhook, or any URL taking "
                                                                    'POST {"text": ...} as JSON')
    smtp_host: str | None = Field(default=None, description="SMTP server; e-mail is off without it")
    smtp_port: int = Field(default=587, description="587 for STARTTLS, 465 for TLS, 25 for plain")
    smtp_security: str = Field(default="starttls", description="starttls | tls | none")
    smtp_username: str | None = Field(default=None, description="AUTH user; no AUTH without it")
    smtp_password: str | None = None
    smtp_from: str | None = Field(default=None, description="the From address")
    smtp_to: str | None = Field(default=None, description="recipients, comma-separated")
    timeout_seconds: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0, description="per send, per channel")
    ui_base_url: str | None = Field(default=None, description="the Dagster UI's address, for links to runs")

    def channels(self) -> list[Channel]:
        out: list[Channel] = []
        if self.slack_webhook_url:
            out.append(SlackWebhook(self.slack_webhook_url, timeout=self.timeout_seconds))
        recipients = tuple(a.strip() for a in (self.smtp_to or "").split(",") if a.strip())
        if self.smtp_host and self.smtp_from and recipients:
            if self.smtp_security not in ("starttls", "tls", "none"):
                raise ValueError(f"{ENV['smtp_security']} must be starttls, tls or none, got {self.smtp_security!r}")
            out.append(SmtpEmail(self.smtp_host, int(self.smtp_port), self.smtp_from, recipients,
                                 username=self.smtp_username or None, password=self.smtp_password or None,
                                 security=self.smtp_security,  # type: ignore[arg-type]
                                 timeout=self.timeout_seconds))
        return out

    def secret_values(self) -> list[str]:
        """Values no message may show: this resource's secrets and those of the environment."""
        return [v for v in (self.slack_webhook_url, self.smtp_password) if v] + secrets_in_environment(os.environ)


def alerts_resource() -> AlertsResource:
    """The alerts resource from the environment (the names in ``ENV``): secrets as ``dg.EnvVar``
    (resolved at run time, hidden in the UI), the rest as set; what is not set keeps its default."""
    settings: dict[str, object] = {}
    for field, name in ENV.items():
        if not os.environ.get(name):
            continue
        if field in SECRETS:
            settings[field] = dg.EnvVar(name)
        elif field == "smtp_port":
            settings[field] = dg.EnvVar.int(name)
        elif field == "timeout_seconds":
            settings[field] = float(os.environ[name])
        else:
            settings[field] = os.environ[name]
    return AlertsResource(**settings)
