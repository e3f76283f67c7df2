"""The ADF REST framework conventions, independent of any one resource (spec §1-§2, §4-§5).

A resource module describes itself with a :class:`ResourceSpec` (attributes, how to find, render,
create, update, delete its records, its children and custom actions); :func:`dispatch` serves every
URL shape under the version root for it, and :func:`run_batch` runs a batch request through the same
dispatcher inside one all-or-nothing transaction. Nothing here knows HTTP: the app turns a request
into a :class:`Call` and a :class:`Result` (or :class:`~.state.ApiError`) into a response, so batch
parts and real requests behave identically.

Conventions implemented: ``q`` (v1/v2, see :mod:`.query`), ``finder``, ``limit`` (default 25, capped
at 500), ``offset``, ``hasMore``, ``count``, ``totalResults=true``, ``fields`` (``A,B;Child:C``),
``expand`` (``all`` or child names; ignored when ``fields`` is given), ``orderBy``, ``onlyData``,
``links=<rel,...>``; item ``links`` with ``self``/``canonical``/``child`` and a ``changeIndicator``,
echoed as the ``ETag`` header; ``If-Match`` on PATCH/DELETE (412 when stale); nested children as a
bare array below REST-Framework-Version 3 and as a collection object from 3 on.

Single calls are not wrapped in a rollback: every resource function validates everything before it
changes anything, so a refused call leaves no trace. Only a batch takes a snapshot (one deep copy of
the store per batch), because its parts are independent calls that must stand or fall together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from .query import (FieldSelection, QueryError, equalities, is_trivial, order_rows, parse_fields, parse_finder,
                    parse_order_by, parse_q)
from .state import SANDBOX_USER, ApiError, OracleState

ITEM = "application/vnd.oracle.adf.resourceitem+json"
COLLECTION = "application/vnd.oracle.adf.resourcecollection+json"
ACTION = "application/vnd.oracle.adf.action+json"
ACTION_RESULT = "application/vnd.oracle.adf.actionresult+json"
BATCH = "application/vnd.oracle.adf.batch+json"
ERROR = "application/vnd.oracle.adf.error+json"
DESCRIPTION = "application/vnd.oracle.adf.description+json"
JSON_TYPES = ("application/json", ITEM)

DEFAULT_LIMIT = 25
MAX_LIMIT = 500  # [unverified] the spec's "commonly 25 and the maximum 500"
BATCH_OPERATIONS = {"get": "GET", "create": "POST", "update": "PATCH", "replace": "PUT", "delete": "DELETE"}

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          412: "Precondition Failed", 415: "Unsupported Media Type", 500: "Internal Server Error"}

Render = Callable[[OracleState, Any], dict[str, Any]]


@dataclass
class Call:
    """One REST call, from HTTP or from a batch part. ``path`` is relative to the version root."""

    method: str
    path: str
    params: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: Any
    base_url: str  # absolute URL of the version root, without the trailing slash
    framework_version: int
    content_type: str = ""
    in_batch: bool = False
    user: str = SANDBOX_USER


@dataclass
class Result:
    status: int
    body: Any = None
    media_type: str = ITEM
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ChildSpec:
    name: str
    attributes: tuple[str, ...]
    rows: Callable[[OracleState, Any], list[Any]]
    key_of: Callable[[Any], str]
    render: Render
    create: Callable[[OracleState, Any, dict], Any] | None = None
    update: Callable[[OracleState, Any, Any, dict], None] | None = None
    delete: Callable[[OracleState, Any, Any], None] | None = None
    query_values: Callable[[Any], dict] | None = None


@dataclass
class ResourceSpec:
    name: str
    attributes: tuple[str, ...]
    rows: Callable[[OracleState], Iterable[Any]]
    find: Callable[[OracleState, str], Any | None]
    key_of: Callable[[Any], str]
    render: Render
    create: Callable[[OracleState, dict, Call], tuple[Any, bool]] | None = None  # (record, created?)
    update: Callable[[OracleState, Any, dict], None] | None = None
    delete: Callable[[OracleState, Any], None] | None = None
    children: dict[str, ChildSpec] = field(default_factory=dict)
    actions: dict[str, Callable[[OracleState, Any, dict], Any]] = field(default_factory=dict)
    finders: dict[str, dict[str, str]] = field(default_factory=dict)
    query_values: Callable[[Any], dict] | None = None
    unsupported: dict[str, str] = field(default_factory=dict)  # method -> message (e.g. POST)
    # (state, attribute, literal) -> the records whose attribute equals literal, from an index; None
    # when that attribute has no index. Lets "q=TransactionNumber='X'" skip rendering every record.
    lookup: Callable[[OracleState, str, str], list[Any] | None] | None = None


Registry = Mapping[str, ResourceSpec]


# -- helpers ------------------------------------------------------------------------------------------

def not_found(what: str = "") -> ApiError:
    return ApiError(404, f"The requested resource {what} was not found.".replace("  ", " "))


def change_indicator(kind: str, key: str, version: int) -> str:
    """An opaque hex token per (record, version), in the spirit of ADF's serialized indicators."""
    return hashlib.sha256(f"{kind}|{key}|{version}".encode()).hexdigest()[:40].upper()


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _if_match(call: Call, current: str) -> None:
    wanted = call.headers.get("if-match")
    if wanted is None:
        return
    tags = [t.strip().removeprefix("W/").strip('"') for t in wanted.split(",")]
    if "*" not in tags and current not in tags:
        raise ApiError(412, "The resource was changed by another request since it was retrieved. "
                            "Get it again and repeat the change.")


