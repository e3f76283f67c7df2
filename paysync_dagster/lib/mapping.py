"""The business rules: one YAML file, validated by pydantic, with errors that name file, line and key.

Business users edit the file; engineers point ``PAYSYNC_MAPPING_FILE`` at it. It is read once when
the definitions load, so a broken file stops the code location with one clear message before any
run starts, and every materialization records the ``version`` in force.

YAML mistakes are reported at the line a person must edit (see ``_explain``), and GL accounts are
checked against each ERP's account format (``gl_accounts.format``; see ``check_gl_accounts``).
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from paysync_dagster.lib.money import exponent
from paysync_dagster.lib.timeutil import zone

SAMPLE_MAPPING = Path(__file__).resolve().parents[1] / "mapping" / "sample_mapping.yaml"

KINDS = ("sale", "authorization", "capture", "refund", "void", "decline", "chargeback")
CANONICAL_STATUSES = ("authorized", "pending_settlement", "settled", "declined", "voided", "disputed", "dispute_won", "dispute_lost")
PAYTRACE_STATES = ("authorized", "approved", "captured", "declined", "settled", "voided", "chargeback_opened", "chargeback_resolved")


class MappingError(ValueError):
    """The mapping file cannot be used; the message names the file, the line and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StatusMaps(_Strict):
    """PayTrace states -> canonical statuses -> each ERP's vocabulary."""

    paytrace: dict[str, str]
    oracle: dict[str, str] = Field(default_factory=dict)
    sage: dict[str, str] = Field(default_factory=dict)


class GlCondition(_Strict):
    kind: str | None = None
    card_brand: str | None = None
    product_category: str | None = None
    business_unit: str | None = None

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str | None) -> str | None:
        if v is not None and v not in KINDS:
            raise ValueError(f"unknown kind {v!r} (known: {', '.join(KINDS)})")
        return v


Erp = Literal["oracle", "sage", "sagepro"]
Account = Annotated[str, Field(min_length=1)]


class GlAccountFormat(_Strict):
    """What every GL account of one ERP looks like: the whole account must match ``pattern``."""

    pattern: str
    example: str = Field(min_length=1, description="an account in this format, shown when one does not fit")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return v

    @model_validator(mode="after")
    def _example_fits(self) -> GlAccountFormat:
        # An example that does not fit its own pattern would mislead whoever reads the error.
        if not re.fullmatch(self.pattern, self.example):
            raise ValueError(f"the example {self.example!r} does not match the pattern {self.pattern!r}")
        return self


class GlRule(_Strict):
    when: GlCondition
    account: Account
    accounts: dict[Erp, Account] = Field(default_factory=dict, description="the account in one ERP, where `account` does not fit its format")


class GlAccounts(_Strict):
    """First matching rule wins; ``default`` is required so every payment gets an account.

    ``account``/``default`` serve every ERP; ``accounts``/``default_accounts`` replace them in one ERP
    whose account format they cannot fit.
    """

    format: dict[Erp, GlAccountFormat] = Field(default_factory=dict)
    rules: list[GlRule] = Field(default_factory=list)
    default: Account
    default_accounts: dict[Erp, Account] = Field(default_factory=dict)


class CustomerAccounts(_Strict):
    oracle: str | None = None
    sage: str | None = None
    sagepro: str | None = None


class Customers(_Strict):
    """PayTrace customer id -> ERP account numbers; then by email; then a look-up in the ERP."""

    map: dict[str, CustomerAccounts] = Field(default_factory=dict)
    by_email: dict[str, CustomerAccounts] = Field(default_factory=dict)
    # id: the PayTrace customer id is an ERP account number (merchants often vault customers under it);
    # domain: the payer's e-mail comes from the customer's organisation ("ap@acmetools.com", "Acme Tools Inc.")
    lookup_fallback: list[Literal["id", "email", "domain", "name"]] = Field(
        default_factory=lambda: ["id", "email", "domain", "name"])


