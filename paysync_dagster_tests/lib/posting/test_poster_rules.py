"""The Poster's exactly-once rules against a scripted in-memory ERP: look before resending, give up
cleanly when the ERP never answers for sure, split a refused batch to find the culprit."""

from collections.abc import Sequence

import pytest
from sqlalchemy import Engine

from paysync_dagster.lib.posting import ErpReceipt, Ledger, OpenInvoice, OutcomeUnknown, Poster, ReceiptSpec, RejectedError
from paysync_dagster.lib.posting.erp import ApplySpec
from paysync_dagster_tests.lib.posting.oracle_support import RULES, payment


class ScriptedErp:
    """Keeps receipts and applications in memory; ``lose`` answers of the next N writes after doing them."""

    name, batch_size, apply_batch_size, applies_with_receipt = "oracle", 10, 10, False

    def __init__(self) -> None:
        self.receipts: dict[str, ErpReceipt] = {}
        self.applied: dict[str, dict[str, int]] = {}
        self.lose = 0
        self.refuse: set[str] = set()
        self.calls: list[str] = []

    def _maybe_lose(self) -> None:
        if self.lose:
            self.lose -= 1
            raise OutcomeUnknown("answer lost")

    def find_receipts(self, references: Sequence[str]) -> dict[str, ErpReceipt]:
        self.calls.append("find")
        return {r: self.receipts[r] for r in references if r in self.receipts}

    def create_receipts(self, specs: Sequence[ReceiptSpec]) -> dict[str, str]:
        self.calls.append(f"create x{len(specs)}")
        if any(s.reference in self.refuse for s in specs):
            raise RejectedError("the customer account number is invalid", "AR_RAPI_CUS_NUM_INVALID")
        for s in specs:
            self.receipts[s.reference] = ErpReceipt(f"id-{s.reference}", s.reference, s.amount_minor, s.currency, s.customer_account)
        self._maybe_lose()
        return {s.reference: f"id-{s.reference}" for s in specs}

    def apply(self, items: Sequence[ApplySpec]) -> None:
        self.calls.append(f"apply x{len(items)}")
        for i in items:
            per = self.applied.setdefault(i.receipt.reference, {})
            per[i.target_id] = per.get(i.target_id, 0) + i.amount_minor
        self._maybe_lose()

    def applications(self, receipt: ErpReceipt) -> dict[str, int]:
        return dict(self.applied.get(receipt.reference, {}))


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


INVOICES = {"INV-000001": OpenInvoice("INV-000001", "C1", 500, "USD", erp_id="t1"),
            "INV-000002": OpenInvoice("INV-000002", "C1", 700, "USD", erp_id="t2")}
PAYMENTS = [payment(1, 500, ref="INV-000001"), payment(2, 700, ref="INV-000002"), payment(3, 50, ref="INV-000001")]


def test_lost_answers_are_looked_up_and_nothing_is_doubled(engine: Engine) -> None:
    erp = ScriptedErp()
    erp.lose = 2  # the batch of creates and the batch of applications both lose their answers
    outcomes = Poster(erp, Ledger(engine, "oracle"), RULES, INVOICES).post_all(PAYMENTS)
    assert [o.outcome for o in outcomes] == ["applied", "applied", "on_account"]  # INV-000001 was paid by 1
    assert erp.calls == ["create x3", "find", "apply x2"]
    assert erp.applied == {"PT-1": {"t1": 500}, "PT-2": {"t2": 700}}


def test_an_erp_that_never_answers_for_sure_leaves_an_exception_then_the_next_delivery_finishes(engine: Engine) -> None:
    erp = ScriptedErp()
    erp.lose = 10**6  # every write is done but its answer lost ... and look-ups see nothing
    erp.find_receipts = lambda refs: {}  # type: ignore[method-assign]
    outcomes = Poster(erp, Ledger(engine, "oracle"), RULES, INVOICES).post_all(PAYMENTS[:1])
    assert outcomes[0].outcome == "exception" and outcomes[0].exception[0] == "erp_unreachable"
    entry = Ledger(engine, "oracle").get("PT-1")
    assert (entry.status, entry.attempts) == ("uncertain", RULES.max_rounds)

    healthy = ScriptedErp()
    healthy.receipts = {"PT-1": ErpReceipt("id-PT-1", "PT-1", 500, "USD", "C1")}  # one of those sends had landed
    outcomes = Poster(healthy, Ledger(engine, "oracle"), RULES, INVOICES).post_all(PAYMENTS[:1])
    assert outcomes[0].outcome == "applied" and healthy.calls == ["find", "apply x1"]


def test_a_refused_batch_is_split_to_find_the_culprit(engine: Engine) -> None:
    erp = ScriptedErp()
    erp.refuse = {"PT-2"}
    outcomes = Poster(erp, Ledger(engine, "oracle"), RULES, INVOICES).post_all(PAYMENTS)
    assert [o.outcome for o in outcomes] == ["applied", "exception", "on_account"]
    assert outcomes[1].exception[0] == "erp_rejected" and "AR_RAPI_CUS_NUM_INVALID" in outcomes[1].reason
    assert erp.calls[:4] == ["create x3", "create x1", "create x1", "create x1"]
    assert set(erp.receipts) == {"PT-1", "PT-3"} and Ledger(engine, "oracle").get("PT-2").status == "failed"
