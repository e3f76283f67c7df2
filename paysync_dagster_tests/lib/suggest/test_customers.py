"""Customer suggestions: each way a master differs from the vault found, each decoy left alone, and the
figures on labelled masters beside the exact-e-mail-or-name baseline."""

from __future__ import annotations

from collections import defaultdict

import pytest

from paysync_dagster.lib.suggest.customers import AUTO_ACCEPT, suggest_customers
from paysync_dagster.lib.suggest.evaluation import evaluate
from paysync_dagster.sandbox.customer_master import DECOYS, STYLES, customer_master


def _account(number: str, name: str, *, email: str = "", phone: str = "", street: str = "", city: str = "Spokane",
             postal: str = "99201") -> dict[str, str]:
    return {"account_number": number, "name": name, "email": email, "phone": phone, "address_line1": street,
            "address_line2": "", "city": city, "state": "WA", "postal_code": postal, "country": "US"}


def _customer(cid: str, name: str, *, email: str = "", phone: str = "", street: str = "", city: str = "Spokane",
              postal: str = "99201") -> dict:
    return {"customer_id": cid, "billing_address": {"name": name, "street_address": street, "street_address2": "",
                                                    "city": city, "state": "WA", "zip": postal},
            "shipping_address": {}, "email": email, "phone": phone}


def test_every_style_finds_its_account_and_every_decoy_stays_out_of_the_band() -> None:
    master = customer_master(seed=11, per_style=6)
    found = {s.paytrace_customer_id: s for s in suggest_customers(master.customers, master.accounts).suggestions}
    by_style: dict[str, list] = defaultdict(list)
    for cid, truth in master.truth.items():
        by_style[master.style[cid]].append((found.get(cid), truth))
    assert set(by_style) == set(STYLES) | set(DECOYS)
    for style in STYLES:
        assert all(s is not None and s.erp_account == truth for s, truth in by_style[style]), (style, by_style[style])
    for decoy in DECOYS:
        assert all(s is None or s.confidence < AUTO_ACCEPT for s, _ in by_style[decoy]), (decoy, by_style[decoy])


def test_a_name_two_accounts_share_identifies_neither_unless_something_else_does() -> None:
    accounts = [_account("2001", "Harbor Foods Inc.", email="ap@harborfoods.example"),
                _account("2002", "Harbor Foods Inc.", email="ship@harborfoods.example")]
    found = suggest_customers([_customer("A", "HARBOR FOODS, LLC"), _customer("B", "Harbor Foods", email="ship@harborfoods.example")],
                              accounts)
    assert found.unmatched == ["A"]
    assert [(s.paytrace_customer_id, s.erp_account) for s in found.suggestions] == [("B", "2002")]


def test_a_free_mail_domain_says_nothing_and_another_city_sinks_a_name() -> None:
    accounts = [_account("3001", "Cedar Dental Ltd", email="office@gmail.com", city="Boise", postal="83702")]
    found = suggest_customers([_customer("A", "Maria Alvarez", email="maria@gmail.com", city="Boise", postal="83702"),
                               _customer("B", "Cedar Dental", city="Reno", postal="89501")], accounts)
    assert found.suggestions == [] and found.unmatched == ["A", "B"]


def test_a_person_at_the_organisations_domain_and_place_is_it_but_another_company_there_is_not() -> None:
    accounts = [_account("5001", "Juniper Lake Surveying Inc.", email="ap@juniperlake.example", postal="99201"),
                _account("5002", "Osprey Freight LLC", email="ap@ospreyfreight.example", postal="99201")]
    found = suggest_customers([_customer("P", "Dana Whitfield", email="dana@juniperlake.example", postal="99201"),
                               _customer("S", "Juniper Mapping LLC", email="billing@juniperlake.example", postal="99201"),
                               _customer("F", "Dana Whitfield", email="dana@juniperlake.example", postal="83702",
                                         city="Boise")], accounts)
    by_id = {s.paytrace_customer_id: s for s in found.suggestions}
    assert by_id["P"].erp_account == "5001" and by_id["P"].confidence >= AUTO_ACCEPT
    assert "a person's name, at the organisation's own domain and place" in by_id["P"].evidence
    assert "S" not in by_id or by_id["S"].confidence < AUTO_ACCEPT  # a sister company shares the domain
    assert "F" not in by_id or by_id["F"].confidence < AUTO_ACCEPT  # the domain alone, elsewhere


def test_an_email_pointing_at_one_account_and_a_name_at_another_is_left_for_review() -> None:
    accounts = [_account("4001", "Summit Analytics Corp", email="ap@summit.example"),
                _account("4002", "Granite Outfitters LLC", email="ap@granite.example")]
    found = suggest_customers([_customer("A", "Granite Outfitters", email="ap@summit.example")], accounts)
    (suggestion,) = found.suggestions
    assert suggestion.erp_account == "4001" and suggestion.confidence < AUTO_ACCEPT
    assert "4002" in suggestion.evidence


def test_the_evidence_says_why_in_words() -> None:
    accounts = [_account("300100200000287", "Lakeshore Medical Group", phone="(509) 555-0142")]
    found = suggest_customers([_customer("LAKESHORE-300100200000287", "Dr. Chen Wei", phone="+1 509 555 0142")], accounts)
    (suggestion,) = found.suggestions
    assert suggestion.confidence >= AUTO_ACCEPT
    assert "holds the account number 300100200000287" in suggestion.evidence and "phone" in suggestion.evidence


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_labelled_masters_meet_the_goals_and_beat_the_baseline(seed: int) -> None:
    master = customer_master(seed=seed, per_style=25)
    figures = evaluate(master.customers, master.accounts, master.truth)
    ours, baseline = figures["paysync"], figures["baseline"]
    assert ours.band_precision >= 0.98 and ours.false_match_rate <= 0.01 and ours.recall_any >= 0.9
    assert ours.band_recall > baseline.band_recall + 0.4 and ours.false_matches < baseline.false_matches


def test_a_labelled_master_is_the_same_for_the_same_seed() -> None:
    first, again, other = customer_master(seed=4, per_style=3), customer_master(seed=4, per_style=3), customer_master(seed=5, per_style=3)
    assert (first.accounts, first.customers, first.truth) == (again.accounts, again.customers, again.truth)
    assert first.customers != other.customers