class Rate(_Strict):
    currency: str
    date: date
    rate: Decimal = Field(gt=0, description="units of the base currency per unit of `currency`")
    source: str = Field(min_length=1)

    @field_validator("currency")
    @classmethod
    def _code(cls, v: str) -> str:
        exponent(v)
        return v.upper()


class Currency(_Strict):
    base: str = "USD"
    rates: list[Rate] = Field(default_factory=list)

    @field_validator("base")
    @classmethod
    def _code(cls, v: str) -> str:
        exponent(v)
        return v.upper()


class InvoiceReference(_Strict):
    """How invoice numbers look in the ERP, so PayTrace's free-typed references can be normalized."""

    prefix: str = "INV-"
    digits: int = Field(default=6, ge=1, le=20)
    split: Literal["oldest_first", "as_named"] = Field(
        default="oldest_first",
        description="how a payment naming several invoices is shared: their open balances exactly: each paid; "
                    "less: the oldest invoice first (as_named: in the order named), the rest left open; "
                    "more: the excess on account")


class SageReceiptOptions(_Strict):
    """How Sage 300 takes PaySync's receipts (``receipts.sage``): every field has the default a new
    company set up for PaySync uses."""

    bank_code: str = Field(default="PAYTRACE", min_length=1, max_length=8,
                           description="the Sage bank (BKBanks code) card settlements land in")
    payment_code: str | None = Field(default="CARD", max_length=12,
                                     description="an AR payment code; empty: each customer's default")
    suspense_customer: str = Field(default="SUSPENSE", min_length=1, max_length=12,
                                   description="the AR customer that holds a receipt until its payer is identified "
                                               "(it must exist and be active in Sage)")
    batch_prefix: str = Field(default="PaySync", min_length=1, max_length=40,
                              description="PaySync's receipt and refund batches are described '<prefix> <date>'")
    post_batches: Literal["by_a_person", "after_each_run"] = Field(
        default="by_a_person",
        description="by_a_person: a person posts PaySync's batches in Sage (the usual practice); after_each_run: "
                    "each posting run sets the date's batches Ready to Post and posts them")


class Receipts(_Strict):
    receipt_method: str
    business_unit: str
    remittance_bank_account: str
    receipt_number_prefix: str = Field(default="PT-", max_length=10)
    sage: SageReceiptOptions = Field(default_factory=SageReceiptOptions)


class Tolerances(_Strict):
    amount_minor: int = Field(default=0, ge=0, description="cents two amounts may differ by and still match")
    fuzzy_invoice_match: float = Field(default=0.86, gt=0, le=1,
                                       description="kept so older mapping files load; no longer read: a mistyped "
                                                   "invoice number is applied only when one character off, within the "
                                                   "payer's invoices, and the amount is that invoice's open balance")
    batch_variance_minor: int = Field(default=0, ge=0)
    unapplied_minor: int = Field(default=0, ge=0, description="unapplied cash on a receipt still counted matched")
    bank_date_window_days: int = Field(default=3, ge=0, description="business days a deposit may land after its batch closes")


class Alerts(_Strict):
    """When PaySync calls a person (docs/alerts-and-metrics.md): each threshold crossed is one incident,
    notified once, until it clears."""

    max_open_exceptions: int = Field(default=50, ge=1, description="more open exceptions than this is an incident")
    max_exception_age_hours: int = Field(default=48, ge=1, description="an open exception older than this is an incident")
    max_open_amount_minor: int = Field(default=500_000, ge=1,
                                       description="open exceptions above this amount in one currency (minor units) "
                                                   "is an incident")
    batch_untied_business_days: int = Field(default=3, ge=1,
                                            description="a settlement batch still not tied out this many business "
                                                        "days after its date is an incident")