def _payload_object(call: Call) -> dict:
    if call.content_type and _media(call.content_type) not in JSON_TYPES:
        raise ApiError(415, f"The media type {call.content_type} isn't supported for this request.")
    if not isinstance(call.body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return call.body


def _int_param(call: Call, name: str, default: int) -> int:
    raw = call.params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"URL request parameter {name} with value '{raw}' is invalid.") from None
    if value < 0 or (name == "limit" and value == 0):
        raise ApiError(400, f"URL request parameter {name} with value '{raw}' is invalid.")
    return value


def _flag(call: Call, name: str) -> bool:
    return call.params.get(name, "").lower() == "true"


@dataclass
class _Shape:
    """How items are shaped for one call: fields, expanded children, links."""

    fields: FieldSelection | None
    expand: set[str] | None  # None = no children expanded; names otherwise
    only_data: bool
    link_rels: set[str] | None
    framework_version: int


def _shape(call: Call, children: Iterable[str]) -> _Shape:
    try:
        fields = parse_fields(call.params.get("fields"))
    except QueryError as exc:
        raise ApiError(400, str(exc)) from None
    names = set(children)
    expand: set[str] | None = None
    if fields is not None:  # "fields and expand cannot be combined; only fields is used"
        expand = set(fields.children)
    elif call.params.get("expand"):
        raw = call.params["expand"]
        expand = set(names) if raw.strip().lower() == "all" else {p.split(".")[0].strip() for p in raw.split(",")}
    if expand:
        unknown = expand - names
        if unknown:
            raise ApiError(400, f"URL request parameter {'fields' if fields is not None else 'expand'} "
                                f"names an unknown child: {', '.join(sorted(unknown))}.")
    links = call.params.get("links")
    return _Shape(fields, expand, _flag(call, "onlyData"),
                  {r.strip() for r in links.split(",") if r.strip()} if links else None, call.framework_version)


def _links(shape: _Shape, href: str, name: str, indicator: str | None, children: Iterable[str]) -> list[dict]:
    links: list[dict] = [{"rel": "self", "href": href, "name": name, "kind": "item"}]
    if indicator is not None:
        links[0]["properties"] = {"changeIndicator": indicator}
    links.append({"rel": "canonical", "href": href, "name": name, "kind": "item"})
    links.extend({"rel": "child", "href": f"{href}/child/{c}", "name": c, "kind": "collection"} for c in children)
    if shape.link_rels is not None:
        links = [link for link in links if link["rel"] in shape.link_rels]
    return links


