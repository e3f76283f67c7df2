"""Customer vault sync against the composed sandbox (PayTrace's vault, Sage 300's and Oracle's customers)
over real HTTP, with faults on: each change is made once on the other side whatever is retried,
redelivered or cut off after the server committed; a change on both sides is one conflict with both
versions and nothing written; profiles are created from a card payment and deleted with their account."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select

from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.lib.outbound.contacts import from_paytrace, standardize
from paysync_dagster.lib.outbound.vault_sync import (CONFLICT, DELETED, HELD, IN_STEP, KEY_IN_ERP, LEDGER_SYSTEM,
                                                     PROFILE_CREATE, PROFILE_UPDATE, TO_ERP, TO_PAYTRACE, UNREACHABLE, WOULD,
                                                     LinkState, SyncInput, SyncOutcome, SyncRules, VaultSync, links_after)
from paysync_dagster.lib.posting.ledger import Ledger
from paysync_dagster.lib.warehouse.tables import posting_ledger
from paysync_dagster.sandbox.card_on_file import PAYMENT_CODE
from paysync_dagster.sandbox.paytrace.state import HistorySpec
from paysync_dagster.sandbox.server import ServerThread, build_app
from paysync_dagster_tests.conftest import SANDBOX_TZ, oracle_resource, sage_resource
from paysync_dagster_tests.lib.outbound.support import calm, paytrace_client

START, END = date(2026, 3, 2), date(2026, 3, 6)
DAY = END + timedelta(days=1)
FAULTS = {"seed": 7, "drop_after_commit_rate": 0.4, "error_rate": 0.15, "error_statuses": [502, 503]}


@pytest.fixture
def sandbox() -> Iterator[ServerThread]:
    history = HistorySpec(seed=11, start_date=START, end_date=END, per_day=20, card_on_file=True)
    with ServerThread(build_app(history=history, tz_name=SANDBOX_TZ, faults=FAULTS)) as server:
        yield server


class World:
    """One sync's view of the sandbox: Sage's customers, PayTrace's vault and the warehouse's links."""

    def __init__(self, url: str, engine: Engine, erp: str = "sage"):
        self.url, self.engine, self.erp = url, engine, erp
        self.resource = sage_resource(url) if erp == "sage" else oracle_resource(url)
        self.links: dict[str, LinkState] = {}

    def master(self) -> dict[str, dict[str, str]]:
        with self.resource.client() as client:
            return {r["account_number"]: r for r in self.resource.adapter(client, MAPPING).customer_master()}

    def profiles(self) -> dict[str, dict]:
        with paytrace_client(self.url) as pt:
            return {str(p["customer_id"]): p for p in pt.export_customers()}

    def card_accounts(self) -> set[str]:
        with self.resource.client() as client:
            return self.resource.adapter(client, MAPPING).card_on_file_accounts(
                PAYMENT_CODE if self.erp == "sage" else "Card on File")

    def update_erp(self, account: str, changes: dict[str, str]) -> None:
        with self.resource.client() as client:
            self.resource.adapter(client, MAPPING).update_customer(account, changes)

    def sync(self, day: date = DAY, *, accounts: dict | None = None, card_payments: dict[str, int] | None = None,
             dry_run: bool = False, rules: SyncRules | None = None) -> list[SyncOutcome]:
        """One run, as the asset makes it; the links it leaves are kept for the next."""
        with self.resource.client() as client, paytrace_client(self.url) as pt:
            adapter = self.resource.adapter(client, MAPPING)
            master = {r["account_number"]: r for r in adapter.customer_master()} if accounts is None else accounts
            data = SyncInput(self.erp, master, {str(p["customer_id"]): p for p in pt.export_customers()}, self.links,
                             mapped={}, account_is_vault_id=True,
                             card_accounts=adapter.card_on_file_accounts(
                                 PAYMENT_CODE if self.erp == "sage" else "Card on File"),
                             last_card_payment=card_payments or {})
            sync = VaultSync(self.erp, pt, erp_writer=getattr(adapter, "update_customer") if self.erp == "sage" else None,
                             erp_reader=lambda a: {r["account_number"]: r for r in adapter.customer_master()}.get(a),
                             paytrace_ledger=Ledger(self.engine, LEDGER_SYSTEM), erp_ledger=Ledger(self.engine, self.erp),
                             rules=rules or SyncRules(), currency="USD")
            outcomes = sync.run(data, day, dry_run=dry_run)
        if not dry_run:
            self.links = links_after(outcomes, self.links)
        return outcomes

    def settle(self, day: date = DAY, **kwargs: object) -> dict[str, SyncOutcome]:
        """Runs until none is left without a certain answer (the faults cut some off), as the next days'
        runs would; each account's outcome from the run that settled it (its first certain one)."""
        settled: dict[str, SyncOutcome] = {}
        for _ in range(8):
            outcomes = _by_account(self.sync(day, **kwargs))  # type: ignore[arg-type]
            for a, o in outcomes.items():
                if o.outcome != UNREACHABLE:
                    settled.setdefault(a, o)
            if all(o.outcome != UNREACHABLE for o in outcomes.values()):
                return {**outcomes, **settled}
        raise AssertionError("still no certain answer after 8 runs")


