"""The alert sensors driven by real Dagster: real failed runs and failed blocking checks executed with
``dg.materialize`` on a temporary instance, the sensors ticked with ``dg.build_sensor_context`` against a
real warehouse, a real HTTP receiver (Slack's incoming-webhook format) and a real SMTP server. Exactly
one Slack post and one e-mail per incident over several ticks, none after it is resolved until it
recurs, and never a card number or a secret."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import dagster as dg
import pytest
from sqlalchemy import update

from paysync_dagster.defs.alerts.resources import AlertsResource
from paysync_dagster.defs.alerts.sensors import (paysync_check_failure_alerts, paysync_queue_and_batch_alerts,
                                                 paysync_run_failure_alerts)
from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.alerts.detect import latest_overdue_date
from paysync_dagster.lib.alerts.store import incident_rows
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse import begin_write, make_engine, migrate
from paysync_dagster.lib.warehouse.tables import payment_exceptions
from paysync_dagster_tests.lib.alerts.seed import (CARD, add_batches, add_exceptions, assert_no_card_data, exception,
                                                   reconciled_batch, settlement_batch, variance)
from paysync_dagster_tests.lib.alerts.servers import Mailbox, WebhookReceiver, smtp_server, webhook_receiver

SECRET = "paytrace-pw-9f8e7d6c"
UI = "http://dagster.test:3000"


class World:
    def __init__(self, instance: dg.DagsterInstance, database_url: str, slack: WebhookReceiver, mailbox: Mailbox):
        self.instance, self.database_url, self.slack, self.mailbox = instance, database_url, slack, mailbox
        self.resources = {
            "warehouse": WarehouseResource(database_url=database_url),
            "alerts": AlertsResource(slack_webhook_url=slack.url, smtp_host=mailbox.host, smtp_port=mailbox.port,
                                     smtp_security="none", smtp_from="paysync@example.com", smtp_to="ops@example.com",
                                     timeout_seconds=5, ui_base_url=UI),
        }
        self.cursors: dict[str, str | None] = {}

    def tick(self, sensor: dg.SensorDefinition, definitions: dg.Definitions | None = None) -> str:
        with dg.build_sensor_context(instance=self.instance, cursor=self.cursors.get(sensor.name),
                                     resources=self.resources, definitions=definitions) as context:
            result = sensor.evaluate_tick(context)
        self.cursors[sensor.name] = result.cursor
        assert result.run_requests == []
        return result.skip_message or ""

    def counts(self) -> tuple[int, int]:
        return len(self.slack.texts()), len(self.mailbox.bodies())

    def everything_sent(self) -> list[str]:
        return self.slack.texts() + self.mailbox.bodies()


@pytest.fixture
def world(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("PAYTRACE_PASSWORD", SECRET)  # a secret the failing code below quotes
    engine = make_engine(sqlite_url)
    migrate(engine)
    engine.dispose()
    with dg.instance_for_test() as instance, webhook_receiver() as slack, smtp_server() as mailbox:
        yield World(instance, sqlite_url, slack, mailbox)


state = {"fail": True}


@dg.asset
def card_charges() -> int:
    if state["fail"]:
        raise RuntimeError(f"PayTrace answered 500 for card {CARD} (user paysync, password {SECRET})")
    return 1


def run_card_charges(world: World, *, fail: bool) -> dg.ExecuteInProcessResult:
    state["fail"] = fail
    result = dg.materialize([card_charges], instance=world.instance, raise_on_error=False)
    assert result.success is not fail
    return result


def test_a_failed_run_is_notified_once_until_its_job_succeeds_again(world: World) -> None:
    world.tick(paysync_run_failure_alerts)  # the first tick starts from the latest run event
    failed = run_card_charges(world, fail=True)
    for _ in range(3):
        world.tick(paysync_run_failure_alerts)
        world.tick(paysync_queue_and_batch_alerts)
    assert world.counts() == (1, 1)
    text = world.slack.texts()[0]
    assert f"{UI}/runs/{failed.run_id}" in text and "card_charges" in text and "RuntimeError" in text
    assert "Run failed: __ephemeral_asset_job__" in world.mailbox.bodies()[0]
    assert_no_card_data(*world.everything_sent())
    assert SECRET not in "".join(world.everything_sent()) and "xyzSECRETPATH" not in "".join(world.everything_sent())

    run_card_charges(world, fail=False)  # the job succeeds: the incident is resolved, nothing is sent
    world.tick(paysync_run_failure_alerts)
    world.tick(paysync_queue_and_batch_alerts)
    rows = incident_rows(make_engine(world.database_url), "run_failure")
    assert len(rows) == 1 and rows[0]["resolved_at"] is not None and world.counts() == (1, 1)

    again = run_card_charges(world, fail=True)  # it recurs: a new incident, notified once
    for _ in range(3):
        world.tick(paysync_run_failure_alerts)
    assert world.counts() == (2, 2) and again.run_id in world.slack.texts()[1]
    assert [r["occurrence"] for r in incident_rows(make_engine(world.database_url), "run_failure")] == [1, 2]


checked = {"pass": False}


@dg.asset(check_specs=[dg.AssetCheckSpec("totals_match", asset="settled_totals", blocking=True,
                                         description="the batch totals equal the settled transactions")])
def settled_totals() -> dg.MaterializeResult:
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(
        check_name="totals_match", passed=checked["pass"],
        metadata={"failing": dg.MetadataValue.json([{"batch": 7, "card": CARD}]), "batches": 3})])


@dg.asset(deps=[settled_totals])
def after_totals() -> None:
    pass


def materialize_checked(world: World, *, passes: bool) -> dg.ExecuteInProcessResult:
    checked["pass"] = passes
    result = dg.materialize([settled_totals, after_totals], instance=world.instance, raise_on_error=False)
    assert result.success is passes  # a failed blocking check fails its step; what depends on it is skipped
    return result


def test_a_failed_blocking_check_is_notified_once_until_it_passes(world: World) -> None:
    definitions = dg.Definitions(assets=[settled_totals, after_totals], sensors=[paysync_check_failure_alerts])
    failed = materialize_checked(world, passes=False)
    for _ in range(3):
        world.tick(paysync_check_failure_alerts, definitions)
    assert world.counts() == (1, 1)
    text = world.slack.texts()[0]
    assert "Blocking check totals_match on settled_totals failed in run " + failed.run_id in text
    assert f"{UI}/assets/settled_totals?view=checks" in text and "the batch totals equal" in text
    assert_no_card_data(*world.everything_sent())

    materialize_checked(world, passes=True)
    for _ in range(2):
        world.tick(paysync_check_failure_alerts, definitions)
    rows = incident_rows(make_engine(world.database_url), "check_failure")
    assert len(rows) == 1 and rows[0]["resolved_at"] is not None and world.counts() == (1, 1)

    materialize_checked(world, passes=False)
    for _ in range(3):
        world.tick(paysync_check_failure_alerts, definitions)
    assert world.counts() == (2, 2)


def test_the_queue_and_untied_batches_are_notified_once_each_and_a_failing_channel_catches_up(world: World) -> None:
    limits = MAPPING.alerts
    now = utcnow()
    engine = make_engine(world.database_url)
    # Past every threshold of the mapping in force: one more open exception than allowed, the oldest
    # older than allowed, and their amount above it.
    each = limits.max_open_amount_minor // limits.max_open_exceptions + 100
    add_exceptions(engine, [exception(3000 + i, each, now - timedelta(hours=limits.max_exception_age_hours + 1 if i == 0
                                                                       else 1))
                            for i in range(limits.max_open_exceptions + 1)])
    from paysync_dagster.defs.alerts.sensors import _merchant_today

    day = latest_overdue_date(_merchant_today(), limits.batch_untied_business_days)
    add_batches(engine, [settlement_batch(9001, day, 50_000)],
                [reconciled_batch(9001, day, 50_000, tied=False, erp_variance_minor=1_500)],
                [variance(9001, day, "unexplained", 1_500)])

    world.slack.status = 503  # Slack is down at first: e-mail goes out anyway, the sensor does not fail
    message = world.tick(paysync_queue_and_batch_alerts)
    assert "queue: 3 opened" in message and "batches: 1 opened" in message and "failed 4" in message
    assert world.counts() == (0, 4)
    world.slack.status = 200
    for _ in range(3):
        world.tick(paysync_queue_and_batch_alerts)
    assert world.counts() == (4, 4)
    titles = sorted(m.splitlines()[0] for m in world.mailbox.bodies())
    assert any("open exceptions (threshold" in t for t in titles) and any(f"Batch 9001 ({day})" in t for t in titles)
    assert_no_card_data(*world.everything_sent())

    with begin_write(engine) as conn:  # the queue is worked: its incidents resolve, nothing is sent
        conn.execute(update(payment_exceptions).values(status="resolved"))
    world.tick(paysync_queue_and_batch_alerts)
    assert world.counts() == (4, 4)
    assert [r["incident_key"] for r in incident_rows(engine) if r["resolved_at"] is None] == ["batch_not_tied:9001:oracle"]
    engine.dispose()


def test_alerts_resource_reads_the_environment_and_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from paysync_dagster.defs.alerts.resources import alerts_resource

    monkeypatch.setenv("PAYSYNC_ALERT_SLACK_WEBHOOK_URL", "https://hooks.example/services/T/B/secretpath")
    monkeypatch.setenv("PAYSYNC_ALERT_SMTP_HOST", "smtp.example")
    monkeypatch.setenv("PAYSYNC_ALERT_SMTP_PORT", "2525")
    monkeypatch.setenv("PAYSYNC_ALERT_SMTP_PASSWORD", "smtp-pass-123")
    monkeypatch.setenv("PAYSYNC_ALERT_SMTP_FROM", "paysync@example.com")
    monkeypatch.setenv("PAYSYNC_ALERT_SMTP_TO", "a@example.com, b@example.com")
    resource = alerts_resource()
    # secrets stay environment references (resolved at run time, hidden in the UI)
    assert isinstance(resource.slack_webhook_url, dg.EnvVar) and isinstance(resource.smtp_password, dg.EnvVar)
    with dg.build_resources({"alerts": resource}) as built:
        channels = {c.name: c for c in built.alerts.channels()}
        secrets = set(built.alerts.secret_values())
    assert channels["slack"].url == "https://hooks.example/services/T/B/secretpath"
    assert channels["email"].port == 2525 and channels["email"].recipients == ("a@example.com", "b@example.com")
    assert channels["email"].security == "starttls" and channels["email"].password == "smtp-pass-123"
    assert {"https://hooks.example/services/T/B/secretpath", "smtp-pass-123"} <= secrets