def _select(row: dict, wanted: list[str] | None, attributes: tuple[str, ...]) -> dict:
    if wanted is None:
        return dict(row)
    unknown = [w for w in wanted if w not in attributes]
    if unknown:
        raise ApiError(400, f"URL request parameter fields names an unknown attribute: {', '.join(unknown)}.")
    return {w: row.get(w) for w in wanted}


def _child_items(state: OracleState, child: ChildSpec, parent: Any, parent_href: str, shape: _Shape,
                 wanted: list[str] | None) -> Any:
    href = f"{parent_href}/child/{child.name}"
    items = []
    for rec in child.rows(state, parent):
        out = _select(child.render(state, rec), wanted, child.attributes)
        if not shape.only_data:
            out["links"] = _links(shape, f"{href}/{quote(child.key_of(rec), safe='')}", child.name, None, ())
        items.append(out)
    if shape.framework_version < 3:
        return items
    envelope: dict[str, Any] = {"items": items, "count": len(items), "hasMore": False, "limit": max(len(items), DEFAULT_LIMIT),
                                "offset": 0}
    if not shape.only_data:
        envelope["links"] = [{"rel": "self", "href": href, "name": child.name, "kind": "collection"}]
    return envelope


def item_body(state: OracleState, spec: ResourceSpec, record: Any, call: Call, shape: _Shape | None = None,
              *, include_children: Iterable[str] = ()) -> dict:
    """A resource item as the framework renders it (attributes, expanded children, links)."""
    shape = shape or _shape(call, spec.children)
    key = spec.key_of(record)
    href = f"{call.base_url}/{spec.name}/{quote(key, safe='')}"
    out = _select(spec.render(state, record), shape.fields.item if shape.fields else None, spec.attributes)
    expand = set(shape.expand or ()) | set(include_children)
    for name in spec.children:
        if name in expand:
            wanted = shape.fields.children.get(name) if shape.fields else None
            out[name] = _child_items(state, spec.children[name], record, href, shape, wanted)
    if not shape.only_data:
        indicator = change_indicator(spec.name, key, getattr(record, "version", 1))
        out["links"] = _links(shape, href, spec.name, indicator, spec.children)
    return out


def _filtered(state: OracleState, call: Call, records: Iterable[Any], render: Render, attributes: tuple[str, ...],
              query_values: Callable[[Any], dict] | None, finders: Mapping[str, Mapping[str, str]],
              lookup: Callable[[OracleState, str, str], list[Any] | None] | None = None) -> list[Any]:
    """The records matching ``q`` and ``finder``, in ``orderBy`` order (else in ``records`` order)."""
    try:
        predicate = parse_q(call.params.get("q", ""), attributes, call.framework_version)
        finder = parse_finder(call.params["finder"], finders) if call.params.get("finder") else None
        order = parse_order_by(call.params.get("orderBy", ""), attributes)
    except QueryError as exc:
        raise ApiError(400, str(exc)) from None
    if is_trivial(predicate) and finder is None and not order:
        return list(records)  # nothing to evaluate: render only the page later
    candidates: Iterable[Any] = records
    if lookup is not None:
        for attr, literal in equalities(predicate) + (equalities(finder) if finder else []):
            hits = lookup(state, attr, literal)
            if hits is not None:
                wanted = {id(r) for r in hits}
                candidates = [r for r in records if id(r) in wanted]  # keeps the collection's order
                break
    pairs = []
    for rec in candidates:
        row = render(state, rec)
        view = {**row, **query_values(rec)} if query_values else row
        if predicate(view) and (finder is None or finder(view)):
            pairs.append((rec, view))
    if order:
        views = order_rows([dict(v, __i=i) for i, (_, v) in enumerate(pairs)], order)
        pairs = [pairs[v["__i"]] for v in views]
    return [rec for rec, _ in pairs]


def _page(call: Call) -> tuple[int, int]:
    limit = min(_int_param(call, "limit", DEFAULT_LIMIT), MAX_LIMIT)
    offset = _int_param(call, "offset", 0)
    return limit, offset