class RecurringCharge(_Strict):
    """A contract billed on the customer's vault card every month, without an ERP invoice (its receipt
    goes on the customer's account)."""

    contract: str = Field(min_length=1, max_length=30, description="names the contract in PaySync's records")
    erp: Literal["oracle", "sage"]
    customer_account: str = Field(min_length=1, description="the customer's account in that ERP")
    amount: Decimal = Field(gt=0, description="in currency units, e.g. 49.00")
    currency: str = "USD"
    day_of_month: int = Field(ge=1, le=31, description="charged on this day; a shorter month: its last day")
    start: date | None = None
    end: date | None = None

    @field_validator("currency")
    @classmethod
    def _code(cls, v: str) -> str:
        exponent(v)
        return v.upper()


class Charges(_Strict):
    """Card-on-file charges of invoices due (the ERP to PayTrace direction; a flow runs only for the ERPs
    ``PAYSYNC_CARD_CHARGES`` names)."""

    card_on_file: dict[Literal["oracle", "sage"], str] = Field(
        default_factory=lambda: {"oracle": "Card on File", "sage": "CARDFILE"},
        description="what marks a customer who pays by card on file: Oracle, the invoice's ReceiptMethod; "
                    "Sage 300, the customer's PaymentCode")
    retry_after_days: list[int] = Field(default_factory=lambda: [3, 7],
                                        description="a declined charge is tried again this many days after the "
                                                    "due date; after the last, an exception with PayTrace's reason")
    recurring: list[RecurringCharge] = Field(default_factory=list)

    @field_validator("retry_after_days")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        if any(d < 1 for d in v) or any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError("days after the due date, each at least 1 and each later than the one before")
        return v


class VaultSync(_Strict):
    """Customer vault sync between each ERP's customer accounts and PayTrace's vault profiles (runs only
    for the ERPs ``PAYSYNC_VAULT_SYNC`` names)."""

    first_sync: Literal["erp", "paytrace", "review"] = Field(
        "erp", description="a link synced for the first time whose two sides differ: whose values win "
                           "(erp: the ERP is the system of record; review: an exception for a person)")
    max_deletions: int = Field(3, ge=0, description="at most this many vault profiles deleted in one run for "
                                                    "accounts gone from the ERP; more is held as an exception")


class Refunds(_Strict):
    """ERP-initiated card refunds (runs only for the ERPs ``PAYSYNC_ERP_REFUNDS`` names)."""

    card_refund: dict[Literal["oracle", "sage"], str] = Field(
        default_factory=lambda: {"oracle": "Card Refund", "sage": "CARDRFND"},
        description="what marks an ERP refund record to be refunded to the card: Oracle, the credit memo's "
                    "ReceiptMethod; Sage 300, the refund entry's PaymentCode")


class Mapping(_Strict):
    version: str = Field(min_length=1)
    merchant_time_zone: str = "America/Los_Angeles"
    statuses: StatusMaps
    gl_accounts: GlAccounts
    customers: Customers = Field(default_factory=Customers)
    currency: Currency = Field(default_factory=Currency)
    date_formats: dict[Literal["oracle", "sage", "reports"], str] = Field(default_factory=dict)
    receipts: Receipts
    invoice_reference: InvoiceReference = Field(default_factory=InvoiceReference)
    tolerances: Tolerances = Field(default_factory=Tolerances)
    alerts: Alerts = Field(default_factory=Alerts)
    charges: Charges = Field(default_factory=Charges)
    vault_sync: VaultSync = Field(default_factory=VaultSync)
    refunds: Refunds = Field(default_factory=Refunds)

    # Where the rules came from, so checks made later (against an ERP's chart of accounts) still
    # name the file and the line.
    _source: str = PrivateAttr(default="<mapping>")
    _lines: dict[tuple, int] = PrivateAttr(default_factory=dict)
    # sha256 of the file's text: an edit made without a new `version` still shows (see version_label).
    _sha256: str = PrivateAttr(default="")

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        # `version: 7` and `version: "2026.11"` both name a version; it is kept as text.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("merchant_time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        zone(v)
        return v

    def rate_for(self, currency: str, on: date) -> Rate | None:
        """The latest rate for ``currency`` dated on or before ``on``; None where there is none."""
        best = None
        for r in self.currency.rates:
            if r.currency == currency.upper() and r.date <= on and (best is None or r.date > best.date):
                best = r
        return best


