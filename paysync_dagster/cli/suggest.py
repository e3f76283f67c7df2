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


TRUTH_COLUMNS = ("paytrace_customer_id", "erp_account")
LABELLED_SET_FILES = ("customers.json", "accounts.csv", "truth.csv")


def _labelled_set(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]], dict[str, str | None]]:
    """A labelled set of one's own: ``customers.json`` (the body of ``customer/export``), ``accounts.csv``
    (``paysync erp customers``' header) and ``truth.csv`` (paytrace_customer_id,erp_account; the account
    left blank for a customer who has none)."""
    missing = [name for name in LABELLED_SET_FILES if not (folder / name).is_file()]
    if missing:
        raise Failure(f"{folder}: no {', '.join(missing)}", f"a labelled set is a folder of {', '.join(LABELLED_SET_FILES)}")
    customers = _paytrace_customers(folder / "customers.json")
    accounts = _erp_accounts(folder / "accounts.csv")
    fix = "the header is paytrace_customer_id,erp_account (one row per vault customer; blank: no account)"
    rows = _csv_rows(folder / "truth.csv", TRUTH_COLUMNS, fix)
    ids = {str(c.get("customer_id")) for c in customers}
    numbers = {a["account_number"] for a in accounts}
    truth: dict[str, str | None] = {}
    for line, row in enumerate(rows, start=2):
        customer, account = (row.get("paytrace_customer_id") or "").strip(), (row.get("erp_account") or "").strip()
        if customer not in ids:
            raise Failure(f"{folder / 'truth.csv'}, line {line}: paytrace_customer_id {customer!r} is not in customers.json", fix)
        if account and account not in numbers:
            raise Failure(f"{folder / 'truth.csv'}, line {line}: erp_account {account!r} is not in accounts.csv", fix)
        if customer in truth:
            raise Failure(f"{folder / 'truth.csv'}, line {line}: paytrace_customer_id {customer!r} a second time", fix)
        truth[customer] = account or None
    unlabelled = sorted(ids - set(truth))
    if unlabelled:
        raise Failure(f"{folder / 'truth.csv'}: no label for {len(unlabelled)} customer(s), e.g. {unlabelled[0]!r}", fix)
    return customers, accounts, truth


@click.command(short_help="customer suggestions on labelled masters, beside a baseline")
@click.option("--seed", "seeds", type=int, multiple=True, help="seeds of generated labelled masters (one master each) "
              "[default: 1, 2, 3 when no --set is given]")
@click.option("--per-style", type=click.IntRange(min=1, max=1000), default=25, show_default=True,
              help="vault customers of each style and decoy per generated master")
@click.option("--set", "sets", type=click.Path(exists=True, file_okay=False, path_type=Path), multiple=True,
              help=f"a labelled set of your own: a folder of {', '.join(LABELLED_SET_FILES)} (repeatable)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="output format")
def evaluate(seeds: tuple[int, ...], per_style: int, sets: tuple[Path, ...], fmt: str) -> None:
    """Customer suggestions on labelled masters, beside the exact-e-mail-or-name baseline: precision and
    recall in the auto-accept band, recall at any confidence, false matches on customers without an
    account. Generated masters (sandbox/customer_master.py: legal suffixes, abbreviations, typos, word
    order, e-mails, domains, phones, ids holding the account number, and decoys: a near name in another
    city, a sister company at the same domain, one name on two accounts, strangers), and labelled sets of
    one's own (--set): a master's own figures, and all of them together."""
    from paysync_dagster.lib.suggest.evaluation import Figures
    from paysync_dagster.lib.suggest.evaluation import evaluate as evaluate_master
    from paysync_dagster.sandbox.customer_master import customer_master

    seeds = seeds or (() if sets else (1, 2, 3))
    masters: list[tuple[str, list[dict[str, Any]], list[dict[str, str]], dict[str, str | None]]] = []
    names = [folder.name for folder in sets]
    for folder in sets:  # a folder by its name, or by its path when two share a name
        masters.append((folder.name if names.count(folder.name) == 1 else str(folder), *_labelled_set(folder)))
    for seed in seeds:
        master = customer_master(seed, per_style)
        masters.append((f"seed {seed}", master.customers, master.accounts, master.truth))
    per_master = {name: evaluate_master(customers, accounts, truth) for name, customers, accounts, truth in masters}

    def row(fs: list[Figures]) -> dict[str, Any]:
        return {"band_precision": sum(f.band_precision for f in fs) / len(fs),
                "band_recall": sum(f.band_recall for f in fs) / len(fs),
                "recall_any": sum(f.recall_any for f in fs) / len(fs),
                "false_matches": sum(f.false_matches for f in fs),
                "without_account": sum(f.without_account for f in fs),
                "with_account": sum(f.with_account for f in fs)}

    whos = ("paysync", "baseline")
    rows = {who: row([figures[who] for figures in per_master.values()]) for who in whos}
    if fmt == "json":
        click.echo(json.dumps({"masters": list(per_master), "seeds": list(seeds),
                               "per_style": per_style, "figures": rows,
                               "per_master": {name: {who: row([f[who]]) for who in whos} for name, f in per_master.items()}},
                              indent=2))
        return
    header = ("", "band precision", "band recall", "recall (any)", "false matches (band)")

    def line(label: str, r: dict[str, Any]) -> tuple[str, ...]:
        return (label, f"{r['band_precision']:.1%}", f"{r['band_recall']:.1%}", f"{r['recall_any']:.1%}",
                f"{r['false_matches']} of {r['without_account']} ({r['false_matches'] / max(r['without_account'], 1):.1%})")

    click.echo(f"{len(masters)} labelled master(s) ({', '.join(per_master)}): {rows['paysync']['with_account']:,} vault "
               f"customers with an account, {rows['paysync']['without_account']:,} without; band: confidence >= 0.9")
    _table([header, *(line(who, rows[who]) for who in whos)])
    if len(per_master) > 1:
        click.echo("each master:")
        _table([header, *(line(f"{name} / {who}", row([figures[who]]))
                          for name, figures in per_master.items() for who in whos)])


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
