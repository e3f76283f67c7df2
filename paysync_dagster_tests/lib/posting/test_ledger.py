"""The posting ledger on SQLite and PostgreSQL: intents are recorded once, outcomes after, plans kept."""

from datetime import date

from paysync_dagster.lib.posting.ledger import FAILED, INTENT, POSTED, UNCERTAIN, Entry, Ledger
from paysync_dagster.lib.warehouse import make_engine, migrate

DAY = date(2026, 3, 5)


def entry(ref: str, detail: dict | None = None, parent: str | None = None) -> Entry:
    return Entry("oracle", ref, 42, "receipt" if parent is None else "application", DAY, 1500, "USD",
                 parent_reference=parent, detail=detail or {})


def test_intent_then_outcome_and_a_redelivery_keeps_the_first_plan(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    ledger = Ledger(engine, "oracle")
    stored = ledger.record_intents([entry("PT-42", {"rule": "exact"}), entry("PT-42:APP:INV-1:7", parent="PT-42")])
    assert {r: e.status for r, e in stored.items()} == {"PT-42": INTENT, "PT-42:APP:INV-1:7": INTENT}
    assert stored["PT-42"].attempts == 0
    ledger.attempt(["PT-42"])
    ledger.uncertain(["PT-42"], "read timeout")
    again = ledger.record_intents([entry("PT-42", {"rule": "fuzzy"})])["PT-42"]
    assert (again.status, again.attempts, again.detail, again.last_error) == (UNCERTAIN, 1, {"rule": "exact"}, "read timeout")
    ledger.posted({"PT-42": "300100200000001"})
    done = ledger.get("PT-42")
    assert (done.status, done.erp_id, done.last_error) == (POSTED, "300100200000001", None)
    ledger.failed(["PT-42:APP:INV-1:7"], "AR_X: refused")
    assert ledger.get("PT-42:APP:INV-1:7").status == FAILED
    assert [e.reference for e in ledger.entries(parents=["PT-42"])] == ["PT-42:APP:INV-1:7"]
    assert [e.reference for e in ledger.entries(business_dates=[DAY], actions=["receipt"])] == ["PT-42"]
    assert Ledger(engine, "sage").get("PT-42") is None  # one ledger per ERP
    engine.dispose()


class _LateReader(Ledger):
    """A writer whose first read happened before another writer committed the same intent."""

    calls = 0

    def get_many(self, references):  # noqa: ANN001, ANN201
        self.calls += 1
        return {} if self.calls == 1 else super().get_many(references)


def test_two_writers_recording_the_same_intent_keep_one_row(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate(engine)
    first = Ledger(engine, "oracle")
    first.record_intents([entry("PT-1", {"rule": "exact"})])
    stored = _LateReader(engine, "oracle").record_intents([entry("PT-1", {"rule": "none"}), entry("PT-2")])
    assert set(stored) == {"PT-1", "PT-2"} and stored["PT-1"].detail == {"rule": "exact"}
    assert len(first.entries()) == 2
    engine.dispose()