class _Problem(Exception):
    """A YAML mistake at the place a person must edit: ``mark`` (0-based, as PyYAML counts), what, hint."""

    def __init__(self, mark: yaml.Mark, what: str, hint: str):
        super().__init__(what)
        self.mark, self.what, self.hint = mark, what, hint

    def message(self, source: str) -> str:
        return f"{source}, line {self.mark.line + 1}, column {self.mark.column + 1}: {self.what} ({self.hint})"


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every key, so errors can point at it."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    first: dict[Any, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict)):
            raise _Problem(key_node.start_mark, "a list or mapping used as a key", "keys are plain names; quote it if it is text")
        if key in result:
            raise _Problem(key_node.start_mark, f"key {key!r} appears twice",
                           f"first on line {first[key].start_mark.line + 1}; keep one")
        first[key] = key_node
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# PyYAML's own line breaks, so line numbers here agree with its marks.
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
_FLOW_START = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)
_FLOW_END = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _scan(text: str) -> list[yaml.Token]:
    """Every token up to the first scanner error, including those scanned but not yet handed out."""
    scanner = yaml.SafeLoader(text)
    tokens: list[yaml.Token] = []
    try:
        while scanner.check_token():
            tokens.append(scanner.get_token())
    except yaml.YAMLError:
        tokens.extend(scanner.tokens)
    finally:
        scanner.dispose()
    return tokens


def _outside(line: str, opener: yaml.Mark, lines: list[str]) -> bool:
    """``line``, inside a bracket or quote opened at ``opener``, is no deeper than the opening line.

    YAML wants the lines of a bracket or a quote in a block indented past the line that opens it;
    PyYAML does not enforce that and reads on to the next closing character, which is how an unclosed
    bracket or quote swallows the keys after it. Blank lines, comments and a line that starts with
    the closing character (``]`` under its key, as JSON is often written) are not held to it.
    """
    text = line.strip()
    return bool(text) and text[0] not in "#]}" and _indent(line) <= _indent(lines[opener.line])


def _unclosed_quote(tok: yaml.ScalarToken, lines: list[str]) -> bool:
    for n in range(tok.start_mark.line + 1, min(tok.end_mark.line + 1, len(lines))):
        closes_here = n == tok.end_mark.line and lines[n].lstrip().startswith(tok.style)
        if not closes_here and _outside(lines[n], tok.start_mark, lines):
            return True
    return False


def _never_closed(opener: yaml.Token, lines: list[str]) -> _Problem:
    bracket = lines[opener.start_mark.line][opener.start_mark.column]
    closer = "]" if bracket == "[" else "}"
    return _Problem(opener.start_mark, f"this '{bracket}' is never closed", f"close it with '{closer}'")


def _unclosed(tokens: list[yaml.Token], lines: list[str], until: int) -> _Problem | None:
    """The first bracket or quote left open, judged by the tokens that start at or before ``until``."""
    open_: list[yaml.Token] = []
    checked = 0  # the lines up to here have been held to the brackets open over them
    for tok in tokens:
        if tok.start_mark.index > until:
            break
        for n in range(checked + 1, min(tok.start_mark.line + 1, len(lines))):
            left = [b for b in open_ if b.start_mark.line < n and _outside(lines[n], b.start_mark, lines)]
            if left:
                return _never_closed(left[-1], lines)
        checked = max(checked, tok.start_mark.line)
        if isinstance(tok, _FLOW_START):
            open_.append(tok)
        elif isinstance(tok, _FLOW_END) and open_:
            open_.pop()
        elif isinstance(tok, yaml.StreamEndToken) and open_:
            return _never_closed(open_[-1], lines)
        elif isinstance(tok, yaml.ScalarToken) and tok.style in ('"', "'") and _unclosed_quote(tok, lines):
            return _Problem(tok.start_mark, "this quote is never closed", f"end the value with {tok.style} on this line")
    return None


