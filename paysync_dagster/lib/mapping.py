"""The business rules: one YAML file, validated by pydantic, with errors that name file, line and key.

Business users edit the file; engineers point ``PAYSYNC_MAPPING_FILE`` at it. It is read once when
the definitions load, so a broken file stops the code location with one clear message before any
run starts, and every materialization records the ``version`` in force.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class GlRule(_Strict):
    when: GlCondition
    account: str = Field(min_length=1)


class GlAccounts(_Strict):
    """First matching rule wins; ``default`` is required so every payment gets an account."""

    rules: list[GlRule] = Field(default_factory=list)
    default: str = Field(min_length=1)


class CustomerAccounts(_Strict):
    oracle: str | None = None
    sage: str | None = None


class Customers(_Strict):
    """PayTrace customer id -> ERP account numbers; then by email; then a look-up in the ERP."""

    map: dict[str, CustomerAccounts] = Field(default_factory=dict)
    by_email: dict[str, CustomerAccounts] = Field(default_factory=dict)
    lookup_fallback: list[Literal["email", "name"]] = Field(default_factory=lambda: ["email", "name"])


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


class Receipts(_Strict):
    receipt_method: str
    business_unit: str
    remittance_bank_account: str
    receipt_number_prefix: str = Field(default="PT-", max_length=10)


class Tolerances(_Strict):
    amount_minor: int = Field(default=0, ge=0, description="cents two amounts may differ by and still match")
    fuzzy_invoice_match: float = Field(default=0.86, gt=0, le=1, description="lowest similarity score accepted")
    batch_variance_minor: int = Field(default=0, ge=0)
    unapplied_minor: int = Field(default=0, ge=0, description="unapplied cash on a receipt still counted matched")
    bank_date_window_days: int = Field(default=3, ge=0, description="business days a deposit may land after its batch closes")


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


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every key, so errors can point at it."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    result = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise MappingError(f"line {key_node.start_mark.line + 1}: key {key!r} appears twice")
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


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
    return problems


def parse_mapping(text: str, source: str = "<mapping>") -> Mapping:
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except MappingError as exc:
        raise MappingError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        # Where the broken construct starts is where a person should look; the problem mark of an
        # unclosed bracket is the end of the file.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        raise MappingError(f"{source}, {where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise MappingError(f"{source}, line 1: the mapping file must be a YAML mapping of keys")
    lines = _key_lines(node) if node is not None else {}
    try:
        mapping = Mapping.model_validate(data)
        found = [(loc, msg) for loc, msg in _semantic_problems(mapping)]
    except ValidationError as exc:
        found = [(tuple(err["loc"]), err["msg"]) for err in exc.errors()]
    if not found:
        return mapping
    problems = []
    for loc, msg in found:
        key = ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-"))) or "(top level)"
        problems.append(f"{source}, line {_line_for(loc, lines)}, key {key}: {msg}")
    raise MappingError("; ".join(problems))


def mapping_path() -> Path:
    return Path(os.environ.get("PAYSYNC_MAPPING_FILE") or SAMPLE_MAPPING)


def load_mapping(path: Path | None = None) -> Mapping:
    path = path or mapping_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping file ({exc.strerror})") from None
    return parse_mapping(text, str(path))


def mapping_fingerprint(mapping: Mapping) -> str:
    """A short hash of the rules in force, shown beside the version so edits without a bump are visible."""
    return hashlib.sha256(mapping.model_dump_json().encode()).hexdigest()[:12]
