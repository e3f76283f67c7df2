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


_RECORD_PLAN = _Plan(PayTraceExportRecord)


def read_plain(record: Any) -> dict[str, Any] | None:
    """The values ``PayTraceExportRecord.model_validate(record)`` holds for its fields (nested records
    as dicts; extra keys may be there too, as they are), or None when the model would refuse the
    record, or when the record is not a plain dict. The result may share dicts with ``record``: read
    it, do not change it. It does not check ``problem_in_values``: that comes first, as ever."""
    return _read_plain(_RECORD_PLAN, record) if type(record) is dict else None
