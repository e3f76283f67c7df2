"""How well customer suggestions do on a labelled master, beside an exact-e-mail-or-name baseline.

Figures, for a set of vault customers each labelled with its true account (or none):
- in the auto-accept band (confidence >= ``AUTO_ACCEPT``): precision (right suggestions of those in the
  band) and recall (right suggestions in the band of the customers that have an account);
- recall at any confidence (a right suggestion shown at all);
- false matches: customers without an account that were given one in the band, as a share of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paysync_dagster.lib.suggest.customers import AUTO_ACCEPT, Suggestion, suggest_customers


@dataclass(frozen=True)
class Figures:
    band_precision: float
    band_recall: float
    recall_any: float
    false_matches: int
    without_account: int
    with_account: int

    @property
    def false_match_rate(self) -> float:
        return self.false_matches / self.without_account if self.without_account else 0.0


def baseline_suggestions(paytrace_customers: Iterable[Mapping[str, Any]],
                         erp_accounts: Sequence[Mapping[str, Any]]) -> list[Suggestion]:
    """The account whose e-mail address, else whose name, is exactly the customer's (case aside),
    when exactly one account has it; confidence 1."""
    def index(key: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for a in erp_accounts:
            value = str(a.get(key) or "").strip().lower()
            if value:
                out.setdefault(value, []).append(str(a["account_number"]))
        return out

    by_email, by_name = index("email"), index("name")
    out = []
    for c in paytrace_customers:
        email = str(c.get("email") or "").strip().lower()
        name = str((c.get("billing_address") or {}).get("name") or "").strip().lower()
        for found, why in ((by_email.get(email, []), "the same e-mail"), (by_name.get(name, []), "the same name")):
            if len(found) == 1:
                out.append(Suggestion(str(c["customer_id"]), found[0], 1.0, why))
                break
    return out


def figures(suggestions: Iterable[Suggestion], truth: Mapping[str, str | None]) -> Figures:
    given = {s.paytrace_customer_id: s for s in suggestions}
    with_account = [c for c, a in truth.items() if a is not None]
    without_account = [c for c, a in truth.items() if a is None]
    in_band = [s for s in given.values() if s.confidence >= AUTO_ACCEPT]
    right_in_band = [s for s in in_band if truth.get(s.paytrace_customer_id) == s.erp_account]
    right_any = [s for s in given.values() if truth.get(s.paytrace_customer_id) == s.erp_account]
    false = [c for c in without_account if c in given and given[c].confidence >= AUTO_ACCEPT]
    return Figures(band_precision=len(right_in_band) / len(in_band) if in_band else 1.0,
                   band_recall=len(right_in_band) / len(with_account) if with_account else 1.0,
                   recall_any=len(right_any) / len(with_account) if with_account else 1.0,
                   false_matches=len(false), without_account=len(without_account), with_account=len(with_account))


def evaluate(customers: Sequence[Mapping[str, Any]], accounts: Sequence[Mapping[str, Any]],
             truth: Mapping[str, str | None]) -> dict[str, Figures]:
    """Ours and the baseline's figures on one labelled master."""
    return {"paysync": figures(suggest_customers(customers, accounts).suggestions, truth),
            "baseline": figures(baseline_suggestions(customers, accounts), truth)}