def _line_above(lines: list[str], line: int) -> int | None:
    """The last line before ``line`` that holds YAML (not blank, not only a comment)."""
    for n in range(min(line, len(lines)) - 1, -1, -1):
        if lines[n].strip() and not lines[n].lstrip().startswith("#"):
            return n
    return None


def _at_indent(mark: yaml.Mark, lines: list[str]) -> yaml.Mark:
    """The start of ``mark``'s line, where an indentation is fixed."""
    return yaml.Mark(mark.name, mark.index, mark.line, _indent(lines[mark.line]), None, None)


def _misindented(mark: yaml.Mark, lines: list[str]) -> _Problem:
    mark = _at_indent(mark, lines)
    above = _line_above(lines, mark.line)
    hint = "keys of one block start in the same column; indent with spaces"
    if above is not None:
        hint = f"line {above + 1} above is indented {_indent(lines[above])} spaces; {hint}"
    return _Problem(mark, "this line's indentation does not line up with the lines above", hint)


def _stray_item(mark: yaml.Mark) -> _Problem:
    return _Problem(mark, "a '- ' list item among keys",
                    "remove the '- ', or give the list a key of its own on the line above")


def _colon_in_scalar(exc: yaml.MarkedYAMLError, tokens: list[yaml.Token], lines: list[str]) -> _Problem:
    """PyYAML found ': ' inside a plain value; which line is wrong depends on where that value starts.

    A value that runs on from its key's line means the ':' line is indented too deep; a value that
    starts a line of its own was meant as a key and lacks its ':'.
    """
    mark = exc.problem_mark
    scalar = tokens[-1] if tokens and isinstance(tokens[-1], yaml.ScalarToken) else None
    if scalar is None or scalar.start_mark.line == mark.line:
        return _Problem(mark, "': ' inside a value", "quote the value, or put it on one line after its key")
    start = scalar.start_mark
    if start.column == _indent(lines[start.line]):
        return _Problem(start, "this key has no ':'", "write it as `key: value`")
    if lines[mark.line].lstrip().startswith("- "):
        return _stray_item(_at_indent(mark, lines))
    return _misindented(mark, lines)


def _explain(exc: yaml.MarkedYAMLError, tokens: list[yaml.Token], lines: list[str]) -> _Problem:
    """Turn PyYAML's error into the place a person must edit.

    PyYAML's ``problem_mark`` is where it gave up and ``context_mark`` where the construct it was in
    began. The problem is the right line for bad indentation, tabs and stray list items (the context
    would be the top of the enclosing block); the context is right for an unclosed quote and a key
    without ':' (the problem would be the end of the file or the next line); an unclosed bracket is
    found from the tokens, since its problem is wherever PyYAML's reading ran out.
    """
    problem, context = exc.problem or "", exc.context or ""
    mark = exc.problem_mark or exc.context_mark or yaml.Mark("", 0, 0, 0, None, None)
    left_open = _unclosed(tokens, lines, mark.index)
    if left_open is not None:
        return left_open
    if context.startswith("while scanning a quoted scalar"):
        quote = lines[exc.context_mark.line][exc.context_mark.column]
        return _Problem(exc.context_mark, "this quote is never closed", f"end the value with {quote} on this line")
    if context.startswith("while scanning a simple key"):
        return _Problem(exc.context_mark, "this key has no ':'", "write it as `key: value`")
    if "'\\t'" in problem:
        return _Problem(mark, "a tab character", "YAML indents and separates with spaces only; replace the tab")
    if problem == "mapping values are not allowed here":
        return _colon_in_scalar(exc, tokens, lines)
    if problem.startswith("expected <block end>") and lines[mark.line].lstrip().startswith("- "):
        return _stray_item(_at_indent(mark, lines))
    if problem.startswith("expected <block end>, but found '?'"):
        return _Problem(mark, "a key among '- ' list items",
                        f"the list starts on line {exc.context_mark.line + 1}: indent the key under its item, or remove a stray '- '")
    if problem.startswith("expected <block end>") and mark.column > _indent(lines[mark.line]):
        return _Problem(mark, "text after a complete value", "quote the whole value, or remove what follows it")
    if problem.startswith("expected <block end>"):
        return _misindented(mark, lines)
    if problem == "but found another document":
        return _Problem(mark, "a second YAML document", "the mapping file is one document: remove this '---' and merge what follows")
    where = f" that starts on line {exc.context_mark.line + 1}" if exc.context_mark else ""
    return _Problem(mark, problem or "not valid YAML", f"{context}{where}".strip() or "not valid YAML")


