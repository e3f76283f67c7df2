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


# ``suggest invoice-reference``, ``suggest gl-rules`` and ``suggest statuses``: the mapping file's
# invoice_reference, gl_accounts and statuses sections, suggested from files (nothing is written).

PAYMENT_COLUMNS = ("invoice_id", "description")
INVOICE_COLUMNS = ("invoice_number",)
HISTORY_COLUMNS = ("kind", "card_brand", "gl_account")


def _csv_rows(path: Path, required: tuple[str, ...], fix: str) -> list[dict[str, str]]:
    """The rows of a UTF-8 CSV whose header has ``required`` (names compared without surrounding blanks);
    else one line naming the file and the missing columns."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            reader.fieldnames = [(n or "").strip() for n in (reader.fieldnames or [])]
            missing = [c for c in required if c not in reader.fieldnames]
            if missing:
                raise Failure(f"{path}: the header has no {', '.join(missing)}", fix)
            try:
                return [{k: v for k, v in row.items() if k is not None} for row in reader]
            except csv.Error as exc:
                raise Failure(f"{path}, line {reader.line_num}: not CSV ({exc})", fix) from None
    except UnicodeDecodeError as exc:
        raise Failure(f"{path}: not UTF-8 text (byte {exc.start})", "save it as UTF-8 CSV") from None
    except csv.Error as exc:
        raise Failure(f"{path}: not CSV ({exc})", fix) from None


def _table(lines: list[tuple[str, ...]]) -> None:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))] if lines else []
    for line in lines:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


@suggest.command("invoice-reference", short_help="the invoice_reference rule (prefix, digits)")
@click.option("--payments", "payments_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help=f"past PayTrace payments as CSV ({','.join(PAYMENT_COLUMNS)}; description may be left out)")
@click.option("--invoices", "invoices_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="the ERP's invoice numbers as CSV (invoice_number)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="output format")
def invoice_reference(payments_file: Path, invoices_file: Path, fmt: str) -> None:
    """Candidate invoice_reference rules (prefix and digits), learnt from the shapes of the ERP's invoice
    numbers, each measured on the payments the way PaySync reads them: how many name an invoice the ERP
    has under that rule. Best first, with a confidence (0 to 1) and the evidence in words."""
    from paysync_dagster.lib.suggest.invoice_reference import suggest_invoice_reference

    payments = _csv_rows(payments_file, PAYMENT_COLUMNS[:1],
                         f"the header is {','.join(PAYMENT_COLUMNS)} (one past payment a row)")
    invoices = _csv_rows(invoices_file, INVOICE_COLUMNS, "the header is invoice_number (one ERP invoice a row)")
    found = suggest_invoice_reference(((p.get("invoice_id") or "", p.get("description") or "") for p in payments),
                                      (i.get("invoice_number") or "" for i in invoices))
    if fmt == "json":
        click.echo(json.dumps({"payments": len(payments), "invoice_numbers": len(invoices),
                               "suggestions": [s.as_dict() for s in found]}, indent=2))
        return
    if not found:
        click.echo(f"nothing to suggest: {len(payments)} payments, {len(invoices)} invoice numbers")
        return
    for s in found:
        rule = f"prefix {s.prefix!r}, {s.digits} digits"
        click.echo(f"{rule}  confidence {s.confidence:.2f}: {s.evidence}")
    click.echo(f"{len(found)} candidate rule{'s' if len(found) != 1 else ''} from {len(invoices)} invoice numbers "
               f"and {len(payments)} payments")


@suggest.command("gl-rules", short_help="gl_accounts rules from how past receipts were accounted")
@click.option("--history", "history_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help=f"past receipts as CSV ({','.join(HISTORY_COLUMNS)}, optionally amount_minor)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="output format")
def gl_rules(history_file: Path, fmt: str) -> None:
    """The gl_accounts default and rules, in the order the mapping file must list them (first match
    wins), that give past receipts the accounts they were posted to; each rule with its support,
    agreement, confidence and evidence, and the share of the history the whole set reproduces."""
    from paysync_dagster.lib.suggest.gl_rules import suggest_gl_rules

    rows = _csv_rows(history_file, HISTORY_COLUMNS,
                     f"the header is {','.join(HISTORY_COLUMNS)} (and optionally amount_minor), one receipt a row")
    for line, row in enumerate(rows, start=2):
        amount = (row.get("amount_minor") or "").strip()
        if amount and not amount.lstrip("-").isdigit():
            raise Failure(f"{history_file}, line {line}: amount_minor is not a whole number",
                          "give amounts in minor units (cents), or leave the column out")
    found = suggest_gl_rules(rows)
    if fmt == "json":
        click.echo(json.dumps(found.as_dict(), indent=2))
        return
    lines = [("when", "account", "support", "agreement", "confidence")]
    for r in found.rules:
        when = ", ".join(f"{k}={v}" for k, v in r.when.items())
        lines.append((when, r.account, f"{r.support:,}", f"{r.agreement:.1%}", f"{r.confidence:.2f}"))
    lines.append(("default", found.default, f"{found.default_support:,}", f"{found.default_agreement:.1%}",
                  f"{found.default_confidence:.2f}"))
    _table(lines)
    for r in found.rules:
        click.echo(f"- {r.evidence}")
    click.echo(f"- default {found.default}: {found.default_evidence}")
    for words in found.mixed:
        click.echo(f"! {words}")
    click.echo(found.evidence)


@suggest.command("statuses", short_help="the ERP's words for the canonical statuses")
@click.option("--erp", type=click.Choice(["oracle", "sage"]), required=True, help="the ERP whose words to suggest")
@click.option("--vocabulary", "vocabulary_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the ERP's words for a receipt's state, one a line (default: the words the specs give)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="output format")
def statuses(erp: str, vocabulary_file: Path | None, fmt: str) -> None:
    """For each canonical status, the ERP words that mean it, best first, with a confidence and the
    evidence in words; a status no word fits gets none."""
    from paysync_dagster.lib.mapping import CANONICAL_STATUSES
    from paysync_dagster.lib.suggest.status_words import ERP_STATUS_VOCABULARY, suggest_status_words

    vocabulary: tuple[str, ...] = ERP_STATUS_VOCABULARY[erp]
    if vocabulary_file is not None:
        try:
            text = vocabulary_file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise Failure(f"{vocabulary_file}: not UTF-8 text (byte {exc.start})",
                          "give the ERP's words as UTF-8 text, one a line") from None
        vocabulary = tuple(w for w in (line.strip() for line in text.splitlines()) if w and not w.startswith("#"))
        if not vocabulary:
            raise Failure(f"{vocabulary_file}: no words", "give the ERP's words for a receipt's state, one a line")
    found = suggest_status_words(erp, vocabulary)
    without = [c for c in CANONICAL_STATUSES if c not in {s.canonical for s in found}]
    if fmt == "json":
        click.echo(json.dumps({"erp": erp, "vocabulary": list(vocabulary), "suggestions": [s.as_dict() for s in found],
                               "without_suggestion": without}, indent=2))
        return
    for s in found:
        lead = f"{s.canonical} -> {s.word}" if s.rank == 1 else f"{'':{len(s.canonical)}}    or {s.word}"
        click.echo(f"{lead}  confidence {s.confidence:.2f}: {s.evidence}")
    if without:
        click.echo(f"no word of the vocabulary fits: {', '.join(without)}")
