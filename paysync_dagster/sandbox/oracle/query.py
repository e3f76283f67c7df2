"""Collection query parameters of the ADF REST framework: ``q``, ``orderBy``, ``fields``, ``finder``.

``q`` has two grammars, chosen by ``REST-Framework-Version`` (spec §1.3, §2.1):

- v1, query by example: clauses separated by ``;`` (AND). A clause is an attribute followed by one or
  more conditions ``<op> <value>`` joined with ``and``/``or``, the attribute implied after the first:
  ``Deptno>=10 and <=30;Loc!=NY``. Values are taken literally up to the end of the clause (spaces
  allowed, quotes optional), so ``CustomerName=Summit Tool Supply Inc.`` works.
- v2 and later, an expression: comparisons ``=``, ``!=``, ``<>``, ``>``, ``<``, ``>=``, ``<=``,
  ``like``, ``[not] in (...)``, ``between a and b``, ``is [not] null``, ``upper(Attr)``, combined with
  ``and``/``or``/``not`` and parentheses. Values are quoted (``'...'`` or ``"..."``; a quote is doubled
  inside) or bare words without spaces (``LocationCode=NY``, ``Amount>100``, ``ReceiptDate>=2024-01-31``).
  A comparison without an attribute reuses the previous one: ``(Deptno>=10 and <= 30)``.
  ``;`` outside quotes is not part of the v2 grammar, so a v1-style ``A=1;B=2`` fails with 400 under
  v2+, as the spec says. Keywords are case-insensitive; attribute names are case-sensitive.

Comparison semantics (the sandbox's, documented because Oracle's SQL is not visible): when both
sides read as numbers they compare as decimals (``Amount=451.23`` matches ``"451.23"`` and
``451.23``); otherwise as strings, case-sensitively (dates are ISO text, so they order correctly).
``like`` takes ``%`` (any run) and ``_`` (one character). A null attribute matches only ``is null``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

_OPS = (">=", "<=", "<>", "!=", "=", ">", "<")
_KEYWORDS = {"and", "or", "not", "like", "in", "between", "is", "null", "upper", "lower"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_V1_SPLIT = re.compile(r"\s+(and|or)\s+(?=(>=|<=|<>|!=|=|>|<|like\s))", re.IGNORECASE)


class QueryError(ValueError):
    """A ``q``/``orderBy``/``fields``/``finder`` value the framework refuses (answered 400)."""


# -- value comparison ----------------------------------------------------------------------------

def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        if not text or not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text):
            return None
        try:
            return Decimal(text)
        except InvalidOperation:
            return None
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def compare(value: Any, literal: str) -> int:
    """-1/0/1 comparing a row value with a query literal (numbers as decimals, otherwise text)."""
    left, right = _decimal(value), _decimal(literal)
    if left is not None and right is not None:
        return (left > right) - (left < right)
    a, b = _text(value), literal
    return (a > b) - (a < b)


def sort_key(value: Any) -> tuple:
    """A total order over row values for ``orderBy``: numbers, then text; None handled by the caller."""
    number = _decimal(value) if not isinstance(value, str) else None
    if number is not None:
        return (0, number, "")
    return (1, Decimal(0), _text(value))


def _like(value: Any, pattern: str) -> bool:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, _text(value), re.DOTALL) is not None


_COMPARATORS: dict[str, Callable[[int], bool]] = {
    "=": lambda c: c == 0, "!=": lambda c: c != 0, "<>": lambda c: c != 0,
    ">": lambda c: c > 0, "<": lambda c: c < 0, ">=": lambda c: c >= 0, "<=": lambda c: c <= 0,
}


def _condition(attr: str, op: str, literal: str, *, upper: bool = False) -> Predicate:
    op = op.lower()

    def get(row: Row) -> Any:
        value = row.get(attr)
        return value.upper() if upper and isinstance(value, str) else value

    if op == "like":
        return lambda row: (v := get(row)) is not None and _like(v, literal)
    test = _COMPARATORS[op]

    def predicate(row: Row) -> bool:
        v = get(row)
        return v is not None and test(compare(v, literal))

    if op == "=" and not upper:
        predicate.eqs = [(attr, literal)]  # type: ignore[attr-defined]
    return predicate


def equalities(predicate: Predicate) -> list[tuple[str, str]]:
    """The ``attr = literal`` conditions every match must meet (for index look-ups); [] if unknown."""
    return list(getattr(predicate, "eqs", []))


def is_trivial(predicate: Predicate) -> bool:
    return bool(getattr(predicate, "trivial", False))


def _all(parts: list[Predicate]) -> Predicate:
    def predicate(row: Row) -> bool:
        return all(p(row) for p in parts)

    predicate.eqs = [eq for p in parts for eq in equalities(p)]  # type: ignore[attr-defined]
    return predicate


def _true(row: Row) -> bool:
    return True


_true.trivial = True  # type: ignore[attr-defined]


# -- v2 expression parser --------------------------------------------------------------------------

class _Parser:
    """Recursive descent over the raw text (the value grammar depends on context, so no tokenizer)."""

    def __init__(self, text: str, attributes: Iterable[str]):
        self.text = text
        self.pos = 0
        self.attributes = set(attributes)
        self.last_attr: tuple[str, bool] | None = None  # (attribute, upper) for the implied shorthand

    # scanning helpers
    def fail(self, what: str) -> QueryError:
        return QueryError(f"URL request parameter q with value '{self.text}' is invalid: {what} at position {self.pos}.")

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.ws()
        return self.pos >= len(self.text)

    def peek_word(self) -> str | None:
        self.ws()
        m = _IDENT.match(self.text, self.pos)
        return m.group(0) if m else None

    def keyword(self, *words: str) -> str | None:
        word = self.peek_word()
        if word is not None and word.lower() in words:
            end = self.pos + len(word)
            if end >= len(self.text) or not (self.text[end].isalnum() or self.text[end] == "_"):
                self.pos = end
                return word.lower()
        return None

    def expect_char(self, ch: str) -> None:
        self.ws()
        if self.pos >= len(self.text) or self.text[self.pos] != ch:
            raise self.fail(f"expected {ch!r}")
        self.pos += 1

    def operator(self) -> str | None:
        self.ws()
        for op in _OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        return None

    def value(self, *, in_list: bool = False) -> str:
        self.ws()
        if self.pos >= len(self.text):
            raise self.fail("missing value")
        quote = self.text[self.pos]
        if quote in "'\"":
            out: list[str] = []
            i = self.pos + 1
            while i < len(self.text):
                ch = self.text[i]
                if ch == quote:
                    if i + 1 < len(self.text) and self.text[i + 1] == quote:  # doubled quote = one quote
                        out.append(quote)
                        i += 2
                        continue
                    self.pos = i + 1
                    return "".join(out)
                out.append(ch)
                i += 1
            raise self.fail("unterminated quoted value")
        stop = "()," if in_list else "()"
        start = self.pos
        while self.pos < len(self.text) and not self.text[self.pos].isspace() and self.text[self.pos] not in stop:
            if self.text[self.pos] in ";":
                raise self.fail("';' is not allowed in a REST-Framework-Version 2+ query (v1 syntax?)")
            self.pos += 1
        if self.pos == start:
            raise self.fail("missing value")
        return self.text[start:self.pos]

    def attribute(self) -> tuple[str, bool] | None:
        save = self.pos
        if self.keyword("upper", "lower"):
            self.expect_char("(")
            name = self.peek_word()
            if name is None:
                raise self.fail("expected an attribute inside upper()")
            self.pos += len(name)
            self.expect_char(")")
            self.check(name)
            return name, True
        name = self.peek_word()
        if name is None or name.lower() in _KEYWORDS:
            self.pos = save
            return None
        self.pos += len(name)
        self.check(name)
        return name, False

    def check(self, name: str) -> None:
        if name not in self.attributes:
            raise QueryError(f"URL request parameter q with value '{self.text}' is invalid: "
                             f"the attribute {name} isn't queryable.")

    # grammar
    def parse(self) -> Predicate:
        pred = self.or_expr()
        if not self.at_end():
            if self.text[self.pos] == ";":
                raise self.fail("';' is not allowed in a REST-Framework-Version 2+ query (v1 syntax?)")
            raise self.fail("unexpected text")
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else _all(parts)

    def unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.unary()
            return lambda row: not inner(row)
        self.ws()
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            self.pos += 1
            inner = self.or_expr()
            self.expect_char(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        target = self.attribute()
        if target is None:
            if self.last_attr is None:
                raise self.fail("expected an attribute")
            target = self.last_attr  # "Deptno>=10 and <=30": the attribute carries over
        self.last_attr = target
        attr, upper = target
        op = self.operator()
        if op is not None:
            return _condition(attr, op, self.value(), upper=upper)
        if self.keyword("like"):
            return _condition(attr, "like", self.value(), upper=upper)
        if self.keyword("is"):
            negate = self.keyword("not") is not None
            if not self.keyword("null"):
                raise self.fail("expected null")
            return (lambda row: row.get(attr) is not None) if negate else (lambda row: row.get(attr) is None)
        negate = self.keyword("not") is not None
        if self.keyword("in"):
            self.expect_char("(")
            values = [self.value(in_list=True)]
            self.ws()
            while self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
                values.append(self.value(in_list=True))
            self.expect_char(")")
            tests = [_condition(attr, "=", v, upper=upper) for v in values]
            if negate:
                return lambda row: row.get(attr) is not None and not any(t(row) for t in tests)
            return lambda row: any(t(row) for t in tests)
        if negate:
            raise self.fail("expected in after not")
        if self.keyword("between"):
            low = self.value()
            if not self.keyword("and"):
                raise self.fail("expected and in between")
            high = self.value()
            lo, hi = _condition(attr, ">=", low, upper=upper), _condition(attr, "<=", high, upper=upper)
            return lambda row: lo(row) and hi(row)
        raise self.fail("expected an operator")


# -- v1 query by example ------------------------------------------------------------------------------

def _split_semicolons(text: str) -> list[str]:
    parts, buf, quote = [], [], ""
    for ch in text:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        elif ch == ";":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return [p for p in (s.strip() for s in parts) if p]


def _v1_value(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1].replace(raw[0] * 2, raw[0])
    return raw


def _parse_v1(text: str, attributes: set[str]) -> Predicate:
    clauses: list[Predicate] = []
    for clause in _split_semicolons(text):
        m = _IDENT.match(clause)
        if not m:
            raise QueryError(f"URL request parameter q with value '{text}' is invalid: expected an attribute.")
        attr = m.group(0)
        if attr not in attributes:
            raise QueryError(f"URL request parameter q with value '{text}' is invalid: "
                             f"the attribute {attr} isn't queryable.")
        rest = clause[m.end():].strip()
        # Split "op value and op value ..." where the next piece starts with an operator.
        pieces = _V1_SPLIT.split(rest)
        conds: list[tuple[str, str]] = [("and", pieces[0])]
        i = 1
        while i < len(pieces):
            conds.append((pieces[i].lower(), pieces[i + 2]))
            i += 3
        pred: Predicate | None = None
        for joiner, cond in conds:
            cond = cond.strip()
            op = next((o for o in _OPS if cond.startswith(o)), None)
            if op is None and cond[:5].lower() == "like ":
                op = "like"
            if op is None:
                raise QueryError(f"URL request parameter q with value '{text}' is invalid: expected an operator "
                                 f"after {attr}.")
            this = _condition(attr, op, _v1_value(cond[len(op):]))
            if pred is None:
                pred = this
            elif joiner == "or":
                pred = (lambda a, b: lambda row: a(row) or b(row))(pred, this)
            else:
                pred = (lambda a, b: lambda row: a(row) and b(row))(pred, this)
        assert pred is not None
        clauses.append(pred)
    return _all(clauses)


def parse_q(text: str, attributes: Iterable[str], framework_version: int) -> Predicate:
    """Compile ``q`` into a predicate over rendered rows; raises :class:`QueryError` (400)."""
    attrs = set(attributes)
    if not text or not text.strip():
        return _true
    if framework_version <= 1:
        return _parse_v1(text, attrs)
    return _Parser(text, attrs).parse()


# -- orderBy, fields, finder ------------------------------------------------------------------------------

def parse_order_by(text: str, attributes: Iterable[str]) -> list[tuple[str, bool]]:
    """``A:asc,B:desc`` -> [(A, False), (B, True)] (True = descending)."""
    attrs = set(attributes)
    out: list[tuple[str, bool]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, direction = part.partition(":")
        direction = direction.strip().lower() or "asc"
        if name not in attrs or direction not in ("asc", "desc"):
            raise QueryError(f"URL request parameter orderBy with value '{text}' is invalid.")
        out.append((name, direction == "desc"))
    return out


def order_rows(rows: list[dict], order: Sequence[tuple[str, bool]]) -> list[dict]:
    """Stable multi-key sort; nulls last ascending and first descending (Oracle's defaults)."""
    for name, desc in reversed(order):
        rows.sort(key=lambda r: (r.get(name) is None, sort_key(r.get(name)) if r.get(name) is not None else ()),
                  reverse=desc)
    return rows


@dataclass
class FieldSelection:
    """``fields=A,B;Child:C,D``: item attributes (None = all) and the children named, with theirs."""

    item: list[str] | None = None
    children: dict[str, list[str]] = field(default_factory=dict)


def parse_fields(text: str | None) -> FieldSelection | None:
    if text is None:
        return None
    selection = FieldSelection(item=[])
    for i, part in enumerate(text.split(";")):
        name, colon, attrs = part.partition(":")
        names = [a.strip() for a in (attrs if colon else part).split(",") if a.strip()]
        if colon:
            selection.children[name.strip()] = names
        elif i == 0:
            selection.item = names
        else:
            raise QueryError(f"URL request parameter fields with value '{text}' is invalid.")
    return selection


def parse_finder(text: str, finders: Mapping[str, Mapping[str, str]]) -> Predicate:
    """``Name;var=value,var2=value2`` -> equality predicate over the attributes the finder binds."""
    name, _, rest = text.partition(";")
    bindings = finders.get(name.strip())
    if bindings is None:
        raise QueryError(f"URL request parameter finder with value '{text}' is invalid: unknown finder {name}.")
    conds: list[Predicate] = []
    for pair in (p for p in rest.split(",") if p.strip()):
        var, eq, value = pair.partition("=")
        attr = bindings.get(var.strip())
        if not eq or attr is None:
            raise QueryError(f"URL request parameter finder with value '{text}' is invalid: unknown variable {var}.")
        conds.append(_condition(attr, "=", value.strip()))
    return _all(conds)
