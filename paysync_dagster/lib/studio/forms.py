"""The mapping file as forms: which keys each section shows, reading a submitted form back into the
file's data, validating it with the model that loads the file, and writing it back into the YAML.

A form field is named by the key path it edits (``gl_accounts.rules.2.account``), so an error the
model reports for a key is shown beside that key's field. Rows of a table (GL rules, rates, the
customer map) are numbered in the form; a row left blank is no row. Keys the forms do not show are
kept as they are. The YAML is rewritten in place (comments, key order and quoting of what did not
change are kept), so engineers keep reading and editing the same file.
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from paysync_dagster.lib.mapping import (CANONICAL_STATUSES, KINDS, PAYTRACE_STATES, Mapping, validate_mapping_data)

ERPS = ("oracle", "sage", "sagepro")


@dataclass(frozen=True)
class Field:
    """One value: ``path`` is its key path in the file."""

    path: tuple[str, ...]
    label: str
    kind: str = "text"  # text | number | select | list
    choices: tuple[str, ...] = ()
    optional: bool = False  # blank: the key is left out (its default applies)
    help: str = ""

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Column:
    path: tuple[str, ...]  # inside the row
    label: str
    kind: str = "text"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    """Rows of a list (``keyed`` False) or of a mapping keyed by the first column (``keyed`` True)."""

    path: tuple[str, ...]
    label: str
    columns: tuple[Column, ...]
    keyed: bool = False
    help: str = ""

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def cell(self, row: int, column: Column) -> str:
        return ".".join((*self.path, str(row), *column.path))


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    items: tuple[Field | Table, ...]
    help: str = ""


_GL_ROW = (Column(("when", "kind"), "kind", "select", ("", *KINDS)), Column(("when", "card_brand"), "card brand"),
           Column(("when", "product_category"), "product category"), Column(("when", "business_unit"), "business unit"),
           Column(("account",), "account"), *(Column(("accounts", erp), f"{erp} account") for erp in ERPS))
_ERP_ACCOUNTS = (Column(("oracle",), "Oracle account"), Column(("sage",), "Sage account"))

SECTIONS: tuple[Section, ...] = (
    Section("statuses", "Statuses", (
        *(Field(("statuses", "paytrace", s), f"PayTrace {s}", "select", CANONICAL_STATUSES) for s in PAYTRACE_STATES),
        *(Field(("statuses", erp, c), f"{title} word for {c}", optional=True)
          for erp, title in (("oracle", "Oracle"), ("sage", "Sage 300")) for c in CANONICAL_STATUSES),
    ), "PayTrace's states to canonical statuses, and each ERP's word for a canonical status."),
    Section("gl_accounts", "GL account rules", (
        Table(("gl_accounts", "rules"), "Rules (the first that matches wins)", _GL_ROW,
              help="conditions left blank match anything; an ERP's own account replaces `account` in that ERP"),
        Field(("gl_accounts", "default"), "Default account", help="every payment no rule matches"),
        *(Field(("gl_accounts", "default_accounts", erp), f"Default {erp} account", optional=True) for erp in ERPS),
        Table(("gl_accounts", "format"), "Account format per ERP",
              (Column(("erp",), "ERP", "select", ("", *ERPS)), Column(("pattern",), "pattern (regular expression)"),
               Column(("example",), "example")), keyed=True),
    ), "Which GL account each payment is posted to."),
    Section("customers", "Customers", (
        Table(("customers", "map"), "PayTrace customer id to ERP accounts", (Column(("id",), "PayTrace customer id"),
                                                                              *_ERP_ACCOUNTS), keyed=True),
        Table(("customers", "by_email"), "E-mail to ERP accounts", (Column(("email",), "e-mail"), *_ERP_ACCOUNTS),
              keyed=True),
        Field(("customers", "lookup_fallback"), "Look-up in the ERP, in order", "list",
              help="of id, email, domain, name, separated by commas"),
    ), "How a payment's customer is found in each ERP."),
    Section("currency", "Currency rates", (
        Field(("currency", "base"), "Base currency"),
        Table(("currency", "rates"), "Rates", (Column(("currency",), "currency"), Column(("date",), "from date"),
                                               Column(("rate",), "rate (base units per unit)"),
                                               Column(("source",), "source"))),
    )),
    Section("receipts", "Receipts and ERP settings", (
        Field(("receipts", "receipt_method"), "Oracle receipt method"),
        Field(("receipts", "business_unit"), "Oracle business unit"),
        Field(("receipts", "remittance_bank_account"), "Oracle remittance bank account"),
        Field(("receipts", "receipt_number_prefix"), "Receipt number prefix"),
        Field(("receipts", "sage", "bank_code"), "Sage bank code", optional=True),
        Field(("receipts", "sage", "payment_code"), "Sage payment code", optional=True),
        Field(("receipts", "sage", "suspense_customer"), "Sage suspense customer", optional=True),
        Field(("receipts", "sage", "batch_prefix"), "Sage batch description prefix", optional=True),
        Field(("receipts", "sage", "post_batches"), "Sage batches posted", "select", ("", "by_a_person", "after_each_run"),
              optional=True),
        *(Field(("date_formats", k), f"Date format: {k}", optional=True) for k in ("oracle", "sage", "reports")),
        Field(("merchant_time_zone",), "Merchant time zone", help="business dates are days in this zone"),
    )),
    Section("invoice_reference", "Invoice reference", (
        Field(("invoice_reference", "prefix"), "Invoice number prefix", optional=True),
        Field(("invoice_reference", "digits"), "Digits", "number", optional=True),
        Field(("invoice_reference", "split"), "A payment naming several invoices", "select",
              ("", "oldest_first", "as_named"), optional=True),
    ), "How the ERP numbers its invoices, so what payers type can be read."),
    Section("tolerances", "Tolerances", tuple(
        Field(("tolerances", k), label, "number", optional=True) for k, label in (
            ("amount_minor", "Amount difference still matched (cents)"),
            ("batch_variance_minor", "Batch variance still tied (cents)"),
            ("unapplied_minor", "Unapplied cash still matched (cents)"),
            ("bank_date_window_days", "Business days a deposit may land after its batch")))),
    Section("charges", "Card-on-file charges", (
        Field(("charges", "card_on_file", "oracle"), "Oracle receipt method of card-on-file invoices", optional=True),
        Field(("charges", "card_on_file", "sage"), "Sage 300 payment code of card-on-file customers", optional=True),
        Field(("charges", "retry_after_days"), "Retry a declined charge, days after the due date", "list", optional=True,
              help="separated by commas, e.g. 3, 7; after the last, an exception"),
        Table(("charges", "recurring"), "Recurring charges (monthly, on the customer's vault card)",
              (Column(("contract",), "contract"), Column(("erp",), "ERP", "select", ("", "oracle", "sage")),
               Column(("customer_account",), "customer account"), Column(("amount",), "amount"),
               Column(("currency",), "currency"), Column(("day_of_month",), "day of month", "number"),
               Column(("start",), "from (YYYY-MM-DD)"), Column(("end",), "until (YYYY-MM-DD)"))),
    ), "Invoices due of customers who pay by card on file, charged through PayTrace (for the ERPs "
       "PAYSYNC_CARD_CHARGES names)."),
    Section("vault_sync", "Customer vault sync", (
        Field(("vault_sync", "first_sync"), "First sync of a link whose sides differ", "select",
              ("", "erp", "paytrace", "review"), optional=True, help="erp: the ERP's values go to PayTrace; review: an exception"),
        Field(("vault_sync", "max_deletions"), "Profiles deleted at most per run", "number", optional=True),
    ), "ERP customer accounts and PayTrace vault profiles kept in step (for the ERPs PAYSYNC_VAULT_SYNC names)."),
    Section("refunds", "ERP-initiated card refunds", (
        Field(("refunds", "card_refund", "oracle"), "Oracle receipt method of credit memos refunded to the card", optional=True),
        Field(("refunds", "card_refund", "sage"), "Sage 300 payment code of refund entries refunded to the card", optional=True),
    ), "ERP refund records refunded through PayTrace (for the ERPs PAYSYNC_ERP_REFUNDS names)."),
    Section("alerts", "Alerts", tuple(
        Field(("alerts", k), label, "number", optional=True) for k, label in (
            ("max_open_exceptions", "Open exceptions before an incident"),
            ("max_exception_age_hours", "Hours an exception may stay open"),
            ("max_open_amount_minor", "Open exceptions' amount before an incident (cents)"),
            ("batch_untied_business_days", "Business days a batch may stay untied")))),
)


def read_data(text: str) -> dict[str, Any]:
    """The file's data, as the model reads it."""
    data = yaml.safe_load(text)
    return data if isinstance(data, dict) else {}


