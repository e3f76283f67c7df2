"""GL rule suggestions: learnt from how past receipts were accounted, checked here by applying the proposed
rules first-match-wins (independently of the module) to every group of the history."""

from __future__ import annotations

import json
import random
from collections import Counter

from paysync_dagster.lib.mapping import GlRule
from paysync_dagster.lib.suggest.gl_rules import AUTO_ACCEPT, suggest_gl_rules

DEFAULT, REFUNDS, CHARGEBACKS, AMEX, DISCOVER_CAPTURES = (
    "101.10.12000.000", "101.10.12100.000", "101.10.12150.000", "101.10.12110.000", "101.10.12300.000")
KIND_WEIGHTS = {"sale": 60, "capture": 14, "refund": 12, "chargeback": 4, "void": 5, "decline": 5}
BRAND_WEIGHTS = {"VISA": 50, "MASTERCARD": 28, "AMEX": 15, "DISCOVER": 7}


def _books(kind: str, brand: str) -> str:
    """How the merchant accounts a receipt: refunds and chargebacks by kind whatever the brand, AmEx apart,
    and Discover captures (funded by another processor) apart."""
    if kind == "refund":
        return REFUNDS
    if kind == "chargeback":
        return CHARGEBACKS
    if kind == "capture" and brand == "DISCOVER":
        return DISCOVER_CAPTURES
    return AMEX if brand == "AMEX" else DEFAULT


def _history(seed: int, n: int = 1500, noise: float = 0.0, books=_books) -> list[dict]:  # noqa: ANN001
    rng = random.Random(seed)
    accounts = [DEFAULT, REFUNDS, CHARGEBACKS, AMEX, "101.10.19999.000"]
    rows = []
    for _ in range(n):
        kind = rng.choices(list(KIND_WEIGHTS), list(KIND_WEIGHTS.values()))[0]
        brand = rng.choices(list(BRAND_WEIGHTS), list(BRAND_WEIGHTS.values()))[0]
        account = books(kind, brand)
        if rng.random() < noise:  # mis-posted to some other account
            account = rng.choice([a for a in accounts if a != account])
        rows.append({"kind": kind, "card_brand": brand, "gl_account": account, "amount_minor": rng.randrange(100, 90000)})
    return rows


def _first_match(rules: list[dict], default: str, row: dict) -> str:
    """The mapping file's reading, written here again: the first rule whose every condition holds."""
    for rule in rules:
        if all(str(row.get(k, "")).upper() == str(v).upper() for k, v in rule["when"].items()):
            return rule["account"]
    return default


def test_clean_history_is_reproduced_exactly_with_the_merchants_rules() -> None:
    rows = _history(seed=1)
    found = suggest_gl_rules(rows)
    rules = found.as_mapping_rules()
    assert found.default == DEFAULT
    assert sorted((tuple(sorted(r["when"].items())), r["account"]) for r in rules) == sorted([
        ((("kind", "refund"),), REFUNDS), ((("kind", "chargeback"),), CHARGEBACKS), ((("card_brand", "AMEX"),), AMEX),
        ((("card_brand", "DISCOVER"), ("kind", "capture")), DISCOVER_CAPTURES)])
    # AmEx refunds and chargebacks keep their kind's account: the kind rules come before the AmEx rule.
    assert all(_first_match(rules, found.default, r) == r["gl_account"] for r in rows)
    assert found.reproduced == found.total == len(rows) and found.reproduced_share == 1.0
    assert all(r.agreement == 1.0 for r in found.rules) and found.mixed == ()


def test_more_specific_rules_come_first() -> None:
    found = suggest_gl_rules(_history(seed=2))
    sizes = [len(r.when) for r in found.rules]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 2


def test_a_noisy_minority_makes_no_rule_but_lowers_agreement() -> None:
    rows = _history(seed=3, noise=0.03)
    found = suggest_gl_rules(rows)
    rules = found.as_mapping_rules()
    assert {r["account"] for r in rules} == {REFUNDS, CHARGEBACKS, AMEX, DISCOVER_CAPTURES}
    assert "101.10.19999.000" not in json.dumps(rules) and found.default == DEFAULT
    # Every group keeps the account the merchant meant, noise aside.
    for kind in KIND_WEIGHTS:
        for brand in BRAND_WEIGHTS:
            assert _first_match(rules, found.default, {"kind": kind, "card_brand": brand}) == _books(kind, brand)
    # The share reproduced, and each rule's agreement, counted here independently.
    right = sum(_first_match(rules, found.default, r) == r["gl_account"] for r in rows)
    assert found.reproduced == right and found.reproduced_share == round(right / len(rows), 4) < 1.0
    refund = next(r for r in found.rules if r.when == {"kind": "refund"})
    refunds = [r for r in rows if r["kind"] == "refund"]
    assert refund.support == len(refunds)
    assert refund.agreement == round(sum(r["gl_account"] == REFUNDS for r in refunds) / len(refunds), 4) < 1.0
    assert refund.amount_minor == sum(r["amount_minor"] for r in refunds if r["gl_account"] == REFUNDS)
    assert f"{refund.support - round(refund.agreement * refund.support)} to" in refund.evidence


