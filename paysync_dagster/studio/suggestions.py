"""Suggestions for the studio to show, and what accepting or rejecting one does.

Each suggestion is a :class:`Proposal`: one change to the mapping (a customer link, the invoice
reference rule, a GL rule or the default account, an ERP's word for a status), with its confidence
and its evidence. Nothing is applied unless a person accepts it: accepting saves a new version of
the mapping file with the change (versions.py); rejecting writes an audit row, and a rejected
proposal is not shown again.

Where they come from: PayTrace's vault (``customer/export``) against the ERP accounts in the
warehouse (``erp_customers``, refreshed by every run); the payments and open invoices in the
warehouse for the invoice reference rule; how the warehouse's payments were accounted for the GL
rules; each ERP's status vocabulary for the status words.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from paysync_dagster.lib.exceptions.audit import record
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.tables import audit_log, erp_customers, metadata, normalized_payments, paytrace_transactions

REJECT_ACTION = "mapping.suggestion.reject"
HISTORY_ROWS = 20_000  # the latest payments the rule suggestions learn from
KINDS = ("customer", "invoice_reference", "gl_rule", "gl_default", "status")


@dataclass(frozen=True)
class PayTraceSettings:
    """PayTrace's API for reading the vault (the same ``PAYTRACE_*`` settings the pipeline uses)."""

    base_url: str
    username: str
    password: str
    integrator_id: str

    @classmethod
    def from_env(cls) -> PayTraceSettings | None:
        from paysync_dagster.lib.settings import DEFAULT_PAYTRACE_BASE_URL

        names = ("PAYTRACE_USERNAME", "PAYTRACE_PASSWORD", "PAYTRACE_INTEGRATOR_ID")
        if not all(os.environ.get(n) for n in names):
            return None
        return cls(os.environ.get("PAYTRACE_BASE_URL") or DEFAULT_PAYTRACE_BASE_URL, *(os.environ[n] for n in names))

    def __repr__(self) -> str:  # never the password
        return f"PayTraceSettings(base_url={self.base_url!r}, username={self.username!r})"


@dataclass(frozen=True)
class Proposal:
    """One change to the mapping, as a page shows it and a form sends it back."""

    kind: str
    values: tuple[tuple[str, str], ...]  # sorted (name, value)
    confidence: float = 0.0
    evidence: str = ""

    @classmethod
    def of(cls, kind: str, confidence: float = 0.0, evidence: str = "", **values: Any) -> Proposal:
        return cls(kind, tuple(sorted((k, str(v)) for k, v in values.items())), confidence, evidence)

    @classmethod
    def from_form(cls, form: dict[str, str]) -> Proposal:
        kind = form.get("kind", "")
        if kind not in KINDS:
            raise ValueError(f"kind: unknown suggestion kind {kind!r}")
        values = {k[2:]: v for k, v in form.items() if k.startswith("p_")}
        needed = {"customer": ("id", "erp", "account"), "invoice_reference": ("prefix", "digits"),
                  "gl_rule": ("when", "account"), "gl_default": ("account",), "status": ("erp", "canonical", "word")}[kind]
        missing = [n for n in needed if not values.get(n)]
        if missing:
            raise ValueError(f"{', '.join(missing)}: missing from the {kind} suggestion")
        return cls.of(kind, **values)

    @property
    def v(self) -> dict[str, str]:
        return dict(self.values)

    @property
    def key(self) -> str:
        return f"{self.kind}:" + json.dumps(self.values)

    def describe(self) -> str:
        v = self.v
        return {"customer": lambda: f"PayTrace customer {v['id']} is {v['erp']} account {v['account']}",
                "invoice_reference": lambda: f"invoice numbers are {v['prefix']!r} and {v['digits']} digits",
                "gl_rule": lambda: "GL rule when " + ", ".join(f"{k} {w}" for k, w in json.loads(v["when"]).items())
                                   + f": {v['account']}",
                "gl_default": lambda: f"GL default account {v['account']}",
                "status": lambda: f"{v['erp']} word for {v['canonical']}: {v['word']}"}[self.kind]()

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """The mapping's data with this change (a copy)."""
        out = copy.deepcopy(data)
        v = self.v
        if self.kind == "customer":
            customers = out.setdefault("customers", {})
            entry = customers.setdefault("map", {}).setdefault(v["id"], {})
            entry[v["erp"]] = v["account"]
        elif self.kind == "invoice_reference":
            ref = out.setdefault("invoice_reference", {})
            ref["prefix"], ref["digits"] = v["prefix"], int(v["digits"])
        elif self.kind == "gl_rule":
            when = json.loads(v["when"])
            rules = out.setdefault("gl_accounts", {}).setdefault("rules", [])
            same = [r for r in rules if r.get("when") == when]
            if same:
                same[0]["account"] = v["account"]
            else:
                rules.append({"when": when, "account": v["account"]})
        elif self.kind == "gl_default":
            out.setdefault("gl_accounts", {})["default"] = v["account"]
        elif self.kind == "status":
            out.setdefault("statuses", {}).setdefault(v["erp"], {})[v["canonical"]] = v["word"]
        return out

    def already_in(self, data: dict[str, Any]) -> bool:
        return self.apply(data) == data


@dataclass
class Found:
    """What the suggestions page shows: proposals by kind, and why a kind has none."""

    proposals: dict[str, list[Proposal]] = field(default_factory=lambda: {k: [] for k in KINDS})
    notes: dict[str, str] = field(default_factory=dict)
    summary: dict[str, str] = field(default_factory=dict)


def rejected(engine: Engine, path: Path) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.after).where(audit_log.c.action == REJECT_ACTION,
                                                            audit_log.c.subject == _subject(path)))
        return {r[0] for r in rows}


