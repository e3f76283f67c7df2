"""The preview runs the pipeline's own rules on a real day the pipeline landed (sandbox, Oracle path):
what it says changes is exactly what the edit changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from paysync_dagster.lib.mapping import SAMPLE_MAPPING, Mapping, parse_mapping
from paysync_dagster.lib.studio.preview import dates_with_payments, preview
from paysync_dagster.lib.warehouse.engine import make_engine
from paysync_dagster.lib.warehouse.tables import normalized_payments, paytrace_transactions
from paysync_dagster_tests.studio.support import DAY, DAYS, build_warehouse, sandbox

SAMPLE = SAMPLE_MAPPING.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('preview') / 'warehouse.db'}"
    with sandbox() as server:
        build_warehouse(server.url, url)
    e = make_engine(url)
    yield e
    e.dispose()


def _rules(old: str = "", new: str = "") -> Mapping:
    assert old in SAMPLE
    return parse_mapping(SAMPLE.replace(old, new, 1))


def _column(engine: Engine, column, *where) -> list:  # noqa: ANN001
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(select(column).where(*where))]


def test_the_same_rules_change_nothing(engine: Engine) -> None:
    assert dates_with_payments(engine) == sorted(DAYS, reverse=True)
    shown = preview(engine, _rules(), _rules(), day=DAY, erps=("oracle",))
    t = paytrace_transactions
    assert shown.payments == len(shown.rows) == len(_column(engine, t.c.transaction_id, t.c.business_date == DAY))
    assert shown.changed == 0
    # What the preview says under the rules in force is what the pipeline wrote.
    n = normalized_payments
    accounts = dict(zip(_column(engine, n.c.transaction_id, n.c.business_date == DAY),
                        _column(engine, n.c.gl_account, n.c.business_date == DAY), strict=True))
    assert {r.transaction_id: r.before.gl_account for r in shown.rows if r.transaction_id in accounts} == accounts


def test_a_gl_rule_edit_changes_exactly_the_payments_it_accounts(engine: Engine) -> None:
    t = paytrace_transactions
    refunds = set(_column(engine, t.c.transaction_id, t.c.business_date == DAY, t.c.transaction_type == "REFUND"))
    assert refunds
    shown = preview(engine, _rules(), _rules('account: "101.10.12100.000"', 'account: "101.10.12190.000"'),
                    day=DAY, erps=("oracle",))
    changed = {r.transaction_id: r for r in shown.rows if r.changed}
    assert set(changed) == refunds and shown.counts() == {"gl": len(refunds)}
    for r in changed.values():
        assert (r.before.gl_account, r.after.gl_account) == ("101.10.12100.000", "101.10.12190.000")
        assert r.after.gl_rule == "rule 1 (kind refund)"


def test_without_the_erp_look_up_the_customers_it_found_are_lost(engine: Engine) -> None:
    shown = preview(engine, _rules(), _rules("lookup_fallback: [id, email, domain, name]", "lookup_fallback: []"),
                    day=DAY, erps=("oracle",))
    found_by_look_up = {r.transaction_id for r in shown.rows
                        if any(f"(by {how})" in r.before.customers.get("oracle", "") for how in ("id", "email", "domain", "name"))}
    assert found_by_look_up
    customer_changed = {r.transaction_id for r in shown.rows if "customer" in r.changed}
    assert customer_changed == found_by_look_up
    for r in shown.rows:
        if r.transaction_id in found_by_look_up:
            # without the look-up the payer is unknown; an invoice the payment names may still identify it
            assert r.after.customers["oracle"].startswith("not found")


def test_a_receipt_prefix_changes_every_receipt_and_ids_not_landed_are_named(engine: Engine) -> None:
    t = paytrace_transactions
    ids = sorted(_column(engine, t.c.transaction_id, t.c.business_date == DAY))[:6]
    shown = preview(engine, _rules(), _rules('receipt_number_prefix: "PT-"', 'receipt_number_prefix: "PS-"'),
                    transaction_ids=[*ids, 1], erps=("oracle",))
    assert shown.not_found == [1] and [r.transaction_id for r in shown.rows] == ids
    for r in shown.rows:
        receipt = r.before.receipts["oracle"]
        if receipt == "none":
            assert not r.changed
        else:
            assert r.changed == ("receipt",) and r.after.receipts["oracle"] == receipt.replace("PT-", "PS-", 1)


def test_an_invoice_reference_rule_changes_the_normalized_reference(engine: Engine) -> None:
    shown = preview(engine, _rules(), _rules("digits: 6", "digits: 7"), day=DAY, erps=("oracle",))
    read = [r for r in shown.rows if "invoice reference INV-" in r.before.status]
    assert read
    for r in shown.rows:
        assert ("normalized" in r.changed) == (r in read)
    for r in read:
        reference = r.after.status.split("invoice reference ", 1)[1].split(",", 1)[0]
        assert len(reference) == len("INV-") + 7 and reference.startswith("INV-0")