def test_a_minority_mis_posted_to_one_account_makes_no_rule() -> None:
    rng = random.Random(4)
    rows = _history(seed=4)
    for r in rows:
        if r["kind"] == "sale" and r["card_brand"] == "VISA" and rng.random() < 0.03:
            r["gl_account"] = "101.10.16666.000"
    found = suggest_gl_rules(rows)
    assert "101.10.16666.000" not in json.dumps(found.as_mapping_rules())
    assert "101.10.16666.000" in found.default_evidence and found.default_agreement < 1.0


def test_precedence_the_other_way_round() -> None:
    """AmEx refunds on the AmEx account: the AmEx rule must come before the refund rule (or the pair)."""
    def books(kind: str, brand: str) -> str:
        return AMEX if brand == "AMEX" else REFUNDS if kind == "refund" else DEFAULT

    rows = _history(seed=5, books=books)
    found = suggest_gl_rules(rows)
    assert found.reproduced == found.total
    assert all(_first_match(found.as_mapping_rules(), found.default, r) == r["gl_account"] for r in rows)


def test_a_split_group_is_reported_not_ruled() -> None:
    rng = random.Random(6)
    rows = _history(seed=6)
    for r in rows:
        if r["kind"] == "void":
            r["gl_account"] = rng.choice([DEFAULT, "101.10.17000.000"])
    found = suggest_gl_rules(rows)
    assert "101.10.17000.000" not in json.dumps(found.as_mapping_rules())
    assert any(m.startswith("kind void") for m in found.mixed), found.mixed


def test_confidence_needs_many_agreeing_payments() -> None:
    rows = _history(seed=7, n=600)
    rows += [{"kind": "sale", "card_brand": "JCB", "gl_account": "101.10.12400.000"} for _ in range(6)]
    found = suggest_gl_rules(rows)
    jcb = next(r for r in found.rules if r.when == {"card_brand": "JCB"})
    assert jcb.agreement == 1.0 and jcb.support == 6 and jcb.confidence < AUTO_ACCEPT
    refunds = next(r for r in found.rules if r.when == {"kind": "refund"})
    assert refunds.support > 50 and refunds.confidence >= AUTO_ACCEPT
    # Fewer than five payments: no rule at all.
    rows = _history(seed=7, n=600) + [{"kind": "sale", "card_brand": "JCB", "gl_account": "101.10.12400.000"}] * 4
    assert {"card_brand": "JCB"} not in [r.when for r in suggest_gl_rules(rows).rules]


def test_vocabulary_and_the_mapping_files_shape() -> None:
    rows = [{"kind": " Refund", "card_brand": "amex ", "gl_account": "2"} for _ in range(10)]
    rows += [{"kind": "adjustment", "card_brand": "", "gl_account": "3"} for _ in range(10)]
    rows += [{"kind": "sale", "card_brand": "visa", "gl_account": "1"} for _ in range(30)]
    rows += [{"kind": "sale", "card_brand": "VISA", "gl_account": ""}]
    found = suggest_gl_rules(rows)
    assert found.skipped == 1 and found.total == 50 and found.default == "1"
    whens = [r.when for r in found.rules]
    assert whens and all(w.get("kind") in (None, "refund") and w.get("card_brand") in (None, "AMEX") for w in whens)
    assert "adjustment" not in json.dumps(found.as_dict())  # not a kind the mapping file knows: no condition
    for rule in found.as_mapping_rules():
        GlRule.model_validate(rule)
    assert json.loads(json.dumps(found.as_dict()))["mapping"]["default"] == "1"


def test_empty_history_gives_an_empty_suggestion() -> None:
    for history in ([], [{"kind": "sale", "card_brand": "VISA", "gl_account": ""}]):
        found = suggest_gl_rules(history)
        assert found.default == "" and found.rules == () and found.total == 0 and found.as_mapping_rules() == []
        assert json.dumps(found.as_dict())


def test_default_is_the_account_most_payments_use() -> None:
    rows = _history(seed=8, n=400)
    counts = Counter(r["gl_account"] for r in rows)
    assert suggest_gl_rules(rows).default == counts.most_common(1)[0][0]