def _collection_href(call: Call, path: str) -> str:
    query = urlencode(sorted(call.params.items()))
    return f"{call.base_url}{path}" + (f"?{query}" if query else "")


def _envelope(call: Call, shape: _Shape, items: list[dict], total: int, limit: int, offset: int, path: str,
              name: str) -> dict:
    body: dict[str, Any] = {"items": items}
    if _flag(call, "totalResults"):
        body["totalResults"] = total
    body.update({"count": len(items), "hasMore": offset + len(items) < total, "limit": limit, "offset": offset})
    if not shape.only_data:
        body["links"] = [{"rel": "self", "href": _collection_href(call, path), "name": name, "kind": "collection"}]
    return body


def collection_body(state: OracleState, spec: ResourceSpec, call: Call) -> dict:
    shape = _shape(call, spec.children)
    records = _filtered(state, call, list(spec.rows(state)), spec.render, spec.attributes, spec.query_values,
                        spec.finders, spec.lookup)
    limit, offset = _page(call)
    items = [item_body(state, spec, rec, call, shape) for rec in records[offset:offset + limit]]
    return _envelope(call, shape, items, len(records), limit, offset, f"/{spec.name}", spec.name)


def _child_collection(state: OracleState, spec: ResourceSpec, child: ChildSpec, parent: Any, call: Call) -> dict:
    shape = _shape(call, ())
    parent_href = f"{call.base_url}/{spec.name}/{quote(spec.key_of(parent), safe='')}"
    href = f"{parent_href}/child/{child.name}"
    records = _filtered(state, call, child.rows(state, parent), child.render, child.attributes, child.query_values, {})
    limit, offset = _page(call)
    items = []
    for rec in records[offset:offset + limit]:
        out = _select(child.render(state, rec), shape.fields.item if shape.fields else None, child.attributes)
        if not shape.only_data:
            out["links"] = _links(shape, f"{href}/{quote(child.key_of(rec), safe='')}", child.name, None, ())
        items.append(out)
    path = f"/{spec.name}/{quote(spec.key_of(parent), safe='')}/child/{child.name}"
    return _envelope(call, shape, items, len(records), limit, offset, path, child.name)


def _child_item(state: OracleState, spec: ResourceSpec, child: ChildSpec, parent: Any, rec: Any, call: Call) -> dict:
    shape = _shape(call, ())
    href = f"{call.base_url}/{spec.name}/{quote(spec.key_of(parent), safe='')}/child/{child.name}/" \
           f"{quote(child.key_of(rec), safe='')}"
    out = _select(child.render(state, rec), shape.fields.item if shape.fields else None, child.attributes)
    if not shape.only_data:
        out["links"] = _links(shape, href, child.name, None, ())
    return out


def describe(spec: ResourceSpec) -> dict:
    """A reduced ``/describe``: attributes (all queryable in the sandbox), children, actions, finders."""
    return {"Resources": {spec.name: {
        "attributes": [{"name": a, "queryable": True} for a in spec.attributes],
        "children": {name: {"attributes": [{"name": a, "queryable": True} for a in c.attributes]}
                     for name, c in spec.children.items()},
        "actions": [{"name": a, "method": "POST", "requestType": [ACTION], "responseType": [ACTION_RESULT]}
                    for a in spec.actions],
        "finders": [{"name": f, "attributes": [{"name": v} for v in vs]} for f, vs in spec.finders.items()],
    }}}


