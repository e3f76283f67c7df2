"""The Sage 300 Web API as a local sandbox, faithful to ``specs/sage300_webapi.md``.

``create_sage_app(...)`` returns a :class:`SageSandbox`; ``.api`` serves
``/Sage300WebApi/v1.0/-/{COMPANY}/{MODULE}/{Resource}[(key)][/{DetailCollection}]`` (company ``SAMLTD``
by default; another company is 404 ``ResourceNotFound``) and ``.control`` the control API
(:mod:`.control`, default ``/_sandbox/sage/...``). The composed sandbox (``sandbox/server.py``) mounts
both behind its one fault injector; called directly, a :class:`SageSandbox` routes the two itself.

Order of checks on every API request: credentials (401/403, or 500 ``SessionError``; see
:mod:`.security`), the company database (500 ``DBLinkError`` while the control API has it offline),
the route (404 ``ResourceNotFound``: version ``v1.0``, tenant ``-``, the company, a known module and
resource), ``Content-Type: application/json`` (required on every request, GET included; anything else
is 500 ``InternalServerError``, as the developer reference warns), then the verb (405
``MethodNotAllowed``).

Verbs: GET a collection (OData envelope and paging, :mod:`.odata`) or an entry (the object itself,
``$select`` applies; unknown key 404 ``RecordNotFound``); GET ``Entry(key)/Details`` gives a detail
collection (e.g. an unposted batch's ``ReceiptsAdjustments``) in the same envelope. POST creates (201,
the stored record with the server's keys, and ``Location``); PATCH changes (200 with the record);
``Resource('$process')`` runs a process (200, the parameters echoed with its results);
``Resource('$template')`` answers a default-filled body. Resources and their rules: :mod:`.resources`
and the modules it lists. ``$metadata`` (EDMX) is not served.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..asgi import acknowledge_lifespan
from . import odata
from .control import control_app
from .errors import SageError
from .resources import MODULES, RESOURCES, Resource
from .schema import blank, render
from .security import authenticate, set_cookie
from .state import DEFAULT_COMPANY, DEFAULT_PAGE_SIZE, SageState, utc_now
from .wire import dumps, loads

log = logging.getLogger(__name__)

API_PREFIX = "/Sage300WebApi"
VERSION = "v1.0"
TENANT = "-"
CONTROL_PREFIX = "/_sandbox/sage"
JSON = "application/json; charset=utf-8"


class _Answer:
    __slots__ = ("status", "body", "headers")

    def __init__(self, status: int, body: Any = None, headers: Mapping[str, str] | None = None):
        self.status, self.body, self.headers = status, body, dict(headers or {})


def _split_resource(segment: str) -> tuple[str, str | None, str]:
    """``Name('k')/Nav`` -> (Name, "'k'", "Nav"); the key's parentheses are matched outside quotes."""
    i = segment.find("(")
    if i < 0:
        name, _, nav = segment.partition("/")
        return name, None, nav
    quoted = False
    for j in range(i + 1, len(segment)):
        ch = segment[j]
        if ch == "'":
            quoted = not quoted
        elif ch == ")" and not quoted:
            rest = segment[j + 1:]
            if rest and not rest.startswith("/"):
                break
            return segment[:i], segment[i + 1:j], rest[1:]
    raise SageError("InvalidEntityKey", f"The key in '{segment}' is not closed.")


