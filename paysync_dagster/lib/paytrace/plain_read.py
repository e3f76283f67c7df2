"""Reading a record the way ``contract.PayTraceExportRecord`` does, without building the model.

The export path reads a hundred thousand records a day; the model's per-field Python validators and
its four nested objects are most of what a record costs. ``read_plain`` calls the model's own field
readers, in a plan read off the model at import (so the two cannot drift apart), and gives up (None)
on anything unusual, where the model itself is run and reports the problem as it always does.
"""

from __future__ import annotations

import functools
import operator
import typing
from typing import Any

from pydantic import BaseModel, PlainValidator

from paysync_dagster.lib.scrub import float_written_alike
from paysync_dagster.lib.paytrace.contract import (
    PayTraceExportRecord,
    RecordPart,
    read_amount,
    read_expiration_month,
    read_expiration_year,
    read_masked_number,
    read_optional_amount,
    read_optional_timestamp,
    read_text,
    read_timestamp,
    read_transaction_type,
)

#
# ``PayTraceExportRecord.model_validate`` calls a Python validator per field, text fields included,
# and builds four model objects: most of the time an export spends per record. ``read_plain`` gives
# the values the model would hold, as plain dicts, for a record the model accepts, by calling the
# same validators (skipped only for ``read_text`` on a str, which returns it as it is); for anything
# else it returns None, and the model, run on the record, says what is wrong. The plan is read off
# the model's own fields, so the two cannot drift apart: a field of another shape fails at import.

class _Plan:
    """How to read one model's fields: ``steps`` one by one (name, reader, nested plan, optional,
    required, default), or, when every field is there and every text field holds a str, the text
    fields in one C-level sweep and only the other fields one by one."""

    def __init__(self, model: type[BaseModel]) -> None:
        decorators = model.__pydantic_decorators__
        _require(model.model_config.get("extra") == "allow", model, "extra keys allowed")
        _require(not (decorators.validators or decorators.field_validators or decorators.root_validators
                      or decorators.model_validators), model, "no validators but the fields' own")
        steps = []
        for name, field in model.model_fields.items():
            _require(field.alias in (None, name) and field.validation_alias in (None, name), model, f"{name}: no alias")
            _require(field.default_factory is None, model, f"{name}: a plain default")
            readers = [m.func for m in field.metadata if isinstance(m, PlainValidator)]
            nested, optional = None, False
            if readers:
                _require(len(readers) == 1, model, f"{name}: one reader")
            else:
                args = typing.get_args(field.annotation) or (field.annotation,)
                optional = type(None) in args
                models = [a for a in args if a is not type(None)]
                _require(len(models) == 1 and isinstance(models[0], type) and issubclass(models[0], RecordPart), model,
                         f"{name}: a reader, or a record of the contract (or None)")
                nested = _Plan(models[0])
            read = readers[0] if readers else None
            steps.append((name, read, nested, optional, field.is_required(), None if field.is_required() else field.default))
        self.model = model
        self.steps = tuple(steps)
        self.names = frozenset(s[0] for s in steps)
        self.text_names = tuple(s[0] for s in steps if s[1] is read_text)
        self.all_text = len(self.text_names) == len(steps)
        self.text_values = (lambda data: ()) if not self.text_names else (
            (lambda data, n=self.text_names[0]: (data[n],)) if len(self.text_names) == 1 else operator.itemgetter(*self.text_names))
        # (name, reader, the reader remembering its answers for a str or an int, or the reader itself)
        self.read_names = tuple((s[0], s[1], _memo(s[1]) if s[1] in _PURE_READERS else s[1])
                                for s in steps if s[1] is not None and s[1] is not read_text)
        self.nested_names = tuple((s[0], s[2], s[3]) for s in steps if s[2] is not None)


def _require(condition: bool, model: type[BaseModel], what: str) -> None:
    if not condition:
        raise TypeError(f"read_plain cannot follow {model.__name__}: it expects {what}")