def _read_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node (for key lines) and its data; raises _Problem at the line to edit."""
    lines = _LINE_BREAK.split(text)
    tokens = _scan(text)
    loader = _LineLoader(text)
    try:
        try:
            node = loader.get_single_node()
            # PyYAML reads a quote or bracket left open up to the next closing character and may
            # find nothing wrong: check the whole file for one.
            left_open = _unclosed(tokens, lines, len(text))
            if left_open is not None:
                raise left_open
            return node, (loader.construct_document(node) if node is not None else None)
        except yaml.MarkedYAMLError as exc:
            raise _explain(exc, tokens, lines) from None
    finally:
        loader.dispose()


def _key_lines(node: yaml.Node, path: tuple = ()) -> dict[tuple, int]:
    lines: dict[tuple, int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            child = (*path, k.value)
            lines[child] = k.start_mark.line + 1
            lines.update({p: l for p, l in _key_lines(v, child).items() if p != child})
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            lines.update(_key_lines(v, (*path, i)))
    return lines


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int:
    loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "union["))))
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)


def _located(loc: tuple, msg: str, source: str, lines: dict[tuple, int]) -> str:
    key = ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-"))) or "(top level)"
    return f"{source}, line {_line_for(loc, lines)}, key {key}: {msg}"


def _gl_entries(m: Mapping) -> list[tuple[tuple, str, dict[str, str]]]:
    """Every GL account the file names: (location of ``account``, the account, its per-ERP overrides)."""
    gl = m.gl_accounts
    entries = [(("gl_accounts", "rules", i, "account"), r.account, dict(r.accounts)) for i, r in enumerate(gl.rules)]
    entries.append((("gl_accounts", "default"), gl.default, dict(gl.default_accounts)))
    return entries


def _override_loc(loc: tuple, erp: str) -> tuple:
    return (*loc[:-1], "accounts", erp) if loc[-1] == "account" else ("gl_accounts", "default_accounts", erp)


def _bare(account: str) -> str:
    # Sage offers each account formatted (AccountNumber, 1020-000) and bare (UnformattedAccount,
    # 1020000): comparing without separators accepts either list.
    return "".join(ch for ch in account if ch.isalnum())


def _gl_account_problems(m: Mapping, erp: str, known: set[str] | None, pattern: str | None,
                         example: str | None) -> list[tuple[tuple, str]]:
    problems: list[tuple[tuple, str]] = []
    known_bare = None if known is None else {_bare(a) for a in known}
    several = len(m.gl_accounts.format) > 1
    for loc, account, overrides in _gl_entries(m):
        used, where = (overrides[erp], _override_loc(loc, erp)) if erp in overrides else (account, loc)
        if pattern is not None and not re.fullmatch(pattern, used):
            expected = f"expected like {example!r}" if example else f"expected to match {pattern}"
            if several and erp not in overrides:
                beside = "default_accounts" if loc[-1] == "default" else "accounts"
                expected += f"; where one account cannot fit every ERP, add {beside}: {{{erp}: ...}} beside it"
            problems.append((where, f"GL account {used!r} does not fit {erp}'s account format ({expected})"))
        if known_bare is not None and _bare(used) not in known_bare:
            problems.append((where, f"GL account {used!r} is not in {erp}'s chart of accounts"))
    return problems


def _override_conflicts(m: Mapping) -> list[tuple[tuple, str]]:
    """One account must stand for one account per ERP, or the ERP's account could not be told from it."""
    seen: dict[tuple[str, str], tuple[str, tuple]] = {}
    problems: list[tuple[tuple, str]] = []
    for loc, account, overrides in _gl_entries(m):
        for erp, override in overrides.items():
            first = seen.setdefault((account, erp), (override, loc))
            if first[0] != override:
                problems.append((_override_loc(loc, erp), f"{account!r} is already {first[0]!r} in {erp} at "
                                 f"{'.'.join(map(str, _override_loc(first[1], erp)))}; one account maps to one {erp} account"))
    return problems


