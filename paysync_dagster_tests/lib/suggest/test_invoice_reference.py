"""Invoice-reference rule suggestions: learnt from the ERP's numbers, measured on what payers typed, and the
share each rule reads counted independently here from how the payments were made."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from paysync_dagster.lib.suggest.invoice_reference import AUTO_ACCEPT, suggest_invoice_reference


@dataclass
class _History:
    invoices: list[str]
    payments: list[tuple[str, str]] = field(default_factory=list)
    names_inv: int = 0  # payments typing an INV- invoice the ERP has
    names_si: int = 0  # payments typing an SI- invoice the ERP has
    names_nothing: int = 0  # payments naming no invoice at all


def _history(seed: int, n: int = 500) -> _History:
    """ERP numbers mostly INV- + 6 digits (4 or 5 significant), a minority SI- + 4 (2000-2999, so no INV
    number read as SI- exists); payments: 80% type an INV invoice in one of several shapes, 5% an SI
    one, 5% an INV number the ERP does not have, 10% nothing (empty, a note, a PO number only)."""
    rng = random.Random(seed)
    inv = rng.sample(range(4000, 100000), 1100)
    si = rng.sample(range(2000, 3000), 90)
    h = _History([f"INV-{x:06d}" for x in inv] + [f"SI-{x}" for x in si])
    rng.shuffle(h.invoices)
    shapes = ["INV-{:06d}", "inv {}", "{}", "Invoice #{:06d}", "INV{:06d}", "Payment for INV {}", "inv. no. {}"]
    for _ in range(n):
        roll = rng.random()
        if roll < 0.80:
            typed = rng.choice(shapes).format(rng.choice(inv))
            h.payments.append((typed, "") if rng.random() < 0.7 else ("", f"{typed}, thank you"))
            h.names_inv += 1
        elif roll < 0.85:
            h.payments.append((f"SI-{rng.choice(si)}", rng.choice(["", "parts"])))
            h.names_si += 1
        elif roll < 0.90:
            h.payments.append((f"INV-{rng.randrange(500000, 999999):06d}", ""))  # not an ERP number
        else:
            h.payments.append(rng.choice([("", ""), ("", "thanks!"), ("PO 7788", "March order"), ("", "deposit")]))
            h.names_nothing += 1
    return h


def test_the_erps_main_shape_comes_first_and_its_share_is_what_the_payments_name() -> None:
    h = _history(seed=7)
    found = suggest_invoice_reference(h.payments, h.invoices)
    best = found[0]
    assert (best.prefix, best.digits) == ("INV-", 6)
    assert best.total == 500 and best.matched == h.names_inv
    assert best.share == round(h.names_inv / 500, 4)
    assert best.no_reference == h.names_nothing
    assert best.erp_numbers == 1100 and best.confidence >= AUTO_ACCEPT
    assert f"{h.names_nothing} payments name no invoice at all" in best.evidence
    assert f"names an ERP invoice in {h.names_inv} of 500 past payments" in best.evidence
    assert any(e.startswith("'inv ") or e.startswith("'Invoice #") for e in best.examples), best.examples


def test_the_minority_shape_and_a_decoy_rule_in_force_score_lower() -> None:
    h = _history(seed=8)
    found = {(s.prefix, s.digits): s for s in suggest_invoice_reference(h.payments, h.invoices, current=("REF-", 8))}
    best, minority, decoy = found[("INV-", 6)], found[("SI-", 4)], found[("REF-", 8)]
    assert minority.matched == h.names_si and minority.confidence < best.confidence
    assert minority.confidence < AUTO_ACCEPT
    assert decoy.current and not best.current
    assert decoy.matched == 0 and decoy.confidence == 0.0 and decoy.erp_numbers == 0
    assert "the rule in force" in decoy.evidence and "none of the ERP's" in decoy.evidence
    ordered = list(found.values())
    assert ordered[0] is best and ordered[-1].confidence <= minority.confidence


def test_the_rule_in_force_is_marked_when_it_is_the_best() -> None:
    h = _history(seed=9, n=200)
    found = suggest_invoice_reference(h.payments, h.invoices, current=("INV-", 6))
    assert (found[0].prefix, found[0].digits, found[0].current) == ("INV-", 6, True)
    assert sum(s.current for s in found) == 1


def test_plain_numbers_without_a_prefix() -> None:
    rng = random.Random(3)
    numbers = [str(x) for x in rng.sample(range(100000, 999999), 300)]
    payments = [(rng.choice(["{}", "Invoice {}", "#{}"]).format(rng.choice(numbers)), "") for _ in range(120)]
    found = suggest_invoice_reference(payments, numbers)
    assert (found[0].prefix, found[0].digits, found[0].matched) == ("", 6, 120)
    assert found[0].confidence >= AUTO_ACCEPT


def test_few_payments_or_a_close_rival_keep_a_rule_out_of_the_band() -> None:
    few = suggest_invoice_reference([("INV-000101", ""), ("inv 102", "")], ["INV-000101", "INV-000102"])
    assert few[0].matched == 2 and few[0].confidence < AUTO_ACCEPT and "only 2 payments" in few[0].evidence
    # "INV-" and "INV" name the same numbers: neither stands out.
    numbers = [f"INV-{x:06d}" for x in range(100, 160)] + [f"INV{x:06d}" for x in range(100, 160)]
    twins = suggest_invoice_reference([(f"inv {x}", "") for x in range(100, 160)], numbers)
    assert twins[0].matched == twins[1].matched == 60
    assert all(s.confidence < AUTO_ACCEPT for s in twins) and "reads nearly as many" in twins[0].evidence


def test_a_card_number_is_never_quoted_in_the_evidence() -> None:
    found = suggest_invoice_reference([("4111111111111111 4211", "")] * 30, ["INV-004211"])
    text = json.dumps([s.as_dict() for s in found])
    assert found[0].matched == 30 and "4111111111111111" not in text and "1111 4211" in text


def test_empty_inputs_give_no_suggestion() -> None:
    assert suggest_invoice_reference([], ["INV-000001"]) == []
    assert suggest_invoice_reference([("INV-000001", "")], []) == []
    assert suggest_invoice_reference([], []) == []
    assert suggest_invoice_reference([("", "")], ["", "  "]) == []


def test_odd_erp_numbers_are_set_aside_and_said() -> None:
    found = suggest_invoice_reference([("INV-000001", "")], ["INV-000001", "2024-INV-7", "CREDIT"])
    assert [(s.prefix, s.digits) for s in found] == [("INV-", 6)]
    assert "2 ERP numbers have no prefix-and-digits shape" in found[0].evidence


def test_as_dict_is_json() -> None:
    h = _history(seed=1, n=60)
    rows = [s.as_dict() for s in suggest_invoice_reference(h.payments, h.invoices)]
    assert json.loads(json.dumps(rows)) == rows
    assert set(rows[0]) >= {"prefix", "digits", "matched", "total", "share", "confidence", "evidence"}