# Readers whose answer depends on the value alone (and is immutable): worth remembering.
_PURE_READERS = frozenset({read_transaction_type, read_amount, read_optional_amount, read_timestamp, read_optional_timestamp,
                           read_masked_number, read_expiration_month, read_expiration_year})
_ONLY_STR = frozenset({str})


# Keys seen to be text: one C-level subset test per dict instead of a loop (bounded).
_TEXT_KEYS: set[str] = set()


def _keys_are_text(data: dict[Any, Any]) -> bool:
    if data.keys() <= _TEXT_KEYS:
        return True
    if not all(isinstance(key, str) for key in data):
        return False  # the model refuses a key that is not text
    if len(_TEXT_KEYS) < 4096:
        _TEXT_KEYS.update(key for key in data if type(key) is str)
    return True


def _memo(read: Any) -> Any:
    """``read`` remembering its answers (values repeat: tax amounts, timestamps, masks, types, months),
    to be called with an exact str or int only: no other value equals one of those (``True == 1``
    and ``1.0 == 1`` would share an entry, so a bool or a float never comes here). Refusals are not
    remembered: they go to ``read`` each time."""
    return functools.lru_cache(maxsize=8192)(read)


def _read_nested(plan: _Plan, value: Any, optional: bool) -> tuple[bool, Any]:
    if value is None and optional:
        return True, None
    if type(value) is dict:
        inner = _read_plain(plan, value)
        return inner is not None, inner
    return False, None


def _read_plain(plan: _Plan, data: dict[str, Any]) -> dict[str, Any] | None:
    exact = data.keys() == plan.names  # the usual case: every field, nothing else (so every key is text)
    if not exact and not _keys_are_text(data):
        return None
    if exact or data.keys() >= plan.names:
        if plan.all_text:  # every field is text (an address): the dict itself when it is all str
            if exact and set(map(type, data.values())) <= _ONLY_STR:
                return data
        elif set(map(type, plan.text_values(data))) <= _ONLY_STR:  # read_text returns a str as it is
            out = data.copy()
            try:
                for name, read, remembering in plan.read_names:
                    value = data[name]
                    kind = type(value)
                    out[name] = remembering(value) if kind is str or kind is int else read(value)
            except Exception:  # noqa: BLE001 - the model, run on the record, reports it as it always did
                return None
            for name, nested, optional in plan.nested_names:
                value = data[name]
                if value is None and optional:
                    out[name] = None
                elif type(value) is dict and (inner := _read_plain(nested, value)) is not None:
                    out[name] = inner
                else:
                    return None
            return out
    out = {}
    for name, read, nested, optional, required, default in plan.steps:
        if name not in data:
            if required:
                return None
            out[name] = default
            continue
        value = data[name]
        if nested is not None:
            ok, out[name] = _read_nested(nested, value, optional)
            if not ok:
                return None
        elif read is read_text and type(value) is str:
            out[name] = value
        else:
            try:
                out[name] = read(value)
            except Exception:  # noqa: BLE001 - as above
                return None
    return out


