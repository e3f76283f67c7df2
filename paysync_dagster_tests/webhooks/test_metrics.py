"""GET /metrics on a real receiver (uvicorn on a free loopback port): the answers it gave, counted by
outcome and reason, its commits timed, and the pipeline's figures read from a seeded warehouse, all
parsed with prometheus_client's own parser."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from paysync_dagster.lib.timeutil import zone
from paysync_dagster.lib.warehouse import begin_write, make_engine, migrate
from paysync_dagster.lib.warehouse.tables import oracle_cash_receipts, posting_ledger, sage_cash_receipts
from paysync_dagster.webhooks.app import create_app
from paysync_dagster.webhooks.metrics import REJECT_REASONS
from paysync_dagster_tests.lib.alerts.seed import (add_batches, add_exceptions, exception, reconciled_batch,
                                                   settlement_batch, variance)
from paysync_dagster_tests.support import free_port
from paysync_dagster_tests.webhooks import LA, PATH, SECRET, body_of, envelope, serving, signed_headers


def scrape(url: str, token: str | None = None) -> dict[tuple[str, tuple], float]:
    answer = httpx.get(url + "/metrics", timeout=30, headers={"Authorization": f"Bearer {token}"} if token else {})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    return httpx.post(url + PATH, content=body, headers=headers, timeout=30).status_code


def test_metrics_count_accepted_and_rejected_events_and_time_each_commit(sqlite_url: str) -> None:
    app = create_app(sqlite_url, [SECRET], LA)
    with serving(app) as url:
        before = scrape(url)
        assert before[("paysync_webhook_events_accepted_total", (("duplicate", "false"),))] == 0
        assert all(before[("paysync_webhook_events_rejected_total", (("reason", r),))] == 0 for r in REJECT_REASONS)
        good = [body_of(envelope(f"evt-m-{i}", transaction_id=5_000 + i)) for i in range(3)]
        statuses = [post(url, b, signed_headers(b)) for b in good]
        statuses.append(post(url, good[0], signed_headers(good[0])))  # a redelivery
        bad_signature = body_of(envelope("evt-m-bad-sig", transaction_id=6_001))
        statuses.append(post(url, bad_signature, signed_headers(bad_signature, secret="not-the-secret")))
        statuses.append(post(url, good[1], {"Content-Type": "text/plain"}))
        no_id = body_of({k: v for k, v in envelope("x", transaction_id=6_002).items() if k != "event_id"})
        statuses.append(post(url, no_id, signed_headers(no_id)))
        statuses.append(post(url, body_of(envelope("evt-m-stale", transaction_id=6_003)),
                             signed_headers(body_of(envelope("evt-m-stale", transaction_id=6_003)), timestamp=1)))
        assert statuses == [200, 200, 200, 200, 401, 415, 400, 401]
        after = scrape(url)
        # Another app in the same process counts its own (a registry per app).
        with serving(create_app(sqlite_url, [SECRET], LA)) as other:
            assert scrape(other)[("paysync_webhook_events_accepted_total", (("duplicate", "false"),))] == 0

    def rejected(reason: str) -> float:
        return after[("paysync_webhook_events_rejected_total", (("reason", reason),))]

    assert after[("paysync_webhook_events_accepted_total", (("duplicate", "false"),))] == 3
    assert after[("paysync_webhook_events_accepted_total", (("duplicate", "true"),))] == 1
    assert (rejected("signature.signature"), rejected("signature.timestamp"), rejected("content_type"),
            rejected("envelope")) == (1, 1, 1, 1)
    assert sum(rejected(r) for r in REJECT_REASONS) == 4
    # Every event that reached the warehouse was committed (the redelivery too, landing nothing new),
    # one request per commit when they arrive one at a time.
    assert after[("paysync_webhook_commit_seconds_count", ())] == 4
    assert after[("paysync_webhook_commit_rows_sum", ())] == 4
    assert 0 < after[("paysync_webhook_commit_seconds_sum", ())] < after[("paysync_webhook_commit_seconds_count", ())] * 30
    assert after[("paysync_webhook_commit_seconds_bucket", (("le", "+Inf"),))] == 4
    assert after[("paysync_pipeline_metrics_up", ())] == 1


def ledger(erp: str, transaction_id: int, day, status: str = "posted", action: str = "receipt") -> dict:  # noqa: ANN001
    at = datetime(2026, 1, 1)
    return {"erp": erp, "reference": f"PT-{transaction_id}-{action}", "transaction_id": transaction_id, "action": action,
            "business_date": day, "amount_minor": 10_000, "currency": "USD", "status": status, "erp_id": "1",
            "detail": "{}", "attempts": 1, "created_at": at, "updated_at": at}


def receipt(transaction_id: int, day, unapplied: int, currency: str = "USD", outcome: str = "on_account",  # noqa: ANN001
            owns: bool = True) -> dict:
    return {"business_date": day, "transaction_id": transaction_id, "kind": "sale", "outcome": outcome,
            "amount_minor": 50_000, "currency": currency, "reference": f"PT-{transaction_id}",
            "receipt_number": f"PT-{transaction_id}", "erp_receipt_id": "9", "owns_receipt": owns, "invoices": "",
            "applied_minor": 50_000 - unapplied, "unapplied_minor": unapplied, "match_rule": "none", "match_score": 0.0,
            "reason": "", "exception_code": ""}


def test_pipeline_figures_are_read_from_the_warehouse_at_each_scrape(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    today = datetime.now(timezone.utc).astimezone(zone(LA)).date()
    recent, old = today - timedelta(days=2), today - timedelta(days=200)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with begin_write(engine) as conn:
        conn.execute(insert(posting_ledger), [ledger("oracle", 1, recent), ledger("oracle", 2, recent),
                                              ledger("oracle", 3, recent, status="failed"),
                                              ledger("oracle", 4, recent, action="application"),
                                              ledger("oracle", 5, old), ledger("sage", 1, recent)])
        conn.execute(insert(oracle_cash_receipts), [receipt(1, recent, 2_500), receipt(2, recent, 1_000, "CAD"),
                                                    receipt(3, recent, 7_000, owns=False), receipt(4, old, 9_999)])
        conn.execute(insert(sage_cash_receipts), [receipt(1, recent, 300)])
    add_exceptions(engine, [exception(1, 1_000, now), exception(2, -2_000, now),
                            exception(3, 500, now, reason_code="customer_not_found", stage="normalize"),
                            exception(4, 700, now, status="resolved"), exception(5, 900, now, currency="CAD")])
    add_batches(engine, [settlement_batch(71, recent, 10_000)],
                [reconciled_batch(71, recent, 10_000, tied=False, erp_variance_minor=100),
                 reconciled_batch(72, recent, 10_000, tied=False, erp_variance_minor=100),
                 reconciled_batch(73, recent, 10_000, tied=True), reconciled_batch(71, recent, 10_000, erp="sage", tied=True)],
                [variance(71, recent, "unexplained", 100), variance(72, recent, "timing", 100)])
    engine.dispose()

    with serving(create_app(database_url, [SECRET], LA)) as url:
        got = scrape(url)
    figures = {k: v for k, v in got.items() if not k[0].startswith("paysync_webhook") and not k[0].startswith("python")}
    assert figures == {
        ("paysync_pipeline_metrics_up", ()): 1,
        ("paysync_receipts_posted", (("erp", "oracle"),)): 2,
        ("paysync_receipts_posted", (("erp", "sage"),)): 1,
        ("paysync_exceptions_open", (("reason", "no_invoice_match"), ("stage", "oracle"))): 3,
        ("paysync_exceptions_open", (("reason", "customer_not_found"), ("stage", "normalize"))): 1,
        ("paysync_exceptions_open_amount_minor", (("currency", "USD"),)): 3_500,
        ("paysync_exceptions_open_amount_minor", (("currency", "CAD"),)): 900,
        ("paysync_unapplied_cash_minor", (("currency", "USD"), ("erp", "oracle"))): 2_500,
        ("paysync_unapplied_cash_minor", (("currency", "CAD"), ("erp", "oracle"))): 1_000,
        ("paysync_unapplied_cash_minor", (("currency", "USD"), ("erp", "sage"))): 300,
        ("paysync_batches_not_tied", (("erp", "oracle"),)): 1,
    }


def test_metrics_say_when_the_warehouse_cannot_be_read() -> None:
    # A PostgreSQL URL where nothing listens: the receiver starts anyway and answers 503 to events.
    nowhere = f"postgresql+psycopg://paysync:pw@127.0.0.1:{free_port()}/paysync?connect_timeout=5"
    with serving(create_app(nowhere, [SECRET], LA)) as url:
        body = body_of(envelope("evt-down", transaction_id=7_001))
        assert post(url, body, signed_headers(body)) == 503
        got = scrape(url)
    assert got[("paysync_pipeline_metrics_up", ())] == 0
    assert got[("paysync_webhook_events_rejected_total", (("reason", "warehouse_unavailable"),))] == 1
    assert not any(name.startswith(("paysync_receipts_posted", "paysync_exceptions_open")) for name, _ in got)


def test_with_a_metrics_token_only_a_scrape_bearing_it_is_answered(sqlite_url: str) -> None:
    token = "metrics-token-of-this-test"
    with serving(create_app(sqlite_url, [SECRET], LA, metrics_token=token)) as url:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": f"Basic {token}"},
                        {"Authorization": token}):
            refused = httpx.get(url + "/metrics", headers=headers, timeout=30)
            assert refused.status_code == 401, headers
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert "paysync_" not in refused.text and "PAYSYNC_METRICS_TOKEN" in refused.json()["error"]
        body = body_of(envelope("evt-token", transaction_id=8_001))
        assert post(url, body, signed_headers(body)) == 200  # events do not need it
        got = scrape(url, token)
    assert got[("paysync_webhook_events_accepted_total", (("duplicate", "false"),))] == 1