def _semantic_problems(m: Mapping) -> list[tuple[tuple, str]]:
    """Rules pydantic's types cannot say, each with the location of the key at fault."""
    problems: list[tuple[tuple, str]] = []
    for state, canonical in m.statuses.paytrace.items():
        if state not in PAYTRACE_STATES:
            problems.append((("statuses", "paytrace", state), f"unknown PayTrace state {state!r} (known: {', '.join(PAYTRACE_STATES)})"))
        if canonical not in CANONICAL_STATUSES:
            problems.append((("statuses", "paytrace", state), f"unknown canonical status {canonical!r} (known: {', '.join(CANONICAL_STATUSES)})"))
    missing = [s for s in PAYTRACE_STATES if s not in m.statuses.paytrace]
    if missing:
        problems.append((("statuses", "paytrace"), f"every PayTrace state needs a canonical status; missing: {', '.join(missing)}"))
    for erp in ("oracle", "sage"):
        for canonical in getattr(m.statuses, erp):
            if canonical not in CANONICAL_STATUSES:
                problems.append((("statuses", erp, canonical), f"unknown canonical status {canonical!r} (known: {', '.join(CANONICAL_STATUSES)})"))
    for erp, fmt in m.gl_accounts.format.items():
        problems.extend(_gl_account_problems(m, erp, None, fmt.pattern, fmt.example))
    problems.extend(_override_conflicts(m))
    return problems


def _key_path(loc: tuple) -> tuple:
    """A pydantic error location as the file's key path (without its validator and union markers)."""
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "union["))))


def validate_mapping_data(data: dict[str, Any]) -> tuple[Mapping | None, list[tuple[tuple, str]]]:
    """The rules of already-read mapping data, or every problem with the key path at fault.

    The one validation every reader uses: the file at load time (:func:`parse_mapping`) and the
    studio's forms as a person types, so both refuse the same values with the same words.
    """
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        return None, [(_key_path(err["loc"]), err["msg"]) for err in exc.errors()]
    found = _semantic_problems(mapping)
    return (None, found) if found else (mapping, [])


def parse_mapping(text: str, source: str = "<mapping>") -> Mapping:
    try:
        node, data = _read_yaml(text)
    except _Problem as problem:
        raise MappingError(problem.message(source)) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow: PyYAML gives its position only
        line, column = text.count("\n", 0, exc.position) + 1, exc.position - text.rfind("\n", 0, exc.position)
        raise MappingError(f"{source}, line {line}, column {column}: character #x{exc.character:04x} is not allowed in YAML "
                           "(remove it, or write it as an escape inside double quotes)") from None
    if not isinstance(data, dict):
        raise MappingError(f"{source}, line 1, column 1: the mapping file must be a YAML mapping of keys (`version: ...` and the sections below it)")
    lines = _key_lines(node) if node is not None else {}
    mapping, found = validate_mapping_data(data)
    if mapping is None:
        raise MappingError("; ".join(_located(loc, msg, source, lines) for loc, msg in found))
    mapping._source, mapping._lines = source, lines
    mapping._sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return mapping