def _compiled(plan: _Plan, nested_readers: dict[str, Any]) -> Any:
    """``_read_plain(plan, data)`` as one straight-line function for the usual case, written out from
    the plan (no loop over steps, no tuple unpacking, no lookups of the plan's attributes): every
    field there and nothing else, text fields holding str; or, for a record of text fields only (an
    address), some optional fields left out. Anything else goes to ``_read_plain`` itself, which
    stays the reference: the two give the same answer for every input (a test holds them to it)."""
    env: dict[str, Any] = {"NAMES": plan.names, "ONLY_STR": _ONLY_STR, "TEXT": plan.text_values,
                           "FALLBACK": functools.partial(_read_plain, plan)}
    if plan.all_text:
        required = frozenset(s[0] for s in plan.steps if s[4])
        env.update(REQUIRED=required, DEFAULTS={s[0]: s[5] for s in plan.steps})
        lines = [
            "def read(data):",
            "    keys = data.keys()",
            "    if keys == NAMES:",
            "        if set(map(type, data.values())) <= ONLY_STR:",
            "            return data",
            "    elif keys < NAMES and keys >= REQUIRED and set(map(type, data.values())) <= ONLY_STR:",
            "        out = DEFAULTS.copy()",  # the fields' defaults, in the plan's order, as _read_plain writes them
            "        out.update(data)",
            "        return out",
            "    return FALLBACK(data)",
        ]
    else:
        lines = ["def read(data):",
                 "    if data.keys() == NAMES and set(map(type, TEXT(data))) <= ONLY_STR:",
                 "        out = data.copy()"]
        if plan.read_names:
            lines.append("        try:")
            for i, (name, read, remembering) in enumerate(plan.read_names):
                env[f"READ_{i}"], env[f"MEMO_{i}"] = read, remembering
                call = f"MEMO_{i}(v) if k is str or k is int else READ_{i}(v)" if remembering is not read else f"READ_{i}(v)"
                lines += [f"            v = data[{name!r}]", "            k = type(v)", f"            out[{name!r}] = {call}"]
            lines += ["        except Exception:  # noqa: BLE001 - the model, run on the record, reports it", "            return None"]
        for i, (name, _nested, optional) in enumerate(plan.nested_names):
            env[f"NESTED_{i}"] = nested_readers[name]
            lines.append(f"        v = data[{name!r}]")
            if optional:
                lines += ["        if v is None:", f"            out[{name!r}] = None",
                          f"        elif type(v) is dict and (inner := NESTED_{i}(v)) is not None:"]
            else:
                lines.append(f"        if type(v) is dict and (inner := NESTED_{i}(v)) is not None:")
            lines += [f"            out[{name!r}] = inner", "        else:", "            return None"]
        lines += ["        return out", "    return FALLBACK(data)"]
    exec(compile("\n".join(lines), f"<plain_read {plan.model.__name__}>", "exec"), env)  # noqa: S102 - our own text
    return env["read"]


def _compile_all(plan: _Plan) -> Any:
    return _compiled(plan, {name: _compile_all(nested) for name, nested, _ in plan.nested_names})


def _read_paths(plan: _Plan) -> tuple[str, ...]:
    """The dotted paths of the fields with a reader of their own (not text), in the order
    ``exact_record`` gives their values: the record's own, then each nested record's."""
    return (*(name for name, _read, _memo in plan.read_names),
            *(f"{name}.{path}" for name, nested, _ in plan.nested_names for path in _read_paths(nested)))