def _get(data: Any, path: Sequence[Any]) -> Any:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return None
    return data


def _set(data: dict[str, Any], path: Sequence[str], value: Any) -> None:
    for key in path[:-1]:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    if value is None:
        data.pop(path[-1], None)
    else:
        data[path[-1]] = value


def shown(value: Any) -> str:
    """A value as a form shows it."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def field_values(data: dict[str, Any]) -> dict[str, str]:
    """Every form field's value for ``data`` (tables: one row per entry)."""
    values: dict[str, str] = {}
    for section in SECTIONS:
        for item in section.items:
            if isinstance(item, Field):
                values[item.name] = shown(_get(data, item.path))
                continue
            for i, row in enumerate(table_rows(item, data)):
                for column, value in zip(item.columns, row, strict=True):
                    values[item.cell(i, column)] = value
    return values


def table_rows(table: Table, data: dict[str, Any]) -> list[list[str]]:
    found = _get(data, table.path)
    if table.keyed:
        entries = found.items() if isinstance(found, dict) else ()
        return [[shown(key), *(shown(_get(value, c.path)) for c in table.columns[1:])] for key, value in entries]
    return [[shown(_get(row, c.path)) for c in table.columns] for row in (found if isinstance(found, list) else ())]


def _typed(kind: str, raw: str) -> Any:
    raw = raw.strip()
    if kind == "number" and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if kind == "list":
        return [int(p) if re.fullmatch(r"-?\d+", p) else p for p in (part.strip() for part in raw.split(",")) if p]
    return raw


