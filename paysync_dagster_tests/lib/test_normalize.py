"""Normalization: raw = normalized + exceptions, deterministic, and the counter-examples."""

import json
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paysync_dagster.lib.mapping import SAMPLE_MAPPING, load_mapping, parse_mapping
from paysync_dagster.lib.normalize import balance, normalize
from paysync_dagster.lib.paytrace.records import parse_record
from paysync_dagster.lib.schemas import NormalizedPaymentsSchema
from paysync_dagster.lib.timeutil import business_date, format_paytrace_timestamp, local_day_bounds_utc
from paysync_dagster_tests.lib.paytrace.records_fixtures import record

MAPPING = load_mapping(SAMPLE_MAPPING)
DAY = date(2026, 11, 3)


def raw_row(**overrides) -> dict:
    row = {
        "business_date": DAY, "transaction_id": 1, "transaction_type": "SALE", "state": "settled", "amount_minor": 1000,
        "tax_minor": 0, "currency": "USD", "created_at": datetime(2026, 11, 3, 18), "settled_at": datetime(2026, 11, 4, 4),
        "invoice_id": "inv 4213", "customer_id": "", "description": "Invoice payment", "masked_card_number": "************5454",
        "card_last_four": "5454", "expiration_month": 12, "expiration_year": 2030, "approval_code": "TAS610",
        "approval_message": "APPROVED", "billing_name": "Anna Smith", "billing_street": "1 Main St", "billing_city": "portland",
        "billing_state": "Oregon", "billing_zip": "972041234", "billing_country": "United States", "receipt_emailed_to": "",
        "source": "export", "landing_id": 1,
    }
    row.update(overrides)
    return row


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_a_clean_sale_is_normalized_field_by_field() -> None:
    result = normalize(frame(raw_row()), MAPPING)
    assert result.exceptions.empty
    row = result.payments.iloc[0]
    assert (row.kind, row.status, row.oracle_status, row.sage_status) == ("sale", "settled", "Cleared", "Paid")
    assert row.invoice_reference == "INV-004213" and row.invoice_reference_raw == "inv 4213"
    assert (row.billing_state, row.billing_postal_code, row.billing_country, row.billing_city) == ("OR", "97204-1234", "US", "Portland")
    assert row.base_amount_minor == 1000 and row.fx_rate == "1" and row.gl_account == "101.10.12000.000"
    assert row.mapping_version == MAPPING.version
    NormalizedPaymentsSchema.validate(result.payments)


@pytest.mark.parametrize(("raw", "normalized"), [("INV-004213", "INV-004213"), ("inv 4213", "INV-004213"), ("INV4213", "INV-004213"),
                                                  ("#4213", "INV-004213"), (" INV-004213 ", "INV-004213"), ("", ""), ("PO-ABC", "POABC")])
def test_invoice_references_are_normalized(raw: str, normalized: str) -> None:
    assert normalize(frame(raw_row(invoice_id=raw)), MAPPING).payments.iloc[0].invoice_reference == normalized


def test_refunds_and_amex_take_their_gl_rules_and_kinds() -> None:
    result = normalize(frame(
        raw_row(transaction_id=1, transaction_type="REFUND"),
        raw_row(transaction_id=2, masked_card_number="***********1005"),
        raw_row(transaction_id=3, state="declined"),
        raw_row(transaction_id=4, state="chargeback_opened"),
    ), MAPPING)
    got = {r.transaction_id: (r.kind, r.gl_account, r.card_brand) for r in result.payments.itertuples()}
    assert got[1] == ("refund", "101.10.12100.000", "UNKNOWN")
    assert got[2] == ("sale", "101.10.12110.000", "AMEX")
    assert got[3][0] == "decline" and got[4][:2] == ("chargeback", "101.10.12150.000")