def reject(engine: Engine, path: Path, proposal: Proposal, by: str) -> None:
    with begin_write(engine) as conn:
        record(conn, by, REJECT_ACTION, _subject(path), None, proposal.key, proposal.describe())


def _subject(path: Path) -> str:
    return f"mapping file {path.resolve()}"


def gather(engine: Engine, path: Path, data: dict[str, Any], erps: tuple[str, ...],
           paytrace: PayTraceSettings | None) -> Found:
    found = Found()
    _customers(found, engine, erps, paytrace)
    _invoice_reference(found, engine, erps, data)
    _gl(found, engine)
    _statuses(found, erps)
    gone = rejected(engine, path)
    for kind, proposals in found.proposals.items():
        found.proposals[kind] = [p for p in proposals if p.key not in gone and not p.already_in(data)]
    return found


def _customers(found: Found, engine: Engine, erps: tuple[str, ...], paytrace: PayTraceSettings | None) -> None:
    from paysync_dagster.lib.suggest.customers import suggest_customers

    if paytrace is None:
        found.notes["customer"] = "PayTrace is not configured (PAYTRACE_USERNAME, PAYTRACE_PASSWORD, PAYTRACE_INTEGRATOR_ID)"
        return
    from paysync_dagster.lib.paytrace.client import PayTraceClient
    from paysync_dagster.lib.paytrace.errors import PayTraceError

    try:
        with PayTraceClient(paytrace.base_url, paytrace.username, paytrace.password, paytrace.integrator_id,
                            timeout=20.0) as client:
            vault = client.export_customers()
    except (PayTraceError, OSError) as exc:
        found.notes["customer"] = f"PayTrace's vault could not be read: {exc}"
        return
    accounts = pd.read_sql_table(erp_customers.name, engine)
    for erp in erps:
        rows = accounts[accounts["erp"] == erp].to_dict("records")
        if not rows:
            found.notes.setdefault("customer", "")
            found.notes["customer"] += f"no {erp} accounts in the warehouse yet (a run reads them). "
            continue
        result = suggest_customers(vault, rows)
        found.proposals["customer"].extend(
            Proposal.of("customer", s.confidence, s.evidence, id=s.paytrace_customer_id, erp=erp, account=s.erp_account)
            for s in result.suggestions)
        found.summary[f"customer:{erp}"] = (f"{len(vault)} vault customers against {len(rows)} {erp} accounts: "
                                            f"{len(result.suggestions)} suggested, {len(result.unmatched)} unmatched")


def _invoice_reference(found: Found, engine: Engine, erps: tuple[str, ...], data: dict[str, Any]) -> None:
    from paysync_dagster.lib.suggest.invoice_reference import suggest_invoice_reference

    t = paytrace_transactions
    with engine.connect() as conn:
        payments = [(r[0], r[1]) for r in conn.execute(
            select(t.c.invoice_id, t.c.description).where(t.c.transaction_type.in_(("SALE", "CAPTURE")))
            .order_by(t.c.business_date.desc()).limit(HISTORY_ROWS))]
        numbers: set[str] = set()
        for erp in erps:
            table = metadata.tables.get(f"{erp}_open_invoices")
            if table is not None:
                numbers.update(r[0] for r in conn.execute(select(table.c.invoice_number).distinct()))
    if not payments or not numbers:
        found.notes["invoice_reference"] = "needs payments and the ERP's invoices in the warehouse (a run reads them)"
        return
    ref = data.get("invoice_reference") or {}
    current = (str(ref.get("prefix", "INV-")), int(ref.get("digits", 6)))
    ranked = suggest_invoice_reference(payments, sorted(numbers), current=current)
    if ranked:
        found.summary["invoice_reference"] = f"best: {ranked[0].prefix!r} and {ranked[0].digits} digits: {ranked[0].evidence}"
    for s in ranked[:3]:
        found.proposals["invoice_reference"].append(
            Proposal.of("invoice_reference", s.confidence, s.evidence, prefix=s.prefix, digits=s.digits))


def _gl(found: Found, engine: Engine) -> None:
    from paysync_dagster.lib.suggest.gl_rules import suggest_gl_rules

    n = normalized_payments
    with engine.connect() as conn:
        history = [dict(r._mapping) for r in conn.execute(
            select(n.c.kind, n.c.card_brand, n.c.gl_account, n.c.amount_minor)
            .order_by(n.c.business_date.desc()).limit(HISTORY_ROWS))]
    if not history:
        found.notes["gl_rule"] = "needs accounted payments in the warehouse (a run writes them)"
        return
    s = suggest_gl_rules(history)
    found.summary["gl_rule"] = s.evidence
    if s.default:
        found.proposals["gl_default"].append(Proposal.of("gl_default", s.default_confidence, s.default_evidence,
                                                         account=s.default))
    for rule in s.rules:
        found.proposals["gl_rule"].append(Proposal.of("gl_rule", rule.confidence, rule.evidence,
                                                      when=json.dumps(rule.when, sort_keys=True), account=rule.account))


def _statuses(found: Found, erps: tuple[str, ...]) -> None:
    from paysync_dagster.lib.suggest.status_words import ERP_STATUS_VOCABULARY, suggest_status_words

    for erp in erps:
        vocabulary = ERP_STATUS_VOCABULARY.get(erp)
        if not vocabulary:
            continue
        for s in suggest_status_words(erp, vocabulary):
            if s.rank != 1:  # the alternatives stay in the command line's answer; a reviewer sees the best word
                continue
            found.proposals["status"].append(Proposal.of("status", s.confidence, s.evidence, erp=erp,
                                                         canonical=s.canonical, word=s.word))
