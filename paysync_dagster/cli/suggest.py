"""``paysync mapping suggest customers`` and ``paysync mapping evaluate``: customer suggestions from files,
and how well they do on labelled masters beside an exact-e-mail-or-name baseline.

``suggest customers`` reads the body of PayTrace's ``customer/export`` answer (JSON) and a CSV of the ERP's
accounts with the header ``account_number,name,email,phone,address_line1,address_line2,city,state,
postal_code,country``, and prints at most one suggestion per PayTrace customer, with its confidence and
its evidence, for review: nothing is written to the mapping file.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click

from paysync_dagster.cli.errors import Failure, Group

ERP_ACCOUNT_COLUMNS = ("account_number", "name", "email", "phone", "address_line1", "address_line2", "city", "state",
                       "postal_code", "country")


def _paytrace_customers(path: Path) -> list[dict[str, Any]]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise Failure(f"{path}: not UTF-8 text (byte {exc.start})", "give the body of PayTrace's customer/export answer") from None
    except json.JSONDecodeError as exc:
        raise Failure(f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                      "give the body of PayTrace's customer/export answer") from None
    customers = body.get("customers") if isinstance(body, dict) else body
    if not isinstance(customers, list) or not all(isinstance(c, dict) for c in customers):
        raise Failure(f"{path}: no list of customers under 'customers'", "give the body of PayTrace's customer/export answer")
    return customers


def _erp_accounts(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("account_number", "name") if c not in (reader.fieldnames or [])]
            if missing:
                raise Failure(f"{path}: the header has no {', '.join(missing)}",
                              f"the header is {','.join(ERP_ACCOUNT_COLUMNS)} (paysync erp customers writes it)")
            return [dict(row) for row in reader]
    except UnicodeDecodeError as exc:
        raise Failure(f"{path}: not UTF-8 text (byte {exc.start})", "save the accounts as UTF-8 CSV") from None


@click.group(cls=Group, short_help="suggestions for the mapping file, for review")
def suggest() -> None:
    """Suggestions for the mapping file, each with a confidence and its evidence; a person accepts or
    rejects them (nothing is applied here)."""


@suggest.command(short_help="PayTrace vault customers to ERP accounts")
@click.option("--paytrace", "paytrace_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="the body of PayTrace's customer/export answer (JSON)")
@click.option("--erp", "erp_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help=f"the ERP's accounts as CSV ({','.join(ERP_ACCOUNT_COLUMNS)})")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="output format")
def customers(paytrace_file: Path, erp_file: Path, fmt: str) -> None:
    """At most one ERP account per PayTrace customer, with a confidence (0 to 1; from 0.9 the
    auto-accept band) and the evidence in words; customers no account fits are listed as unmatched."""
    from paysync_dagster.lib.suggest.customers import suggest_customers

    found = suggest_customers(_paytrace_customers(paytrace_file), _erp_accounts(erp_file))
    if fmt == "json":
        click.echo(json.dumps(found.as_dict(), indent=2))
        return
    for s in found.suggestions:
        click.echo(f"{s.paytrace_customer_id} -> {s.erp_account}  confidence {s.confidence:.2f}: {s.evidence}")
    click.echo(f"{len(found.suggestions)} suggested, {len(found.unmatched)} unmatched"
               + (f": {', '.join(found.unmatched[:20])}{' ...' if len(found.unmatched) > 20 else ''}" if found.unmatched else ""))


@click.command(short_help="customer suggestions on labelled masters, beside a baseline")
@click.option("--seed", "seeds", type=int, multiple=True, default=(1, 2, 3), show_default=True,
              help="seeds of the labelled masters (one master each)")
@click.option("--per-style", type=click.IntRange(min=1, max=1000), default=25, show_default=True,
              help="vault customers of each style and decoy per master")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="output format")
def evaluate(seeds: tuple[int, ...], per_style: int, fmt: str) -> None:
    """Customer suggestions on labelled masters (sandbox/customer_master.py: legal suffixes,
    abbreviations, typos, word order, e-mails, domains, phones, ids holding the account number, and
    decoys: a near name in another city, a sister company at the same domain, one name on two
    accounts, strangers), beside the exact-e-mail-or-name baseline: precision and recall in the
    auto-accept band, recall at any confidence, false matches on customers without an account."""
    from paysync_dagster.lib.suggest.evaluation import evaluate as evaluate_master
    from paysync_dagster.sandbox.customer_master import customer_master

    totals: dict[str, list[Any]] = {}
    for seed in seeds:
        master = customer_master(seed, per_style)
        for who, f in evaluate_master(master.customers, master.accounts, master.truth).items():
            totals.setdefault(who, []).append(f)
    rows = {who: {"band_precision": sum(f.band_precision for f in fs) / len(fs),
                  "band_recall": sum(f.band_recall for f in fs) / len(fs),
                  "recall_any": sum(f.recall_any for f in fs) / len(fs),
                  "false_matches": sum(f.false_matches for f in fs),
                  "without_account": sum(f.without_account for f in fs),
                  "with_account": sum(f.with_account for f in fs)} for who, fs in totals.items()}
    if fmt == "json":
        click.echo(json.dumps({"seeds": list(seeds), "per_style": per_style, "figures": rows}, indent=2))
        return
    click.echo(f"{len(seeds)} labelled master(s), {per_style} vault customers per style and decoy; band: confidence >= 0.9")
    header = ("", "band precision", "band recall", "recall (any)", "false matches (band)")
    lines = [(who, f"{r['band_precision']:.1%}", f"{r['band_recall']:.1%}", f"{r['recall_any']:.1%}",
              f"{r['false_matches']} of {r['without_account']} ({r['false_matches'] / max(r['without_account'], 1):.1%})")
             for who, r in rows.items()]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    for line in (header, *lines):
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