def test_counter_examples_become_exceptions_with_reasons() -> None:
    raw = frame(
        raw_row(transaction_id=1, state="refund_pending"),                      # unknown status
        raw_row(transaction_id=2, currency="JPY", amount_minor=500),           # no JPY rate
        raw_row(transaction_id=3, customer_id="cust-404", invoice_id=""),     # unknown customer: normalized
        raw_row(transaction_id=4, amount_minor=-100),                          # negative sale
        raw_row(transaction_id=5, description="card 4012000098765439 per phone"),
        raw_row(transaction_id=6, currency="CAD", amount_minor=10001),
    )
    result = normalize(raw, MAPPING)
    reasons = dict(zip(result.exceptions["transaction_id"], result.exceptions["reason_code"]))
    assert reasons == {1: "unknown_status", 2: "missing_rate", 4: "negative_amount"}
    details = json.loads(result.exceptions.set_index("transaction_id").loc[2, "details"])
    assert details == {"business_date": "2026-11-03", "currency": "JPY"}
    assert all(result.exceptions["suggested_action"].str.len() > 10)
    good = result.payments.set_index("transaction_id")
    assert "4012000098765439" not in good.loc[5, "description"] and good.loc[5, "description"].endswith("5439 per phone")
    assert result.card_numbers_masked == 1
    # A payer without an ERP account is normalized (its cash is posted as an unidentified receipt).
    assert (good.loc[3, "oracle_customer_account"], good.loc[3, "paytrace_customer_id"]) == ("", "cust-404")
    # CAD at 0.73, rounded half-even: 100.01 CAD = 73.0073 USD -> 73.01
    assert (good.loc[6, "base_amount_minor"], good.loc[6, "fx_rate"], good.loc[6, "fx_rate_source"]) == (7301, "0.7300", "treasury monthly rate")
    assert balance(raw, result) == {"count_difference": 0, "amount_difference_minor": 0}


def test_customers_resolve_by_map_then_email_then_erp_lookup() -> None:
    text = SAMPLE_MAPPING.read_text().replace("map: {}", 'map: {"cust-1": {oracle: "1001", sage: "C1001"}}').replace(
        "by_email: {}", 'by_email: {"ap@acme.example": {oracle: "1002"}}')
    mapping = parse_mapping(text, "test.yaml")
    erp = pd.DataFrame([{"erp": "oracle", "account_number": "1003", "email": "", "name": "ZED CORP"}])
    result = normalize(frame(
        raw_row(transaction_id=1, customer_id="cust-1"),
        raw_row(transaction_id=2, customer_id="cust-2", receipt_emailed_to="AP@Acme.example"),
        raw_row(transaction_id=3, customer_id="cust-3", billing_name="Zed Corp", invoice_id=""),
    ), mapping, erp_customers=erp)
    got = {r.transaction_id: (r.oracle_customer_account, r.sage_customer_account) for r in result.payments.itertuples()}
    assert got == {1: ("1001", "C1001"), 2: ("1002", ""), 3: ("1003", "")}


def test_a_paytrace_id_that_is_an_account_number_identifies_and_a_shared_name_does_not() -> None:
    erp = pd.DataFrame([{"erp": "oracle", "account_number": "C10001", "email": "", "name": "Evergreen Plumbing Ltd."},
                        {"erp": "oracle", "account_number": "C10052", "email": "", "name": "EVERGREEN PLUMBING LTD."},
                        {"erp": "oracle", "account_number": "C10060", "email": "", "name": "Zed Corp"}])
    result = normalize(frame(
        raw_row(transaction_id=1, customer_id="c10001", billing_name="Evergreen Plumbing Ltd."),
        raw_row(transaction_id=2, billing_name="Evergreen Plumbing Ltd."),  # two accounts bear the name
        raw_row(transaction_id=3, billing_name="zed corp"),
        raw_row(transaction_id=4, billing_name="Jo Bloggs", receipt_emailed_to="ap@zedcorp.example"),
        raw_row(transaction_id=5, billing_name="Jo Bloggs", receipt_emailed_to="ap@evergreenplumbing.example"),
    ), MAPPING, erp_customers=erp)
    got = {r.transaction_id: r.oracle_customer_account for r in result.payments.itertuples()}
    assert got == {1: "C10001", 2: "", 3: "C10060", 4: "C10060", 5: ""}


_STATES = ["authorized", "approved", "captured", "declined", "settled", "voided", "chargeback_opened", "chargeback_resolved", "weird"]
_TYPES = ["SALE", "AUTHORIZATION", "CAPTURE", "REFUND", "VOID", "STR/FWD", "FORCE"]

