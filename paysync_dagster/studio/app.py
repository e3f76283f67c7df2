"""The mapping studio: the mapping file's sections as forms, a preview of edited rules on real payments,
its versions, and suggestions to review (``paysync studio``).

Server-rendered pages (Jinja2) with a little plain JavaScript (static/studio.js) for validation as
you type, the preview and table rows; no build step. The logic lives in ``lib/studio`` and
``lib/suggest``; this module reads requests, checks who sends them (security.py) and renders.
Everything a page changes goes through :mod:`paysync_dagster.lib.studio.versions`: the mapping file
the pipeline loads, a new version in the history and an audit row, together.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from paysync_dagster.lib.mapping import Mapping, MappingError, parse_mapping
from paysync_dagster.lib.studio import forms, versions
from paysync_dagster.lib.studio.preview import dates_with_payments, preview
from paysync_dagster.studio import suggestions
from paysync_dagster.studio.security import COOKIE, LoginThrottle, Session, Sessions, csrf_ok, password_matches

log = logging.getLogger("paysync.studio")
MAX_FORM_BYTES = 1024 * 1024
MAX_PREVIEW_IDS = 500


@dataclass
class StudioConfig:
    """What the studio works on; built from the environment by ``paysync studio``."""

    mapping_file: Path
    engine: Engine
    erps: tuple[str, ...] = ("oracle",)
    login_user: str | None = None  # None: no login (loopback only)
    password_hash: str | None = None
    local_user: str = "studio"  # the author of versions when there is no login
    paytrace: suggestions.PayTraceSettings | None = None
    sessions: Sessions = field(default_factory=Sessions)
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)


class PageError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("paysync_dagster.studio", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.globals.update(sections=forms.SECTIONS, table_rows=forms.table_rows)
    env.tests["field"] = lambda item: isinstance(item, forms.Field)
    return env


def create_app(config: StudioConfig) -> Starlette:
    templates = _templates()

    def render(request: Request, name: str, session: Session | None, status: int = 200, **context: Any) -> HTMLResponse:
        body = templates.get_template(name).render(session=session, path=request.url.path, config=config, **context)
        return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    def session_of(request: Request) -> Session | None:
        return config.sessions.get(request.cookies.get(COOKIE))

    def page(handler: Callable[[Request, Session], Awaitable[Response]], *, post: bool = False) \
            -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = session_of(request)
            new_token = None
            if session is None:
                if config.login_user is not None:
                    if post:
                        return JSONResponse({"error": "sign in first"}, status_code=401) \
                            if request.headers.get("x-requested-with") else RedirectResponse("/login", 303)
                    return RedirectResponse("/login", 303)
                new_token, session = config.sessions.new(config.local_user)
            try:
                if post:
                    form = await _form(request)
                    origin = request.headers.get("origin")
                    if origin and urlsplit(origin).netloc != request.headers.get("host"):
                        return Response("refused: the request did not come from the studio's own page", 403)
                    if not csrf_ok(session, request.headers.get("x-csrf-token") or form.get("csrf")):
                        return Response("refused: the form's security token is missing or out of date; reload the page",
                                        403)
                    request.state.form, request.state.pairs = form, request.state.form_pairs
                response = await handler(request, session)
            except PageError as exc:
                response = render(request, "message.html", session, exc.status, message=exc.message)
            if new_token is not None:
                _set_cookie(response, request, new_token)
            return response
        return endpoint

    async def _form(request: Request) -> dict[str, str]:
        body = b""
        async for chunk in request.stream():  # counted as it arrives: an endless body is cut off, not buffered
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise PageError(413, "the form is larger than the studio accepts")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise PageError(400, "the form is not UTF-8 text") from None
        request.state.form_pairs = pairs
        return dict(pairs)

    # -- sign in ------------------------------------------------------------------------------------

    async def login(request: Request) -> Response:
        if config.login_user is None:
            return RedirectResponse("/mapping", 303)
        if request.method == "GET":
            return render(request, "login.html", None)
        try:
            form = await _form(request)
        except PageError as exc:
            return render(request, "login.html", None, exc.status, error=exc.message)
        client = request.client.host if request.client else "unknown"
        wait = config.login_throttle.retry_after(client)
        if wait is not None:
            response = render(request, "login.html", None, 429,
                              error=f"too many wrong sign-ins from this address: try again in {_minutes(wait)}")
            response.headers["Retry-After"] = str(wait)
            return response
        user, password = form.get("user", ""), form.get("password", "")
        ok = await run_in_threadpool(lambda: user == config.login_user and
                                     password_matches(password, config.password_hash or ""))
        if not ok:
            config.login_throttle.failed(client)
            log.warning("studio: a sign-in from %s was refused", client)
            return render(request, "login.html", None, 401, error="wrong user or password")
        config.login_throttle.succeeded(client)
        token, _session = config.sessions.new(user)
        response = RedirectResponse("/mapping", 303)
        _set_cookie(response, request, token)
        return response

    async def logout(request: Request, session: Session) -> Response:
        config.sessions.end(request.cookies.get(COOKIE))
        response = RedirectResponse("/login" if config.login_user else "/mapping", 303)
        response.delete_cookie(COOKIE)
        return response

    # -- the mapping --------------------------------------------------------------------------------

    def current_version() -> versions.Version:
        try:
            return versions.in_force(config.engine, config.mapping_file, "paysync")
        except versions.VersionError as exc:
            raise PageError(500, str(exc)) from None

    def current() -> tuple[versions.Version, dict[str, Any]]:
        now = current_version()
        try:
            return now, forms.read_data(now.text)
        except yaml.YAMLError:
            try:
                parse_mapping(now.text, str(config.mapping_file))
                problem = "it does not read as YAML"
            except MappingError as exc:
                problem = str(exc)
            raise PageError(409, f"The mapping file in force cannot be shown in forms: {problem}. Correct it by hand, "
                               "or put an earlier version back on the Versions page.") from None

    async def mapping_page(request: Request, session: Session) -> Response:
        now, data = await run_in_threadpool(current)
        days = await run_in_threadpool(dates_with_payments, config.engine)
        saved = request.query_params.get("saved")
        return render(request, "mapping.html", session, now=now, values=forms.field_values(data), data=data,
                      errors={}, days=days, saved=saved, note="")

    def submitted(form_pairs: list[tuple[str, str]], data: dict[str, Any]) -> tuple[forms.Submitted, Mapping | None,
                                                                                     dict[str, list[str]]]:
        sub = forms.from_form(data, [(k, v) for k, v in form_pairs if k not in ("csrf", "base", "note")])
        mapping, errors = forms.problems_by_field(sub)
        return sub, mapping, errors

    async def validate(request: Request, session: Session) -> Response:
        now, data = await run_in_threadpool(current)
        _sub, _mapping, errors = submitted(request.state.pairs, data)
        general = errors.pop("", [])
        return JSONResponse({"errors": errors, "general": general, "valid": not errors and not general})

    async def preview_fragment(request: Request, session: Session) -> Response:
        form = request.state.form
        now, data = await run_in_threadpool(current)
        _sub, edited, errors = submitted(request.state.pairs, data)
        if edited is None:
            return render(request, "preview.html", session, 422, problem="the edited rules do not load yet: " +
                          "; ".join(m for ms in errors.values() for m in ms))
        try:
            in_force = parse_mapping(now.text, str(config.mapping_file))
        except MappingError as exc:
            return render(request, "preview.html", session, 422, problem=f"the rules in force do not load: {exc}")
        ids, bad = _transaction_ids(form.get("preview_ids", ""))
        if bad:
            return render(request, "preview.html", session, 422, problem=f"not a transaction id: {bad}")
        day = None
        if not ids:
            try:
                day = date.fromisoformat(form.get("preview_day", ""))
            except ValueError:
                return render(request, "preview.html", session, 422, problem="pick a date or give transaction ids")
        shown = await run_in_threadpool(lambda: preview(config.engine, in_force, edited, day=day, transaction_ids=ids,
                                                        erps=config.erps))
        return render(request, "preview.html", session, shown=shown, day=day, ids=ids, in_force=now)

    async def save(request: Request, session: Session) -> Response:
        form = request.state.form
        now, data = await run_in_threadpool(current)
        sub, mapping, errors = submitted(request.state.pairs, data)
        note = form.get("note", "").strip()
        if not note:
            errors.setdefault("note", []).append("note: say what this version changes and why")
        try:
            base = int(form.get("base", ""))
        except ValueError:
            raise PageError(400, "the form names no version it was edited from; reload the page") from None
        if mapping is not None and not errors:
            number = await run_in_threadpool(versions.next_number, config.engine, config.mapping_file)
            sub.data["version"] = str(number)
            text = forms.updated_yaml(now.text, sub.data)
            try:
                done = await run_in_threadpool(lambda: versions.save(config.engine, config.mapping_file, text,
                                                                     session.user, note, base=base))
            except versions.VersionError as exc:
                errors.setdefault("", []).append(str(exc))
            else:
                log.info("studio: version %s saved by %s", done.number, session.user)
                return RedirectResponse(f"/mapping?saved={done.number}", 303)
        values = dict(forms.field_values(data))
        values.update({k: v for k, v in request.state.pairs if k not in ("csrf", "base")})
        days = await run_in_threadpool(dates_with_payments, config.engine)
        return render(request, "mapping.html", session, 422, now=now, values=values, data=sub.data, errors=errors,
                      days=days, saved=None, note=note, posted_rows=_posted_rows(request.state.pairs))

    # -- versions -----------------------------------------------------------------------------------

    async def versions_page(request: Request, session: Session) -> Response:
        now = await run_in_threadpool(current_version)
        rows = await run_in_threadpool(versions.history, config.engine, config.mapping_file)
        return render(request, "versions.html", session, now=now, rows=rows)

    async def version_page(request: Request, session: Session) -> Response:
        number = int(request.path_params["number"])
        now = await run_in_threadpool(current_version)
        found = await run_in_threadpool(versions.version, config.engine, config.mapping_file, number)
        if found is None:
            raise PageError(404, f"there is no version {number}")
        return render(request, "version.html", session, now=now, v=found)

    async def rollback(request: Request, session: Session) -> Response:
        number = int(request.path_params["number"])
        form = request.state.form
        try:
            done = await run_in_threadpool(lambda: versions.rollback(
                config.engine, config.mapping_file, number, session.user, form.get("note", "").strip() or None,
                base=int(form.get("base", "0") or 0)))
        except versions.VersionError as exc:
            raise PageError(409, str(exc)) from None
        log.info("studio: version %s (rollback to %s) saved by %s", done.number, number, session.user)
        return RedirectResponse(f"/versions?saved={done.number}", 303)

    # -- suggestions --------------------------------------------------------------------------------

    async def suggestions_page(request: Request, session: Session) -> Response:
        now, data = await run_in_threadpool(current)
        found = await run_in_threadpool(lambda: suggestions.gather(config.engine, config.mapping_file, data,
                                                                   config.erps, config.paytrace))
        return render(request, "suggestions.html", session, now=now, found=found,
                      saved=request.query_params.get("saved"), rejected=request.query_params.get("rejected"))

    async def decide(request: Request, session: Session) -> Response:
        form = request.state.form
        now, data = await run_in_threadpool(current)
        try:
            proposal = suggestions.Proposal.from_form(form)
        except ValueError as exc:
            raise PageError(400, str(exc)) from None
        if request.path_params["decision"] == "reject":
            await run_in_threadpool(suggestions.reject, config.engine, config.mapping_file, proposal, session.user)
            return RedirectResponse("/suggestions?rejected=1", 303)
        number = await run_in_threadpool(versions.next_number, config.engine, config.mapping_file)
        try:
            changed = proposal.apply(data)
        except ValueError as exc:  # a tampered value (not JSON, not a number): nothing is saved
            raise PageError(400, f"the {proposal.kind} suggestion cannot be applied: {exc}") from None
        changed["version"] = str(number)
        text = forms.updated_yaml(now.text, changed)
        try:
            done = await run_in_threadpool(lambda: versions.save(
                config.engine, config.mapping_file, text, session.user, f"accepted suggestion: {proposal.describe()}",
                base=int(form.get("base", "0") or 0), action=versions.ACCEPT))
        except versions.VersionError as exc:
            raise PageError(409, str(exc)) from None
        return RedirectResponse(f"/suggestions?saved={done.number}", 303)

    routes = [
        Route("/", lambda request: RedirectResponse("/mapping", 303)),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", page(logout, post=True), methods=["POST"]),
        Route("/mapping", page(mapping_page)),
        Route("/mapping/validate", page(validate, post=True), methods=["POST"]),
        Route("/mapping/preview", page(preview_fragment, post=True), methods=["POST"]),
        Route("/mapping/save", page(save, post=True), methods=["POST"]),
        Route("/versions", page(versions_page)),
        Route("/versions/{number:int}", page(version_page)),
        Route("/versions/{number:int}/rollback", page(rollback, post=True), methods=["POST"]),
        Route("/suggestions", page(suggestions_page)),
        Route("/suggestions/{decision:str}", page(decide, post=True), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("paysync_dagster.studio", "static")]), name="static"),
    ]
    return Starlette(routes=routes)


def _minutes(seconds: int) -> str:
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _set_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        path="/")


def _transaction_ids(raw: str) -> tuple[list[int], str | None]:
    ids: list[int] = []
    for part in raw.replace(",", " ").split():
        if not part.isdigit() or len(part) > 18:
            return [], part[:40]
        ids.append(int(part))
    return list(dict.fromkeys(ids))[:MAX_PREVIEW_IDS], None


def _posted_rows(pairs: list[tuple[str, str]]) -> dict[str, int]:
    """How many rows each table had on the posted form (so a re-shown form keeps the rows typed)."""
    rows: dict[str, int] = {}
    for section in forms.SECTIONS:
        for item in section.items:
            if isinstance(item, forms.Table):
                prefix = item.name + "."
                indices = [int(k[len(prefix):].split(".", 1)[0]) for k, _v in pairs
                           if k.startswith(prefix) and k[len(prefix):].split(".", 1)[0].isdigit()]
                rows[item.name] = max(indices) + 1 if indices else 0
    return rows
