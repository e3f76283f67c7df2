"""OData conventions of the Sage 300 Web API: entity keys, ``$filter``, ``$select``, ``$orderby``,
``$top``/``$skip``/``$count``, and the collection envelope with its server-side paging.

Keys: ``('1200')``, ``(CustomerNumber='1200')``, ``(66)``, composite ``(BatchRecordType='CA',BatchNumber=65)``
(every segment; names may be left out only when the values come in key order). Quotes are optional
around a string without spaces or punctuation. A malformed key is ``InvalidEntityKey``.

``$filter``: ``eq ne gt ge lt le``, ``and or not``, parentheses; functions ``startswith``,
``endswith``, ``substringof``, ``contains``, ``length``, ``tolower``, ``toupper``, ``trim``. Literals:
``'text'`` (a quote doubled inside), integers and decimals (``99.99m``), ``true``/``false``/``null``,
``datetime'2015-12-31T12:00'`` and bare ISO dates or date-times (``2016-12-31T12:00:00Z``), as both the
developer reference and Sage's Postman collection write them. Enumerations compare by name or by code
(``DocumentType eq 'Invoice'``, ``DocumentType eq '1'``, ``FullyPaid eq '0'``). A word that is not a
literal is a property: an unknown one, including an unquoted string value, is ``InvalidParameters``
"Could not find a property named 'X' on type '<entity type>'." Filters reach top-level properties only.

Paging: at most ``page_size`` rows per answer (the server's setting, default 100). When rows remain,
the envelope ends with ``@odata.nextLink`` = ``<base>/<MODULE>/<Set>?$skip=<n>``: like Sage's, the link
keeps only ``$skip`` and drops ``$filter``, ``$select``, ``$orderby``, ``$top`` and ``$count``, so the
pages after the first are pages of the whole, unfiltered set. A client must follow the links and
re-check its conditions on every row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import SageError
from .schema import EntityType, Field, render

Row = Mapping[str, Any]


def _parameters(message: str) -> SageError:
    return SageError("InvalidParameters", message)


def no_property(name: str, etype: EntityType) -> SageError:
    return _parameters(f"Could not find a property named '{name}' on type '{etype.qualified}'.")


# -- keys ------------------------------------------------------------------------------------------

_KEY_PART = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?('(?:[^']|'')*'|[^,']*?)\s*(?:,|$)")


def split_key(text: str) -> list[tuple[str | None, str, bool]]:
    """``a='x',b=5`` -> [(name or None, raw value, quoted)]; raises InvalidEntityKey on junk."""
    parts: list[tuple[str | None, str, bool]] = []
    pos = 0
    text = text.strip()
    if not text:
        raise SageError("InvalidEntityKey", "The entity key is empty.")
    while pos < len(text):
        m = _KEY_PART.match(text, pos)
        if m is None or m.end() == pos:
            raise SageError("InvalidEntityKey", f"The key '{text}' is not a valid entity key.")
        name, raw = m.group(1), m.group(2)
        quoted = raw.startswith("'")
        value = raw[1:-1].replace("''", "'") if quoted else raw
        if not quoted and not value:
            raise SageError("InvalidEntityKey", f"The key '{text}' is not a valid entity key.")
        parts.append((name, value, quoted))
        pos = m.end()
    return parts


def parse_key(text: str, etype: EntityType) -> tuple[Any, ...]:
    """The key values in the type's key order, typed (ints for numeric segments)."""
    parts = split_key(text)
    names = etype.key
    bad = SageError("InvalidEntityKey", f"The key '({text})' does not identify a '{etype.qualified}': "
                                         f"it needs {', '.join(names)}.")
    if len(parts) != len(names):
        raise bad
    if all(n is None for n, _, _ in parts):
        given = dict(zip(names, parts))
    elif all(n is not None for n, _, _ in parts):
        given = {n: (n, v, q) for n, v, q in parts}
        if set(given) != set(names):
            raise bad
    else:
        raise bad
    values = []
    for name in names:
        _, raw, quoted = given[name]
        f = etype.fields[name]
        if f.kind == "int":
            if quoted or not re.fullmatch(r"[+-]?\d+", raw):
                raise bad
            values.append(int(raw))
        elif f.kind == "enum":
            assert f.enum is not None
            member = f.enum.lookup(raw)
            if member is None:
                raise bad
            values.append(member)
        else:
            if not quoted and not re.fullmatch(r"[A-Za-z0-9_.\-]+", raw):
                raise bad  # unquoted values may not hold spaces or punctuation
            values.append(raw)
    return tuple(values)