def gl_account_for(mapping: Mapping, erp: str, account: str) -> str:
    """The account to post in ``erp`` for ``account``, the one the GL rules chose (``gl_account``).

    The rules choose one account for every ERP; where it cannot fit an ERP's format the file names
    that ERP's own (``accounts``/``default_accounts``), and a file naming two for one account is refused.
    """
    for _loc, generic, overrides in _gl_entries(mapping):
        if generic == account and erp in overrides:
            return overrides[erp]
    return account


def check_gl_accounts(mapping: Mapping, erp: str, known_accounts: set[str] | None = None,
                      pattern: str | None = None) -> list[str]:
    """The GL accounts of the mapping that ``erp`` would refuse, one message each (file, line, key).

    For a connector that can read the ERP's chart of accounts, after the file has loaded. Each
    account is checked as that ERP will receive it (its override when the file gives one):

    - ``known_accounts``: the accounts the ERP holds; an account not among them is reported. Sage 300
      offers them at ``GL/GLAccounts`` (``AccountNumber``, formatted, or ``UnformattedAccount``: either
      list works, separators are ignored when comparing).
    - ``pattern``: the account format the ERP reports, as a regular expression the whole account must
      match. The format read from the ERP wins over the mapping's ``gl_accounts.format`` when offered;
      without one the mapping's pattern for ``erp`` is used, and without either no format is checked.
      Oracle Fusion does not offer the format over REST (segment count and delimiter are set per
      ledger, e.g. ``101.10.11101.000.000.000``), so for Oracle the mapping's pattern is what there is.

    Pure: reads nothing; an invalid ``pattern`` raises ``re.error``.
    """
    example = None
    if pattern is None and erp in mapping.gl_accounts.format:
        pattern, example = mapping.gl_accounts.format[erp].pattern, mapping.gl_accounts.format[erp].example
    if pattern is not None:
        re.compile(pattern)
    found = _gl_account_problems(mapping, erp, known_accounts, pattern, example)
    return [_located(loc, msg, mapping._source, mapping._lines) for loc, msg in found]


def mapping_path() -> Path:
    """The mapping file in force: ``PAYSYNC_MAPPING_FILE`` when set, else the file of the environment
    ``PAYSYNC_ENV`` picks (``<deploy>/mappings/<env>.yaml``). Dev without a file of its own uses the
    packaged sample, which fits the local sandboxes."""
    from paysync_dagster.lib.settings import environment

    if os.environ.get("PAYSYNC_MAPPING_FILE"):
        return Path(os.environ["PAYSYNC_MAPPING_FILE"])
    return mapping_file_for(environment())


def mapping_file_for(env: str) -> Path:
    """The mapping file of one environment (``PAYSYNC_MAPPING_FILE`` aside): ``<deploy>/mappings/<env>.yaml``,
    or for Dev without one, the packaged sample."""
    from paysync_dagster.lib.settings import DEFAULT_ENVIRONMENT, environment_mapping_file

    path = environment_mapping_file(env)
    return SAMPLE_MAPPING if env == DEFAULT_ENVIRONMENT and not path.is_file() else path


def load_mapping(path: Path | None = None) -> Mapping:
    path = path or mapping_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping file ({exc.strerror})") from None
    return parse_mapping(text, str(path))


def mapping_content_hash(mapping: Mapping) -> str:
    """The first 12 hex digits of the sha256 of the mapping file's text ('' for rules not read from text)."""
    return mapping._sha256[:12]


def version_label(mapping: Mapping) -> str:
    """The version as people see it on every materialization: ``<version> (sha256 <12 hex>)``, so two
    files with one version number but different content are told apart."""
    digest = mapping_content_hash(mapping)
    return f"{mapping.version} (sha256 {digest})" if digest else mapping.version


def mapping_fingerprint(mapping: Mapping) -> str:
    """A short hash of the rules in force, shown beside the version so edits without a bump are visible."""
    return hashlib.sha256(mapping.model_dump_json().encode()).hexdigest()[:12]
