"""Incidents sent to a real HTTP receiver (Slack's incoming-webhook format) and a real SMTP server:
once per incident whatever the number of deliveries, again only after it was resolved and recurs; a
failing channel retried later without holding up the other; explicit timeouts; no card number or
secret in what is sent or stored."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from paysync_dagster.lib.alerts import (DeliveryError, Incident, SlackWebhook, SmtpEmail, deliver, open_incident, resolve,
                                        run_failure_incident)
from paysync_dagster.lib.alerts.incidents import secrets_in_environment
from paysync_dagster.lib.alerts.store import incident_rows
from paysync_dagster_tests.lib.alerts.servers import Mailbox, WebhookReceiver, silent_server, smtp_server, webhook_receiver

CARD = "4111 1111 1111 1111"
CARD_DIGITS = "4111111111111111"
SECRET = "pw-Zq81-alerts-secret"
NOW = datetime(2026, 11, 2, 17, 30)


@pytest.fixture
def slack() -> WebhookReceiver:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def mailbox() -> Mailbox:
    with smtp_server() as box:
        yield box


def channels(slack: WebhookReceiver, mailbox: Mailbox) -> list:
    return [SlackWebhook(slack.url, timeout=5),
            SmtpEmail(mailbox.host, mailbox.port, "paysync@example.com", ("ops@example.com", "finance@example.com"),
                      security="none", timeout=5)]


def incident(key: str = "run_failure:paysync_daily_job:2026-11-02") -> Incident:
    return run_failure_incident(job_name="paysync_daily_job", run_id="3f2a9c1e-0000-4000-8000-000000000001",
                                partition="2026-11-02", steps_failed=["oracle_cash_receipts"],
                                error=f"HTTPError: card {CARD} refused; password={SECRET}",
                                ui_base_url="http://dagster.example:3000", secrets=[SECRET], environment="QA")


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert CARD_DIGITS not in text.replace(" ", "").replace("-", "")
        assert SECRET not in text


def test_each_incident_is_sent_once_per_channel_and_again_only_when_it_recurs(engine: Engine, slack: WebhookReceiver,
                                                                             mailbox: Mailbox) -> None:
    one = incident()
    assert open_incident(engine, one, NOW)
    for tick in range(4):  # several sensor ticks seeing the same incident
        assert not open_incident(engine, one, NOW + timedelta(minutes=tick))
        deliver(engine, channels(slack, mailbox), NOW + timedelta(minutes=tick), [SECRET])
    assert len(slack.texts()) == 1 and len(mailbox.bodies()) == 1
    text, mail = slack.texts()[0], mailbox.bodies()[0]
    assert "3f2a9c1e-0000-4000-8000-000000000001" in text and "http://dagster.example:3000/runs/3f2a9c1e" in text
    assert "oracle_cash_receipts" in mail and "[PaySync QA] Run failed: paysync_daily_job for 2026-11-02" in mail
    assert "**** **** **** 1111" in text  # the card number masked, its last four kept
    assert mailbox.envelopes[0] == ("paysync@example.com", ["ops@example.com", "finance@example.com"])
    rows = incident_rows(engine)
    assert len(rows) == 1 and rows[0]["notified_at"] is not None and rows[0]["resolved_at"] is None
    assert_clean(text, mail, rows[0]["message"], rows[0]["title"])

    assert resolve(engine, [one.key], NOW + timedelta(hours=1)) == [one.key]
    deliver(engine, channels(slack, mailbox), NOW + timedelta(hours=1))
    assert len(slack.texts()) == 1 and len(mailbox.bodies()) == 1  # nothing after resolution

    assert open_incident(engine, one, NOW + timedelta(hours=2))  # it recurs: a new occurrence
    for tick in range(3):
        deliver(engine, channels(slack, mailbox), NOW + timedelta(hours=2, minutes=tick))
    assert len(slack.texts()) == 2 and len(mailbox.bodies()) == 2
    assert [(r["occurrence"], r["resolved_at"] is None) for r in incident_rows(engine)] == [(1, False), (2, True)]


def test_a_failing_channel_does_not_hold_up_the_other_and_is_retried(engine: Engine, slack: WebhookReceiver,
                                                                    mailbox: Mailbox) -> None:
    slack.status = 500
    open_incident(engine, incident(), NOW)
    first = deliver(engine, channels(slack, mailbox), NOW)
    assert first.sent == [(incident().key, "email")] and first.failed == [(incident().key, "slack", "HTTP 500")]
    assert len(mailbox.bodies()) == 1 and slack.refused == 1
    row = incident_rows(engine)[0]
    assert row["notified_at"] is None and row["email_notified_at"] is not None and row["last_error"] == "slack: HTTP 500"
    assert "xyzSECRETPATH" not in row["last_error"]  # the webhook URL is a secret

    deliver(engine, channels(slack, mailbox), NOW + timedelta(seconds=30))  # still failing: tried again
    assert slack.refused == 2 and len(mailbox.bodies()) == 1

    slack.status = 200
    mailbox.failing = True  # now the other way round
    for tick in range(3):
        deliver(engine, channels(slack, mailbox), NOW + timedelta(minutes=1 + tick))
    assert len(slack.texts()) == 1 and len(mailbox.bodies()) == 1  # e-mail was delivered before: not sent again
    row = incident_rows(engine)[0]
    assert row["notified_at"] is not None and row["attempts"] == 3


def test_an_unreachable_smtp_server_is_an_error_of_that_channel_only(engine: Engine, slack: WebhookReceiver) -> None:
    with smtp_server() as box:
        gone = SmtpEmail(box.host, box.port, "paysync@example.com", ("ops@example.com",), security="none", timeout=5)
    open_incident(engine, incident(), NOW)
    result = deliver(engine, [SlackWebhook(slack.url, timeout=5), gone], NOW)
    assert result.sent == [(incident().key, "slack")]
    assert result.failed == [(incident().key, "email", "ConnectionRefusedError")]


def test_senders_give_up_after_their_timeout_on_a_server_that_never_answers() -> None:
    with silent_server() as port:
        for channel in (SlackWebhook(f"http://127.0.0.1:{port}/hook", timeout=0.5),
                        SmtpEmail("127.0.0.1", port, "paysync@example.com", ("ops@example.com",), security="none",
                                  timeout=0.5)):
            started = time.monotonic()
            with pytest.raises(DeliveryError) as raised:
                channel.send("title", "text")
            assert raised.value.channel == channel.name and raised.value.reason.endswith("(timed out)")
            assert time.monotonic() - started < 20  # it gave up; without a timeout it would wait forever


def test_secret_values_of_the_environment_are_found_by_name_and_in_urls() -> None:
    found = secrets_in_environment({"PAYTRACE_PASSWORD": SECRET, "PAYSYNC_WEBHOOK_SECRET": "whsec-abcdef",
                                    "PAYSYNC_DATABASE_URL": "postgresql+psycopg://paysync:db-pass-123@db:5432/paysync",
                                    "PAYSYNC_ERPS": "oracle"})
    assert sorted(found) == sorted([SECRET, "whsec-abcdef", "db-pass-123"])
    built = run_failure_incident(job_name="j", run_id="r", partition=None, steps_failed=[],
                                 error="could not connect to postgresql+psycopg://paysync:db-pass-123@db:5432/paysync",
                                 ui_base_url=None, secrets=found)
    assert "db-pass-123" not in built.text and "[redacted]" in built.text