def _posted(engine: Engine, action: str) -> Counter:
    """Posted ledger entries of ``action`` per account."""
    with engine.connect() as conn:
        rows = conn.execute(select(posting_ledger.c.detail).where(posting_ledger.c.action == action,
                                                                  posting_ledger.c.status == "posted")).all()
    import json
    return Counter(json.loads(d)["account"] for (d,) in rows)


def _by_account(outcomes: list[SyncOutcome]) -> dict[str, SyncOutcome]:
    return {o.account: o for o in outcomes}


def test_the_first_sync_brings_paytrace_to_the_erp_once_through_faults_and_redelivery(sandbox: ServerThread,
                                                                                     engine: Engine) -> None:
    world = World(sandbox.url, engine)
    linked = sorted(set(world.master()) & set(world.profiles()))
    assert len(linked) >= 3, "the card-on-file seed gives several Sage customers a vault profile under their number"
    differing = [a for a in linked if from_paytrace(world.profiles()[a]) != standardize(world.master()[a])]

    first = world.settle()
    # An update whose answer the faults cut off is found made by the next run's look-up (in step by then).
    assert {a: first[a].outcome in ((TO_PAYTRACE, IN_STEP) if a in differing else (IN_STEP,)) for a in linked} == \
        {a: True for a in linked}
    for _ in range(2):  # redelivered, as a retried run would
        again = _by_account(world.sync())
        assert {a: again[a].outcome for a in linked} == {a: IN_STEP for a in linked}

    profiles, master = world.profiles(), world.master()
    for a in linked:  # PayTrace now shows the ERP's details, in its own format
        assert from_paytrace(profiles[a]) == standardize(master[a]), a
    assert _posted(engine, PROFILE_UPDATE) == Counter(differing), "one update per profile that differed, not more"
    with engine.connect() as conn:
        assert not conn.execute(select(posting_ledger.c.reference).where(
            posting_ledger.c.status.notin_(("posted",)))).all(), "every write certain in the end"
    assert sandbox.app.faults.stats()["faults"], "the faults fired"


def test_a_change_on_one_side_reaches_the_other_in_its_format(sandbox: ServerThread, engine: Engine) -> None:
    world = World(sandbox.url, engine)
    world.settle()
    a, b = sorted(world.links)[:2]
    updates_before = _posted(engine, PROFILE_UPDATE)[a]
    with calm(sandbox, FAULTS), paytrace_client(sandbox.url) as pt:
        world.update_erp(a, {"address_line1": "1200 North Harbor Boulevard", "address_line2": "Suite 4"})
        pt.update_customer(b, phone="(415) 555-0199")

    moved = world.settle()
    assert moved[a].outcome in (TO_PAYTRACE, IN_STEP) and moved[b].outcome in (TO_ERP, IN_STEP)
    assert _posted(engine, PROFILE_UPDATE)[a] == updates_before + 1 and _posted(engine, "customer_update") == Counter([b])
    profile = world.profiles()[a]["billing_address"]
    assert (profile["street_address"], profile["street_address2"]) == ("1200 N Harbor Blvd", "Ste 4")
    assert world.master()[b]["phone"] == "4155550199"  # Sage keeps the digits
    assert {o.outcome for o in _by_account(world.sync()).values()} == {IN_STEP}