class SageSandbox:
    """The ASGI app. ``.state`` is the company store, ``.api`` the Web API, ``.control`` the control API."""

    def __init__(self, state: SageState, *, control_prefix: str = CONTROL_PREFIX):
        self.state = state
        self.control_prefix = control_prefix.rstrip("/")
        self._lock = threading.Lock()
        self._requests: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.control = control_app(self, self.control_prefix)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await acknowledge_lifespan(receive, send)
            return
        path = scope.get("path", "")
        if path == self.control_prefix or path.startswith(self.control_prefix + "/"):
            await self.control(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def api(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        base = str(request.base_url).rstrip("/")
        headers = {k.lower(): v for k, v in request.headers.items()}
        answer, what = await run_in_threadpool(self.handle, request.method.upper(), scope["path"],
                                               dict(request.query_params), headers, body, base)
        self._count(f"{request.method.upper()} {what}", answer.status)
        content = b"" if answer.body is None else dumps(answer.body)
        response = Response(content, answer.status, media_type=JSON if answer.body is not None else None)
        for name, value in answer.headers.items():
            response.headers.append(name, value)
        await response(scope, receive, send)

    # -- statistics ----------------------------------------------------------------------------------

    def _count(self, what: str, status: int) -> None:
        with self._lock:
            self._requests[what][str(status)] += 1

    def statistics(self) -> dict[str, Any]:
        with self._lock:
            requests = {k: dict(v) for k, v in sorted(self._requests.items())}
        return {"sage": self.state.counts(), "requests": requests}

    def reset_statistics(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- one request -----------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: Mapping[str, str], headers: Mapping[str, str], body: bytes,
               base: str) -> tuple[_Answer, str]:
        what = "(unrouted)"
        cookie: str | None = None
        try:
            with self.state.lock:
                caller = authenticate(self.state, headers)
                cookie = caller.new_session
                if self.state.database_offline:
                    raise SageError("DBLinkError", f"Cannot open the database of company {self.state.company}.")
                resource, key_text, nav, module_root = self._route(path)
                what = f"{resource.module}/{resource.name}" if resource else module_root or what
                content_type = headers.get("content-type", "")
                if "application/json" not in content_type.lower():
                    raise SageError("InternalServerError",
                                    f"An error has occurred. The request's Content-Type is "
                                    f"'{content_type or '(none)'}'; the Web API needs application/json.")
                root = f"{base}{API_PREFIX}/{VERSION}/{TENANT}/{self.state.company}"
                if resource is None:
                    answer = self._module_root(method, root, module_root or "")
                else:
                    answer = self._serve(resource, method, key_text, nav, params, body, root)
        except SageError as err:
            answer = _Answer(err.status, err.body(), err.headers)
        except Exception:  # noqa: BLE001 - answered as the Web API answers its own failures
            log.exception("sandbox error on %s %s", method, path)
            err = SageError("InternalServerError", "An error has occurred.")
            answer = _Answer(err.status, err.body())
        if cookie:
            answer.headers["set-cookie"] = set_cookie(cookie)
        return answer, what

    def _route(self, path: str) -> tuple[Resource | None, str | None, str, str | None]:
        rest = path[len(API_PREFIX):].strip("/") if path.startswith(API_PREFIX) else None
        parts = rest.split("/", 4) if rest else []
        if len(parts) < 4 or parts[0] != VERSION or parts[1] != TENANT:
            raise SageError("ResourceNotFound", f"No resource was found that matches the request URI '{path}'.")
        if parts[2].upper() != self.state.company:
            raise SageError("ResourceNotFound", f"Company '{parts[2]}' was not found.")
        module = parts[3]
        if module not in MODULES:
            raise SageError("ResourceNotFound", f"No resource was found that matches the request URI '{path}'.")
        if len(parts) == 4 or not parts[4]:
            return None, None, "", module
        name, key_text, nav = _split_resource(parts[4])
        resource = RESOURCES.get((module, name))
        if resource is None:
            raise SageError("ResourceNotFound", f"No resource was found that matches the request URI '{path}'.")
        return resource, key_text, nav, None

    def _module_root(self, method: str, root: str, module: str) -> _Answer:
        if method != "GET":
            raise SageError("MethodNotAllowed", f"The requested resource does not support http method '{method}'.")
        sets = sorted(name for m, name in RESOURCES if m == module)
        return _Answer(200, {"@odata.context": f"{root}/{module}/$metadata",
                             "value": [{"name": n, "url": n,
                                        "kind": "ActionImport" if RESOURCES[(module, n)].is_process else "EntitySet"}
                                       for n in sets]})

    def _serve(self, resource: Resource, method: str, key_text: str | None, nav: str, params: Mapping[str, str],
               body: bytes, root: str) -> _Answer:
        state, etype = self.state, resource.etype
        set_url = f"{root}/{resource.module}/{resource.name}"
        context = f"{root}/{resource.module}/$metadata#{resource.name}"

        def not_allowed() -> SageError:
            return SageError("MethodNotAllowed", f"The requested resource does not support http method '{method}'.")

        if key_text is not None and key_text.strip().strip("'") in ("$process", "$template"):
            action = key_text.strip().strip("'")
            if method != "POST":
                raise not_allowed()
            if action == "$process":
                if resource.process is None:
                    raise SageError("ResourceNotFound", f"{resource.name} has no process.")
                return _Answer(200, render(resource.process(state, loads(body)), etype))
            if resource.is_process or resource.create is None:
                raise SageError("ResourceNotFound", f"{resource.name} has no template.")
            return _Answer(200, resource.template(state) if resource.template else render(blank(etype), etype))
        if resource.is_process:
            raise not_allowed()  # a process is only reached through ('$process')
        if key_text is None:
            if nav:
                raise SageError("ResourceNotFound", f"No resource was found for '{resource.name}/{nav}'.")
            if method == "GET":
                q = odata.parse_query(params, etype)
                hints = odata.equalities(q.predicate)
                assert resource.rows is not None
                return _Answer(200, odata.collection(resource.rows(state, hints), q, etype, context=context,
                                                     next_base=set_url, page_size=state.page_size))
            if method == "POST" and resource.create is not None:
                row = resource.create(state, _required(loads(body)))
                key = tuple(row[k] for k in etype.key)
                return _Answer(201, render(row, etype), {"location": f"{set_url}({odata.key_text(etype, key)})"})
            raise not_allowed()
        key = odata.parse_key(key_text, etype)
        if nav:
            f = etype.fields.get(nav)
            if f is None or f.kind != "many" or f.child is None:
                raise SageError("ResourceNotFound", f"'{nav}' is not a detail collection of {resource.name}.")
            if method != "GET":
                raise not_allowed()
            row = _found(resource.get(state, key) if resource.get else None)
            q = odata.parse_query(params, f.child)
            return _Answer(200, odata.collection(row[nav], q, f.child, context=f"{context}({key_text})/{nav}",
                                                 next_base=f"{set_url}({key_text})/{nav}", page_size=state.page_size))
        if method == "GET":
            odata.parse_query(params, etype)  # refuse bad options on an entry too
            row = _found(resource.get(state, key) if resource.get else None)
            return _Answer(200, odata.select_entry(row, params, etype))
        if method == "PATCH" and resource.update is not None:
            return _Answer(200, render(resource.update(state, key, _required(loads(body))), etype))
        raise not_allowed()


def _found(row: dict | None) -> dict:
    if row is None:
        raise SageError("RecordNotFound", "A Record cannot be found for the specified entity key")
    return row


def _required(payload: Any) -> Any:
    if payload is None:
        raise SageError("InvalidPayload", "The request payload is empty.")
    return payload


def create_sage_app(state: SageState | None = None, *, users: Mapping[str, str] | None = None,
                    company: str = DEFAULT_COMPANY, page_size: int = DEFAULT_PAGE_SIZE, allow_admin: bool = False,
                    clock: Callable[[], datetime] = utc_now, seed: Any = None, chart: bool = True,
                    mapping_path: Path | None = None, control_prefix: str = CONTROL_PREFIX) -> SageSandbox:
    """The Sage 300 sandbox app.

    ``state``: an existing store (else one from ``users``, ``company``, ``page_size``, ``allow_admin``,
    ``clock``). ``chart``: load the GL accounts (the sandbox's chart and the mapping file's accounts)
    and the bank codes (:mod:`.seed`). ``seed``: a :class:`~paysync_dagster.sandbox.oracle.SeedSpec`
    to load the PayTrace generator's customers and open invoices at startup; ``reset`` returns here.
    """
    from .seed import seed_chart, seed_from_generator

    if state is None:
        state = SageState(users=users, company=company, page_size=page_size, allow_admin=allow_admin, clock=clock)
    if chart:
        seed_chart(state, mapping_path)
    if seed is not None:
        seed_from_generator(state, seed)
    state.mark_baseline()
    return SageSandbox(state, control_prefix=control_prefix)