# -- $filter ----------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<dt>(?:datetime|datetimeoffset)'[^']*')
  | (?P<str>'(?:[^']|'')*')
  | (?P<date>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)(?![\w.])
  | (?P<num>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[mMdDfFlL]?)(?![\w.])
  | (?P<lp>\() | (?P<rp>\)) | (?P<comma>,)
  | (?P<word>[A-Za-z_$][A-Za-z0-9_./]*)
  | (?P<junk>\S)
)""", re.X)

_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_TESTS: dict[str, Callable[[int], bool]] = {
    "eq": lambda c: c == 0, "ne": lambda c: c != 0, "gt": lambda c: c > 0,
    "ge": lambda c: c >= 0, "lt": lambda c: c < 0, "le": lambda c: c <= 0,
}
_STRING_FUNCTIONS = {"tolower", "toupper", "trim"}
_BOOL_FUNCTIONS = {"startswith", "endswith", "substringof", "contains"}


@dataclass
class _Operand:
    """A typed value source: ``kind`` is a schema kind ('str', 'num', 'int', 'date', 'enum', 'bool'),
    'null', or 'datetime' (a literal with a time of day)."""

    kind: str
    get: Callable[[Row], Any]
    field: Field | None = None
    literal: Any = None
    is_literal: bool = False


Predicate = Callable[[Row], bool]


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise _parameters(f"Syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup
        if kind == "junk":
            raise _parameters(f"Syntax error: character '{m.group(kind)}' at position {m.start(kind)} in '{text}'.")
        out.append((kind or "", m.group(kind or 0)))
        pos = m.end()
    return out


def _to_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(0), timezone.utc)
    return None


def _parse_datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z")) if "T" in text else \
            datetime.combine(date.fromisoformat(text), time(0))
    except ValueError:
        raise _parameters(f"Unrecognized 'Edm.DateTimeOffset' literal '{text}'.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class _Parser:
    def __init__(self, text: str, etype: EntityType):
        self.text, self.etype = text, etype
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise _parameters(f"Unexpected end of the filter '{self.text}'.")
        self.i += 1
        return tok

    def expect(self, kind: str) -> None:
        tok = self.take()
        if tok[0] != kind:
            raise _parameters(f"Syntax error near '{tok[1]}' in '{self.text}'.")

    def word_is(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() in words

    def parse(self) -> Predicate:
        pred = self.or_()
        if self.peek() is not None:
            raise _parameters(f"Syntax error near '{self.peek()[1]}' in '{self.text}'.")  # type: ignore[index]
        return pred

    def or_(self) -> Predicate:
        left = self.and_()
        while self.word_is("or"):
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)  # no equalities survive an "or"
        return left

    def and_(self) -> Predicate:
        left = self.unary()
        while self.word_is("and"):
            self.take()
            right = self.unary()
            both = (lambda a, b: lambda r: a(r) and b(r))(left, right)
            both.eqs = {**getattr(left, "eqs", {}), **getattr(right, "eqs", {})}  # type: ignore[attr-defined]
            left = both
        return left

    def unary(self) -> Predicate:
        if self.word_is("not"):
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        tok = self.peek()
        if tok is not None and tok[0] == "lp":
            # A parenthesised boolean expression (comparisons never start with "(").
            self.take()
            inner = self.or_()
            self.expect("rp")
            return inner
        if tok is not None and tok[0] == "word" and tok[1].lower() in _BOOL_FUNCTIONS and \
                (nxt := self.peek(1)) is not None and nxt[0] == "lp":
            return self.bool_function()
        return self.comparison()

    def bool_function(self) -> Predicate:
        name = self.take()[1].lower()
        self.expect("lp")
        a = self.operand()
        self.expect("comma")
        b = self.operand()
        self.expect("rp")
        if name == "substringof":  # substringof('needle', Property): the old form, arguments reversed
            a, b = b, a
        for o in (a, b):
            if o.kind not in ("str", "null"):
                raise _parameters(f"The function '{name}' takes strings.")

        def text(o: _Operand, r: Row) -> str | None:
            v = o.get(r)
            return v if isinstance(v, str) else None

        test: Callable[[str, str], bool] = {
            "startswith": str.startswith, "endswith": str.endswith,
            "substringof": lambda h, n: n in h, "contains": lambda h, n: n in h}[name]
        return lambda r: (h := text(a, r)) is not None and (n := text(b, r)) is not None and test(h, n)

    def comparison(self) -> Predicate:
        left = self.operand()
        tok = self.take()
        op = tok[1].lower()
        if tok[0] != "word" or op not in _COMPARISONS:
            raise _parameters(f"Syntax error near '{tok[1]}' in '{self.text}': expected eq, ne, gt, ge, lt or le.")
        right = self.operand()
        return _compare(left, op, right)

    def operand(self) -> _Operand:
        kind, text = self.take()
        if kind == "str":
            value = text[1:-1].replace("''", "'")
            return _Operand("str", lambda r, v=value: v, literal=value, is_literal=True)
        if kind == "num":
            body = text.rstrip("mMdDfFlL")
            try:
                value = Decimal(body)
            except InvalidOperation:
                raise _parameters(f"Unrecognized number '{text}'.") from None
            return _Operand("num", lambda r, v=value: v, literal=value, is_literal=True)
        if kind == "date":
            moment = _parse_datetime(text)
            return _Operand("datetime", lambda r, v=moment: v, literal=moment, is_literal=True)
        if kind == "dt":
            moment = _parse_datetime(text[text.index("'") + 1:-1])
            return _Operand("datetime", lambda r, v=moment: v, literal=moment, is_literal=True)
        if kind == "lp":
            inner = self.operand()
            self.expect("rp")
            return inner
        if kind == "word":
            low = text.lower()
            if low in ("true", "false"):
                return _Operand("bool", lambda r, v=(low == "true"): v, literal=low == "true", is_literal=True)
            if low == "null":
                return _Operand("null", lambda r: None, is_literal=True)
            nxt = self.peek()
            if nxt is not None and nxt[0] == "lp" and low in (_STRING_FUNCTIONS | {"length"}):
                self.take()
                arg = self.operand()
                self.expect("rp")
                if arg.kind != "str":
                    raise _parameters(f"The function '{low}' takes a string.")
                if low == "length":
                    return _Operand("num", lambda r, a=arg: None if (v := a.get(r)) is None else Decimal(len(v)))
                fn: Callable[[str], str] = {"tolower": str.lower, "toupper": str.upper, "trim": str.strip}[low]
                return _Operand("str", lambda r, a=arg, f=fn: None if (v := a.get(r)) is None else f(v))
            f = self.etype.fields.get(text)
            if f is None or f.kind == "many":
                raise no_property(text, self.etype)
            return _Operand(f.kind, lambda r, n=text: r.get(n), field=f)
        raise _parameters(f"Syntax error near '{text}' in '{self.text}'.")


def _incompatible(a: _Operand, b: _Operand, op: str) -> SageError:
    def edm(o: _Operand) -> str:
        if o.field is not None:
            return o.field.edm
        return {"str": "Edm.String", "num": "Edm.Decimal", "datetime": "Edm.DateTimeOffset", "bool": "Edm.Boolean",
                "null": "null"}.get(o.kind, o.kind)
    return _parameters(f"A binary operator with incompatible types was detected. Found operand types "
                       f"'{edm(a)}' and '{edm(b)}' for operator kind '{op}'.")


def _normaliser(prop: _Operand, lit: _Operand, op: str) -> tuple[Callable[[Any], Any], Any]:
    """(convert a property value, the literal converted) so that the two compare with < and ==."""
    kind = prop.kind
    if lit.kind == "null":
        return (lambda v: v), None
    if kind == "str":
        if lit.kind != "str":
            raise _incompatible(prop, lit, op)
        return (lambda v: v), lit.literal
    if kind in ("num", "int"):
        if lit.kind != "num":
            raise _incompatible(prop, lit, op)
        return (lambda v: None if v is None else Decimal(v)), lit.literal
    if kind == "bool":
        if lit.kind != "bool":
            raise _incompatible(prop, lit, op)
        return (lambda v: v), lit.literal
    if kind == "date":
        if lit.kind == "datetime":
            return _to_datetime, lit.literal
        if lit.kind == "str":
            return _to_datetime, _parse_datetime(lit.literal)
        raise _incompatible(prop, lit, op)
    if kind == "enum":
        enum = prop.field.enum if prop.field else None
        assert enum is not None
        if lit.kind == "str":
            member = enum.lookup(lit.literal)
        elif lit.kind == "num" and lit.literal == lit.literal.to_integral_value():
            member = enum.lookup(str(int(lit.literal)))
        else:
            raise _incompatible(prop, lit, op)
        if member is None:
            raise _parameters(f"The value '{lit.literal}' is not a valid constant of {enum.name}.")
        return (lambda v: None if v is None else enum.code(v)), enum.code(member)
    raise _incompatible(prop, lit, op)


def _compare(left: _Operand, op: str, right: _Operand) -> Predicate:
    test = _TESTS[op]
    if left.is_literal and not right.is_literal:  # 5 lt Amount == Amount gt 5
        flipped = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}.get(op, op)
        return _compare(right, flipped, left)
    if right.kind == "null" or left.kind == "null":
        if op not in ("eq", "ne"):
            raise _incompatible(left, right, op)
        other = left if right.kind == "null" else right
        return (lambda r: other.get(r) is None) if op == "eq" else (lambda r: other.get(r) is not None)
    if right.is_literal:
        convert, literal = _normaliser(left, right, op)

        def predicate(r: Row) -> bool:
            v = convert(left.get(r))
            if v is None:
                return False
            return test((v > literal) - (v < literal))
        if op == "eq" and left.field is not None and left.field.kind == "str":
            predicate.eqs = {left.field.name: literal}  # type: ignore[attr-defined]
        return predicate
    # property against property (or function results): same kind required
    if left.kind != right.kind and {left.kind, right.kind} != {"num", "int"}:
        raise _incompatible(left, right, op)

    def both(r: Row) -> bool:
        a, b = left.get(r), right.get(r)
        if a is None or b is None:
            return False
        if left.kind == "date":
            a, b = _to_datetime(a), _to_datetime(b)
        return test((a > b) - (a < b))
    return both


def parse_filter(text: str, etype: EntityType) -> Predicate:
    return _Parser(text, etype).parse()


def equalities(predicate: Predicate | None) -> dict[str, str]:
    """The ``StringProperty eq 'value'`` conditions every matching row meets (those joined by ``and``
    at the top of the filter, none under ``or`` or ``not``), for index look-ups; the whole filter is
    still applied to what the index gives."""
    return dict(getattr(predicate, "eqs", {})) if predicate is not None else {}


# -- query options and the envelope -----------------------------------------------------------------

KNOWN_OPTIONS = {"$filter", "$select", "$orderby", "$top", "$skip", "$count", "$expand", "$format", "$inlinecount"}


@dataclass
class Query:
    filter_text: str | None = None
    predicate: Predicate | None = None
    select: list[str] | None = None
    orderby: list[tuple[str, bool]] | None = None  # (property, descending)
    top: int | None = None
    skip: int = 0
    count: bool = False


def _whole(name: str, value: str) -> int:
    if not re.fullmatch(r"\d+", value.strip()):
        raise _parameters(f"Invalid value '{value}' for {name} query option found. The {name} query option "
                          "requires a non-negative integer value.")
    return int(value)


def parse_query(params: Mapping[str, str], etype: EntityType) -> Query:
    q = Query()
    for name in params:
        if name.startswith("$") and name not in KNOWN_OPTIONS:
            raise _parameters(f"The query parameter '{name}' is not supported.")
    if (text := params.get("$filter")) is not None and text.strip():
        q.filter_text = text
        q.predicate = parse_filter(text, etype)
    if (text := params.get("$select")) is not None and text.strip() and text.strip() != "*":
        names = [n.strip() for n in text.split(",") if n.strip()]
        for n in names:
            if n not in etype.fields:
                raise no_property(n, etype)
        q.select = names
    if (text := params.get("$orderby")) is not None and text.strip():
        order = []
        for part in text.split(","):
            bits = part.split()
            if not bits or len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
                raise _parameters(f"Syntax error in $orderby '{text}'.")
            f = etype.fields.get(bits[0])
            if f is None or f.kind == "many":
                raise no_property(bits[0], etype)
            order.append((bits[0], len(bits) == 2 and bits[1].lower() == "desc"))
        q.orderby = order
    if (text := params.get("$top")) is not None:
        q.top = _whole("$top", text)
    if (text := params.get("$skip")) is not None:
        q.skip = _whole("$skip", text)
    if (text := params.get("$count")) is not None:
        if text.strip().lower() not in ("true", "false"):
            raise _parameters(f"'{text}' is not a valid count option.")
        q.count = text.strip().lower() == "true"
    if params.get("$inlinecount", "").strip().lower() == "allpages":  # the OData v3 spelling
        q.count = True
    return q


def _sort_value(f: Field, v: Any) -> tuple:
    if v is None:
        return (0, 0)
    if f.kind == "enum" and f.enum is not None:
        return (1, f.enum.code(v))
    if f.kind == "date":
        return (1, v.toordinal())
    return (1, v)


def order_rows(rows: list[Row], q: Query, etype: EntityType) -> list[Row]:
    if not q.orderby:
        return rows
    out = list(rows)
    for name, descending in reversed(q.orderby):  # stable sorts, last key first
        f = etype.fields[name]
        out.sort(key=lambda r, f=f, n=name: _sort_value(f, r.get(n)), reverse=descending)
    return out


def collection(rows: Iterable[Row], q: Query, etype: EntityType, *, context: str, next_base: str,
               page_size: int) -> dict[str, Any]:
    """The envelope of one page: ``@odata.context``, [``@odata.count``], ``value``, [``@odata.nextLink``]."""
    matched = [r for r in rows if q.predicate(r)] if q.predicate else list(rows)
    matched = order_rows(matched, q, etype)
    end = len(matched) if q.top is None else min(len(matched), q.skip + q.top)
    page_end = min(end, q.skip + page_size)
    out: dict[str, Any] = {"@odata.context": context + (f"({','.join(q.select)})" if q.select else "")}
    if q.count:
        out["@odata.count"] = len(matched)
    out["value"] = [render(r, etype, q.select) for r in matched[q.skip:page_end]]
    if page_end < end:
        out["@odata.nextLink"] = f"{next_base}?$skip={page_end}"
    return out


def select_entry(row: Row, params: Mapping[str, str], etype: EntityType) -> dict[str, Any]:
    """A single entry (the object itself), ``$select`` applied."""
    q = parse_query({k: v for k, v in params.items() if k == "$select"}, etype)
    return render(row, etype, q.select)


def key_text(etype: EntityType, key: Sequence[Any]) -> str:
    parts = []
    for name, value in zip(etype.key, key):
        f = etype.fields[name]
        parts.append(f"{name}={value}" if f.kind == "int" else f"{name}='{str(value).replace(chr(39), chr(39) * 2)}'")
    return ",".join(parts)
