"""Alerts: what is wrong (incidents with stable keys), when it crosses a threshold, the text people get,
and the channels it goes to (a Slack-compatible incoming webhook, e-mail over SMTP).

Plain Python, no Dagster: the sensors under ``defs/alerts`` feed it runs, check evaluations and the
warehouse. Each incident is notified once per channel, whatever the number of sensor ticks that see
it, and again only after it has been resolved and recurs (``alert_incidents``).
"""

from paysync_dagster.lib.alerts.incidents import (
    BATCH_NOT_TIED,
    CHECK_FAILURE,
    QUEUE_AGE,
    QUEUE_AMOUNT,
    QUEUE_COUNT,
    QUEUE_KINDS,
    RUN_FAILURE,
    Incident,
    check_failure_incident,
    clean,
    run_failure_incident,
)
from paysync_dagster.lib.alerts.senders import Channel, DeliveryError, SlackWebhook, SmtpEmail
from paysync_dagster.lib.alerts.store import Delivery, deliver, open_incident, open_rows, resolve, sync

__all__ = ["BATCH_NOT_TIED", "CHECK_FAILURE", "QUEUE_AGE", "QUEUE_AMOUNT", "QUEUE_COUNT", "QUEUE_KINDS", "RUN_FAILURE",
           "Channel", "Delivery", "DeliveryError", "Incident", "SlackWebhook", "SmtpEmail", "check_failure_incident",
           "clean", "deliver", "open_incident", "open_rows", "resolve", "run_failure_incident", "sync"]