class _ExactWriter:
    """Writes ``exact_record`` out as one function: the record's checks, then each nested record's
    inline (no call per nested record), the values kept in local variables ``r0``, ``r1`` ... in the
    order of ``_read_paths``. See ``exact_record``."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {"ONLY_STR": _ONLY_STR, "FLOAT_OK": float_written_alike}
        self.lines: list[str] = []
        self.values = 0
        self.names = 0

    def constant(self, value: Any) -> str:
        name = f"C{self.names}"
        self.names += 1
        self.env[name] = value
        return name

    def emit(self, depth: int, *lines: str) -> None:
        self.lines.extend("    " * depth + line for line in lines)

    def plan(self, plan: _Plan, data: str, depth: int) -> None:
        """The checks of ``plan`` on the dict in variable ``data`` (known to be exactly a dict), at ``depth``."""
        names = self.constant(plan.names)
        if plan.all_text:
            required = self.constant(frozenset(s[0] for s in plan.steps if s[4]))
            self.emit(depth, f"keys = {data}.keys()",
                      f"if not ((keys == {names} or (keys < {names} and keys >= {required}))"
                      f" and set(map(type, {data}.values())) <= ONLY_STR):", "    return None")
            return
        self.emit(depth, f"if {data}.keys() != {names}:", "    return None")
        if plan.text_names:
            self.emit(depth, f"if not set(map(type, {self.constant(plan.text_values)}({data}))) <= ONLY_STR:", "    return None")
        if plan.read_names:
            self.emit(depth, "try:")
            for name, read, remembering in plan.read_names:
                value = f"r{self.values}"
                self.values += 1
                self.emit(depth + 1, f"v = {data}[{name!r}]", "k = type(v)",
                          "if k is str or k is int:", f"    {value} = {self.constant(remembering)}(v)",
                          "elif v is None or (k is float and FLOAT_OK(v)):", f"    {value} = {self.constant(read)}(v)",
                          "else:", "    return None")
            self.emit(depth, "except Exception:  # noqa: BLE001 - refused: the long way says why", "    return None")
        for name, nested, optional in plan.nested_names:
            inner = f"d{self.names}"
            self.names += 1
            first = self.values
            self.emit(depth, f"{inner} = {data}[{name!r}]", f"if type({inner}) is dict:")
            self.plan(nested, inner, depth + 1)
            if optional:
                absent = [f"r{i}" for i in range(first, self.values)]
                self.emit(depth, f"elif {inner} is None:", f"    {' = '.join([*absent, 'None']) if absent else 'pass'}")
            self.emit(depth, "else:", "    return None")

    def function(self, plan: _Plan) -> Any:
        self.emit(0, "def exact(data):", "    if type(data) is not dict:", "        return None")
        self.plan(plan, "data", 1)
        self.emit(1, f"return ({''.join(f'r{i}, ' for i in range(self.values))})")
        exec(compile("\n".join(self.lines), f"<plain_read exact {plan.model.__name__}>", "exec"), self.env)  # noqa: S102 - our own text
        return self.env["exact"]


_RECORD_PLAN = _Plan(PayTraceExportRecord)
_read_record = _compile_all(_RECORD_PLAN)

#: The fields ``exact_record`` gives the values of, in that order, as dotted paths.
READ_PATHS: tuple[str, ...] = _read_paths(_RECORD_PLAN)


def _field_names(plan: _Plan) -> frozenset[str]:
    return plan.names.union(*(_field_names(nested) for _, nested, _ in plan.nested_names))


#: Every key an exact record may hold, at any depth (the model's field names).
FIELD_NAMES: frozenset[str] = _field_names(_RECORD_PLAN)

exact_record = _ExactWriter().function(_RECORD_PLAN)
exact_record.__doc__ = """``exact_record(record) -> tuple | None``: for a record of the usual shape, read the way
``read_plain`` reads it, the values of the fields that have a reader of their own, in the order of
``READ_PATHS`` (None under a nested record that is None). None for anything else, whether the model
accepts it or not: take ``read_plain`` then.

The usual shape: a plain dict with every field of the model and no other key (an address may leave
optional fields out), nested records plain dicts of that shape too or None where the model allows,
text fields str, every other field a str, an int, None or a float ``scrub.float_written_alike``
passes, which its reader accepts. So every key equals one of ``FIELD_NAMES``, every value is
exactly a str, int, float, None or a dict of such values (nothing deeper), and every float is one
``scrub.float_written_alike`` passes: what ``scrub.plain_json`` asks of a document (a key that is a
subclass of str, which the model reads as its text, ``plain_json`` turns away itself). A test holds
this to ``read_plain`` and to the model."""


def read_plain(record: Any) -> dict[str, Any] | None:
    """The values ``PayTraceExportRecord.model_validate(record)`` holds for its fields (nested records
    as dicts; extra keys may be there too, as they are), or None when the model would refuse the
    record, or when the record is not a plain dict. The result may share dicts with ``record``: read
    it, do not change it. It does not check ``problem_in_values``: that comes first, as ever."""
    return _read_record(record) if type(record) is dict else None