def test_a_change_on_both_sides_is_one_conflict_with_both_versions_and_nothing_written(sandbox: ServerThread,
                                                                                     engine: Engine) -> None:
    world = World(sandbox.url, engine)
    world.settle()
    account = sorted(world.links)[0]
    with calm(sandbox, FAULTS), paytrace_client(sandbox.url) as pt:
        world.update_erp(account, {"email": "ap@erp-side.example"})
        pt.update_customer(account, email="billing@paytrace-side.example")
    before_erp, before_pt = world.master()[account], world.profiles()[account]

    conflict = _by_account(world.sync())[account]
    assert conflict.outcome == CONFLICT and conflict.fields == ("email",)
    assert conflict.erp_version["email"] == "ap@erp-side.example"
    assert conflict.paytrace_version["email"] == "billing@paytrace-side.example"
    assert conflict.is_exception_on(DAY)
    assert (world.master()[account], world.profiles()[account]) == (before_erp, before_pt), "nothing overwritten"

    later = _by_account(world.sync(DAY + timedelta(days=1)))[account]
    assert later.outcome == CONFLICT and not later.is_exception_on(DAY + timedelta(days=1)), "reported once"
    with calm(sandbox, FAULTS):
        world.update_erp(account, {"email": "billing@paytrace-side.example"})  # a person settles it in the ERP
    settled = _by_account(world.sync(DAY + timedelta(days=2)))[account]
    assert settled.outcome == IN_STEP and not settled.is_exception_on(DAY + timedelta(days=2))


def test_a_card_on_file_customer_without_a_profile_gets_one_once_from_a_card_payment(sandbox: ServerThread,
                                                                                  engine: Engine) -> None:
    world = World(sandbox.url, engine)
    account = sorted(world.card_accounts() & set(world.profiles()))[0]
    with calm(sandbox, FAULTS), paytrace_client(sandbox.url) as pt:
        pt.delete_customer(account)
        sale = next(r for r in pt.export_transactions(START, END) if r["transaction_type"] == "SALE" and r["approval_code"])
    masked = sale["credit_card"]["masked_number"][-4:]

    no_card = [o for o in world.sync(dry_run=True) if o.account == account]
    assert [o.outcome for o in no_card] == ["no_card_payment"]
    world.settle(card_payments={account: int(sale["transaction_id"])})
    for _ in range(2):  # redelivered
        world.sync(card_payments={account: int(sale["transaction_id"])})
    profiles = world.profiles()
    assert account in profiles and profiles[account]["credit_card"]["masked_number"].endswith(masked)
    assert _posted(engine, PROFILE_CREATE) == Counter([account])
    assert from_paytrace(profiles[account]) == standardize(world.master()[account]), "then brought in step"


def test_deleting_an_account_deletes_its_profile_and_a_mass_disappearance_is_held(sandbox: ServerThread,
                                                                                   engine: Engine) -> None:
    world = World(sandbox.url, engine)
    world.settle()
    master = world.master()
    gone = sorted(world.links)[0]
    deleted = world.settle(accounts={a: r for a, r in master.items() if a != gone})
    assert deleted[gone].outcome == DELETED and gone not in world.profiles() and gone not in world.links

    rest = sorted(world.links)
    held = world.settle(accounts={a: r for a, r in master.items() if a not in rest},
                        rules=SyncRules(max_deletions=len(rest) - 1))
    assert {held[a].outcome for a in rest} == {HELD}
    assert set(rest) <= set(world.profiles()), "no profile deleted when more accounts vanished than allowed"


def test_a_dry_run_writes_nothing_anywhere(sandbox: ServerThread, engine: Engine) -> None:
    world = World(sandbox.url, engine)
    before = dict(sandbox.app.faults.stats()["received"])
    outcomes = world.sync(dry_run=True)
    assert any(o.outcome == WOULD + TO_PAYTRACE for o in outcomes)
    writes = {p: n for p, n in sandbox.app.faults.stats()["received"].items()
              if n != before.get(p) and ("update" in p or "create" in p or "delete" in p or "PATCH" in p)}
    assert not writes, writes
    with engine.connect() as conn:
        assert conn.execute(select(posting_ledger.c.reference)).all() == []


def test_oracle_has_no_customer_write_so_a_paytrace_change_is_a_task_for_a_person(sandbox: ServerThread,
                                                                                   engine: Engine) -> None:
    world = World(sandbox.url, engine, erp="oracle")
    world.settle()
    account = sorted(world.links)[0]
    with calm(sandbox, FAULTS), paytrace_client(sandbox.url) as pt:
        pt.update_customer(account, billing_address={"name": "Renamed In PayTrace LLC"})
    task = world.settle()[account]
    assert task.outcome == KEY_IN_ERP and task.fields == ("name",) and "Renamed In PayTrace LLC" in task.reason
    assert task.is_exception_on(DAY)