@dataclass
class Submitted:
    """A form read back: the data it gives, and which field edits which key path."""

    data: dict[str, Any]
    field_of: dict[tuple, str] = field(default_factory=dict)


def from_form(base: dict[str, Any], form: Iterable[tuple[str, str]]) -> Submitted:
    """``base`` (the file's data) with every section's fields replaced by the form's values."""
    values = dict(form)
    data = copy.deepcopy(base)
    out = Submitted(data)
    for section in SECTIONS:
        for item in section.items:
            if isinstance(item, Field):
                raw = values.get(item.name)
                if raw is None:  # not on the form: left as it is
                    continue
                value = _typed(item.kind, raw)
                _set(data, item.path, None if value in ("", []) and item.optional else value)
                out.field_of[item.path] = item.name
            else:
                _read_table(item, values, data, out)
    for path in (("gl_accounts", "default_accounts"), ("date_formats",), ("receipts", "sage"), ("charges", "card_on_file"),
                 ("charges",), ("vault_sync",), ("refunds", "card_refund"), ("refunds",)):
        if _get(data, path) == {}:  # every optional key of it blank: no section, so its defaults apply
            _set(data, path, None)
    return out


def _read_table(table: Table, values: dict[str, str], data: dict[str, Any], out: Submitted) -> None:
    indices = sorted({int(m.group(1)) for name in values
                      if (m := re.fullmatch(re.escape(table.name) + r"\.(\d+)\..+", name))})
    if not indices and table.name + ".present" not in values:
        return  # the table is not on the form
    rows: list[Any] = []
    keyed: dict[str, Any] = {}
    for i in indices:
        cells = [(c, values.get(table.cell(i, c), "").strip()) for c in table.columns]
        if not any(v for _c, v in cells):
            continue  # a blank row is no row
        row: dict[str, Any] = {}
        for column, raw in cells[1:] if table.keyed else cells:
            if raw:
                _set(row, column.path, _typed(column.kind, raw))
        if table.keyed:
            key = cells[0][1]
            keyed[key] = row
            where: tuple = (*table.path, key)
        else:
            where = (*table.path, len(rows))
            rows.append(row)
        out.field_of.setdefault(where, table.cell(i, table.columns[0]))
        for column, _raw in cells[1:] if table.keyed else cells:
            out.field_of[(*where, *column.path)] = table.cell(i, column)
    _set(data, table.path, keyed if table.keyed else rows)


def problems_by_field(submitted: Submitted) -> tuple[Mapping | None, dict[str, list[str]]]:
    """Validate with the model that loads the file: (the rules, or None) and each problem under the
    field of the key it names ('' for a key no field shows)."""
    mapping, found = validate_mapping_data(submitted.data)
    errors: dict[str, list[str]] = {}
    for loc, msg in found:
        path = tuple(loc)
        name = ""
        while path:
            if path in submitted.field_of:
                name = submitted.field_of[path]
                break
            path = path[:-1]
        key = ".".join(str(p) for p in loc) or "(top level)"
        errors.setdefault(name, []).append(f"{key}: {msg}")
    return mapping, errors


def updated_yaml(text: str, data: dict[str, Any]) -> str:
    """``text`` with its data replaced by ``data``: what did not change keeps its comments and quoting."""
    from ruamel.yaml import YAML

    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    doc = rt.load(text)
    if not isinstance(doc, dict):
        doc = {}
    _merge(doc, data)
    out = io.StringIO()
    rt.dump(doc, out)
    return out.getvalue()


def _same(a: Any, b: Any) -> bool:
    return not isinstance(a, (dict, list)) and not isinstance(b, (dict, list)) and str(a) == str(b) and \
        isinstance(a, bool) == isinstance(b, bool)


def _merge(old: Any, new: Any) -> Any:
    """``new``'s content in ``old``'s containers where both have one (so comments stay attached)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = _merge(old[key], value) if key in old else value
        return old
    if isinstance(old, list) and isinstance(new, list):
        del old[len(new):]
        for i, value in enumerate(new):
            if i < len(old):
                old[i] = _merge(old[i], value)
            else:
                old.append(value)
        return old
    return old if _same(old, new) else new