raw_rows = st.lists(
    st.fixed_dictionaries({
        "transaction_type": st.sampled_from(_TYPES),
        "state": st.sampled_from(_STATES),
        "amount_minor": st.integers(min_value=-10**6, max_value=10**10),
        "currency": st.sampled_from(["USD", "USD", "CAD", "JPY", "GBP"]),
        "customer_id": st.sampled_from(["", "", "cust-9"]),
        "invoice_id": st.sampled_from(["", "INV-1", "x 12", "#000099", "inv 4213"]),
        "description": st.text(max_size=30),
        "masked_card_number": st.sampled_from(["************5454", "***********1005", "411111******1111", ""]),
        "billing_country": st.sampled_from(["US", "usa", "Canada", "", "Narnia"]),
        "business_date": st.dates(min_value=date(2025, 12, 1), max_value=date(2026, 12, 31)),
    }),
    max_size=40,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(raw_rows)
def test_raw_equals_normalized_plus_exceptions_and_is_deterministic(rows: list[dict]) -> None:
    raw = pd.DataFrame([raw_row(transaction_id=i + 1, **r) for i, r in enumerate(rows)]) if rows else pd.DataFrame([raw_row()]).iloc[0:0]
    first = normalize(raw, MAPPING)
    assert balance(raw, first) == {"count_difference": 0, "amount_difference_minor": 0}
    assert set(first.payments["transaction_id"]).isdisjoint(first.exceptions["transaction_id"])
    assert not first.payments["transaction_id"].duplicated().any()
    if len(first.payments):
        NormalizedPaymentsSchema.validate(first.payments)
    second = normalize(raw.sample(frac=1, random_state=1), MAPPING)
    pd.testing.assert_frame_equal(
        first.payments.sort_values("transaction_id").reset_index(drop=True),
        second.payments.sort_values("transaction_id").reset_index(drop=True),
    )


@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31)).map(lambda d: d.replace(microsecond=0)),
       st.sampled_from(["America/Los_Angeles", "America/New_York", "Europe/London", "Australia/Sydney", "America/St_Johns"]))
def test_timestamps_land_on_the_right_business_date(utc: datetime, tz_name: str) -> None:
    # Only instants around midnight and the DST changes are interesting; hypothesis finds the edges.
    row = parse_record(record(created__at=format_paytrace_timestamp(utc, tz_name)), tz_name)
    start, end = local_day_bounds_utc(row["business_date"], tz_name)
    assert start <= row["created_at"] < end
    assert row["business_date"] == business_date(utc, tz_name)
    assert abs(row["created_at"] - utc) in (timedelta(0), timedelta(hours=1), timedelta(minutes=30))


def test_the_contract_refuses_a_number_in_a_text_column() -> None:
    import pandera.errors

    payments = normalize(frame(raw_row()), MAPPING).payments
    payments.loc[0, "invoice_reference"] = 4213
    with pytest.raises(pandera.errors.SchemaError, match="text columns must hold only strings"):
        NormalizedPaymentsSchema.validate(payments)


@pytest.mark.parametrize(("column", "value"), [("currency", "usd"), ("base_currency", "US"), ("fx_rate", "1,5"), ("card_last_four", "45454")])
def test_the_contract_refuses_malformed_codes(column: str, value: str) -> None:
    import pandera.errors

    payments = normalize(frame(raw_row(), raw_row(transaction_id=2)), MAPPING).payments
    payments.loc[1, column] = value
    with pytest.raises(pandera.errors.SchemaError):
        NormalizedPaymentsSchema.validate(payments)


def test_nul_characters_are_dropped_and_never_merge_distinct_texts() -> None:
    raw = pd.DataFrame([raw_row(transaction_id=1, description="\x00"), raw_row(transaction_id=2, description=""),
                        raw_row(transaction_id=3, description="Order\x00 7"), raw_row(transaction_id=4, description="Order")])
    before = raw.copy()
    got = normalize(raw, MAPPING).payments.set_index("transaction_id")["description"]
    assert got.to_dict() == {1: "", 2: "", 3: "Order 7", 4: "Order"}
    pd.testing.assert_frame_equal(raw, before)  # the caller's frame is not changed