def _action_params(body: Any) -> dict:
    """Flat ``{"param": value}`` (Fusion's documented shape) or ADF's ``{"name", "parameters": [{..}]}``."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "The action request body must be a JSON object.")
    if isinstance(body.get("parameters"), list):
        merged: dict = {}
        for entry in body["parameters"]:
            if isinstance(entry, dict):
                merged.update(entry)
        return merged
    return dict(body)


# -- dispatch ---------------------------------------------------------------------------------------------

def dispatch(state: OracleState, registry: Registry, call: Call) -> Result:
    """Serve one call under the state lock; raises :class:`ApiError` for refusals."""
    segments = [unquote(s) for s in call.path.strip("/").split("/") if s != ""]
    if not segments:
        raise ApiError(405, f"{call.method} action not supported")
    spec = registry.get(segments[0])
    if spec is None:
        raise not_found(segments[0])
    method = call.method.upper()
    with state.lock:
        state.acting_user = call.user
        if len(segments) == 1:
            if method == "GET":
                return Result(200, collection_body(state, spec, call), COLLECTION)
            if method == "POST" and spec.create is not None:
                payload = _payload_object(call)
                record, created = spec.create(state, payload, call)
                inline = [c for c in spec.children if c in payload]
                body = item_body(state, spec, record, call, include_children=inline)
                return Result(201 if created else 200, body, ITEM, _etag(spec, record))
            raise ApiError(405, spec.unsupported.get(method, f"{method} action not supported"))
        if len(segments) == 2 and segments[1] == "describe" and method == "GET":
            return Result(200, describe(spec), DESCRIPTION)
        record = spec.find(state, segments[1])
        if record is None:
            raise not_found(f"{spec.name}/{segments[1]}")
        if len(segments) == 2:
            return _item_call(state, spec, record, call, method)
        if len(segments) == 4 and segments[2] == "action":
            return _action_call(state, spec, record, segments[3], call, method)
        if segments[2] == "child" and len(segments) in (4, 5):
            child = spec.children.get(segments[3])
            if child is None:
                raise not_found(segments[3])
            return _child_call(state, spec, child, record, segments[4] if len(segments) == 5 else None, call, method)
        raise not_found("/".join(segments[2:]))


def _etag(spec: ResourceSpec, record: Any) -> dict[str, str]:
    return {"ETag": change_indicator(spec.name, spec.key_of(record), getattr(record, "version", 1))}


def _item_call(state: OracleState, spec: ResourceSpec, record: Any, call: Call, method: str) -> Result:
    current = change_indicator(spec.name, spec.key_of(record), getattr(record, "version", 1))
    if method == "GET":
        return Result(200, item_body(state, spec, record, call), ITEM, {"ETag": current})
    if method in ("PATCH", "PUT") and spec.update is not None:
        payload = _payload_object(call)
        _if_match(call, current)
        spec.update(state, record, payload)
        inline = [c for c in spec.children if c in payload]
        return Result(200, item_body(state, spec, record, call, include_children=inline), ITEM, _etag(spec, record))
    if method == "DELETE" and spec.delete is not None:
        _if_match(call, current)
        spec.delete(state, record)
        return Result(204, None)
    raise ApiError(405, f"{method} action not supported")


def _action_call(state: OracleState, spec: ResourceSpec, record: Any, name: str, call: Call, method: str) -> Result:
    action = spec.actions.get(name)
    if action is None:
        raise not_found(f"action {name}")
    if call.in_batch and name not in state.batch_actions:
        raise ApiError(400, f"The action {name} isn't enabled for batch execution.")
    if method != "POST":
        raise ApiError(405, f"{method} action not supported")
    if not call.in_batch and _media(call.content_type) != ACTION:  # a batch part has no media type of its own
        raise ApiError(415, f"A custom action takes the media type {ACTION}, not {call.content_type or 'none'}.")
    result = action(state, record, _action_params(call.body))
    return Result(200, {"result": result}, ACTION_RESULT)


def _child_call(state: OracleState, spec: ResourceSpec, child: ChildSpec, parent: Any, key: str | None, call: Call,
                method: str) -> Result:
    if key is None:
        if method == "GET":
            return Result(200, _child_collection(state, spec, child, parent, call), COLLECTION)
        if method == "POST" and child.create is not None:
            payload = _payload_object(call)
            rec = child.create(state, parent, payload)
            return Result(201, _child_item(state, spec, child, parent, rec, call), ITEM)
        raise ApiError(405, f"{method} action not supported")
    rec = next((r for r in child.rows(state, parent) if child.key_of(r) == key), None)
    if rec is None:
        raise not_found(f"{child.name}/{key}")
    if method == "GET":
        return Result(200, _child_item(state, spec, child, parent, rec, call), ITEM)
    if method in ("PATCH", "PUT") and child.update is not None:
        payload = _payload_object(call)
        child.update(state, parent, rec, payload)
        return Result(200, _child_item(state, spec, child, parent, rec, call), ITEM)
    if method == "DELETE" and child.delete is not None:
        child.delete(state, parent, rec)
        return Result(204, None)
    raise ApiError(405, f"{method} action not supported")


# -- batch --------------------------------------------------------------------------------------------------

class _BatchFailed(Exception):
    def __init__(self, failures: list[dict]):
        super().__init__("batch failed")
        self.failures = failures


def error_json(err: ApiError) -> dict:
    """The ``o:errorDetails`` problem body (spec §4; [unverified] as a Fusion shape)."""
    return {
        "type": "http://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
        "title": TITLES.get(err.status, "Error"),
        "detail": "\n".join(d for d, _ in err.messages),
        "status": str(err.status),
        "o:errorDetails": [{"detail": d, "o:errorCode": c} for d, c in err.messages],
    }


def run_batch(state: OracleState, registry: Registry, call: Call) -> Result:
    """All-or-nothing: every part runs in order in one transaction; any failure rolls all back and the
    answer (400) lists only the failing parts, each with an error payload ([unverified] shape)."""
    if _media(call.content_type) != BATCH:
        raise ApiError(415, f"A batch request takes the media type {BATCH}, not {call.content_type or 'none'}.")
    parts = call.body.get("parts") if isinstance(call.body, dict) else None
    if not isinstance(parts, list) or not parts:
        raise ApiError(400, "The batch request must have a non-empty parts array.")
    results: list[dict] = []
    if all(isinstance(p, dict) and str(p.get("operation") or "").lower() == "get" for p in parts):
        # Reads change nothing, so there is nothing to roll back: no snapshot of the store.
        with state.lock:
            outcomes = [_batch_part(state, registry, call, part) for part in parts]
        failures = [o for o in outcomes if o.pop("_failed")]
        if failures:
            state.count("batches_rolled_back")
            return Result(400, {"parts": failures}, BATCH)
        state.count("batches_committed")
        return Result(200, {"parts": outcomes}, BATCH)
    try:
        with state.transaction():
            failures: list[dict] = []
            for part in parts:
                outcome = _batch_part(state, registry, call, part)
                (failures if outcome.pop("_failed") else results).append(outcome)
            if failures:
                raise _BatchFailed(failures)
    except _BatchFailed as failed:
        state.count("batches_rolled_back")
        return Result(400, {"parts": failed.failures}, BATCH)
    state.count("batches_committed")
    return Result(200, {"parts": results}, BATCH)


def _batch_part(state: OracleState, registry: Registry, call: Call, part: Any) -> dict:
    if not isinstance(part, dict):
        err = ApiError(400, "A batch part must be a JSON object.")
        return {"_failed": True, "id": None, "path": None, "operation": None, "payload": error_json(err)}
    pid, raw_path, operation = part.get("id"), str(part.get("path") or ""), str(part.get("operation") or "")
    if "/resources/" in raw_path and raw_path.startswith(("http://", "https://")):
        raw_path = "/" + raw_path.split("/resources/", 1)[1].split("/", 1)[1]
    path, _, query = raw_path.partition("?")
    outcome: dict[str, Any] = {"id": pid, "path": f"{call.base_url}{path}", "operation": operation}
    method = BATCH_OPERATIONS.get(operation.lower())
    try:
        if method is None:
            raise ApiError(400, f"Invalid operation {operation} for the specified resource.")
        sub = Call(method=method, path=path, params=dict(parse_qsl(query, keep_blank_values=True)), headers=call.headers,
                   body=part.get("payload"), base_url=call.base_url, framework_version=call.framework_version,
                   content_type=ITEM, in_batch=True, user=call.user)
        result = dispatch(state, registry, sub)
    except ApiError as err:
        return {**outcome, "payload": error_json(err), "_failed": True}
    return {**outcome, "payload": result.body, "_failed": False}
