"""`paysync studio` over HTTP: forms validated by the file's model, saves and rollbacks as versions,
suggestions rejected for good, and its safety: CSRF on every form, its own origin only, a login
beyond loopback, never a secret on a page."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from paysync_dagster.lib.mapping import load_mapping
from paysync_dagster.lib.warehouse.tables import audit_log, mapping_versions
from paysync_dagster.sandbox.paytrace.state import DEFAULT_PASSWORD
from paysync_dagster.studio.security import LOGIN_FAILURES, LOGIN_WINDOW_SECONDS, LoginThrottle, hash_password, password_matches
from paysync_dagster_tests.studio.conftest import World
from paysync_dagster_tests.studio.support import Studio, serve_studio, studio_env

PAYSYNC = str(Path(sys.executable).with_name("paysync"))


@pytest.fixture(scope="module")
def studio(world: World) -> Iterator[Studio]:
    with serve_studio(world.root / "app", world.database_url, world.sandbox_url) as s:
        yield s


def _page(client: httpx.Client, url: str) -> tuple[str, dict[str, str]]:
    """A page's HTML and the mapping form's fields as the browser would send them."""
    html = client.get(url).text
    fields = dict(re.findall(r'<input id="([^"]+)" name="[^"]+" value="([^"]*)"', html))
    for name, options in re.findall(r'<select id="([^"]+)" name="[^"]+"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        fields[name] = chosen.group(1) if chosen else ""
    fields = {k: v.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&").replace("&lt;", "<")
              .replace("&gt;", ">") for k, v in fields.items()}
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    base = re.search(r'name="base" value="(\d+)"', html)
    return html, {**fields, "csrf": csrf, **({"base": base.group(1)} if base else {})}


def _versions(database_url: str) -> list[int]:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        numbers = conn.execute(select(mapping_versions.c.number).where(mapping_versions.c.target.like("%/app/%"))
                               .order_by(mapping_versions.c.number)).scalars().all()
    engine.dispose()
    return numbers


def test_forms_are_refused_without_the_token_or_from_another_origin(studio: Studio) -> None:
    with httpx.Client(base_url=studio.url) as client:
        _html, form = _page(client, "/mapping")
        before = studio.mapping_file.read_bytes()
        changed = {**form, "tolerances.amount_minor": "3", "note": "three cents"}
        no_token = {k: v for k, v in changed.items() if k != "csrf"}
        assert client.post("/mapping/save", data=no_token).status_code == 403
        assert client.post("/mapping/save", data={**changed, "csrf": "forged"}).status_code == 403
        assert client.post("/mapping/save", data=changed, headers={"Origin": "http://evil.example"}).status_code == 403
        huge = client.post("/mapping/validate", content=b"note=" + b"x" * (2 * 1024 * 1024),
                           headers={"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": form["csrf"]})
        assert huge.status_code == 413 and "larger than the studio accepts" in huge.text
        with httpx.Client(base_url=studio.url) as stranger:  # another session's token is no token
            assert stranger.post("/mapping/save", data=changed).status_code == 403
        assert studio.mapping_file.read_bytes() == before


def test_validation_names_the_field_and_a_bad_save_saves_nothing(studio: Studio) -> None:
    with httpx.Client(base_url=studio.url) as client:
        _html, form = _page(client, "/mapping")
        answer = client.post("/mapping/validate", data={**form, "invoice_reference.digits": "0"},
                             headers={"X-CSRF-Token": form["csrf"]}).json()
        assert answer["valid"] is False and list(answer["errors"]) == ["invoice_reference.digits"]
        assert "greater than or equal to 1" in answer["errors"]["invoice_reference.digits"][0]
        assert client.post("/mapping/validate", data=form, headers={"X-CSRF-Token": form["csrf"]}).json() == \
            {"errors": {}, "general": [], "valid": True}
        before, numbers = studio.mapping_file.read_bytes(), _versions(studio.database_url)
        bad = client.post("/mapping/save", data={**form, "invoice_reference.digits": "0", "note": "x"})
        assert bad.status_code == 422
        assert re.search(r'id="error-invoice_reference.digits" role="status">[^<]*greater than or equal to 1', bad.text)
        no_note = client.post("/mapping/save", data={**form, "tolerances.amount_minor": "3", "note": " "})
        assert no_note.status_code == 422 and "say what this version changes" in no_note.text
        assert studio.mapping_file.read_bytes() == before and _versions(studio.database_url) == numbers


def test_a_save_then_a_rollback_each_make_a_version(studio: Studio) -> None:
    with httpx.Client(base_url=studio.url) as client:
        _html, form = _page(client, "/mapping")
        start = int(form["base"])
        saved = client.post("/mapping/save", data={**form, "tolerances.amount_minor": "3", "note": "three cents"})
        assert saved.status_code == 303 and saved.headers["location"] == f"/mapping?saved={start + 1}"
        assert load_mapping(studio.mapping_file).tolerances.amount_minor == 3
        version_page = client.get(f"/versions/{start + 1}").text
        assert "-  amount_minor: 0" in version_page and "+  amount_minor: 3" in version_page
        _html, versions_form = _page(client, "/versions")
        back = client.post(f"/versions/{start}/rollback", data={"csrf": versions_form["csrf"], "base": str(start + 1)})
        assert back.status_code == 303
        assert load_mapping(studio.mapping_file).tolerances.amount_minor == 0
        stale = client.post(f"/versions/{start}/rollback", data={"csrf": versions_form["csrf"], "base": str(start + 1)})
        assert stale.status_code == 409 and "reload the studio" in stale.text
        assert _versions(studio.database_url)[-2:] == [start + 1, start + 2]


def test_a_rejected_suggestion_is_not_shown_again(studio: Studio) -> None:
    with httpx.Client(base_url=studio.url) as client:
        html, form = _page(client, "/suggestions")
        rows = re.findall(r'<tr data-kind="customer" data-account="([^"]+)" data-erp="oracle" data-id="([^"]+)"', html)
        assert rows
        account, paytrace_id = rows[0]
        answer = client.post("/suggestions/reject", data={"csrf": form["csrf"], "base": form["base"], "kind": "customer",
                                                          "p_id": paytrace_id, "p_erp": "oracle", "p_account": account})
        assert answer.status_code == 303
        assert f'data-id="{paytrace_id}"' not in client.get("/suggestions").text
        assert paytrace_id not in studio.mapping_file.read_text()
        engine = create_engine(studio.database_url)
        with engine.connect() as conn:
            notes = conn.execute(select(audit_log.c.note).where(audit_log.c.action == "mapping.suggestion.reject")).scalars().all()
        engine.dispose()
        assert f"PayTrace customer {paytrace_id} is oracle account {account}" in notes
        bad = client.post("/suggestions/accept", data={"csrf": form["csrf"], "base": form["base"], "kind": "customer"})
        assert bad.status_code == 400 and "missing from the customer suggestion" in bad.text
        before = studio.mapping_file.read_bytes()
        tampered = client.post("/suggestions/accept", data={"csrf": form["csrf"], "base": form["base"],
                                                            "kind": "gl_rule", "p_when": "{not json", "p_account": "1"})
        assert tampered.status_code == 400 and "cannot be applied" in tampered.text
        assert studio.mapping_file.read_bytes() == before


def test_no_page_shows_a_secret(studio: Studio) -> None:
    with httpx.Client(base_url=studio.url) as client:
        for path in ("/mapping", "/versions", "/versions/1", "/suggestions"):
            assert DEFAULT_PASSWORD not in client.get(path).text, path
    assert DEFAULT_PASSWORD not in studio.log.read_text()


def test_beyond_loopback_only_with_a_login(world: World, tmp_path: Path) -> None:
    env = studio_env(tmp_path, tmp_path / "m.yaml", world.database_url, world.sandbox_url)
    refused = subprocess.run([PAYSYNC, "studio", "--host", "0.0.0.0", "--port", "1"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "without a login" in refused.stderr
    half = subprocess.run([PAYSYNC, "studio"], env={**env, "PAYSYNC_STUDIO_USER": "maria"}, capture_output=True,
                          text=True, timeout=120)
    assert half.returncode == 2 and "go together" in half.stderr
    not_a_hash = subprocess.run([PAYSYNC, "studio"], env={**env, "PAYSYNC_STUDIO_USER": "maria",
                                                          "PAYSYNC_STUDIO_PASSWORD_HASH": "hunter2"},
                                capture_output=True, text=True, timeout=120)
    assert not_a_hash.returncode == 2 and "not an scrypt hash" in not_a_hash.stderr


def test_the_login_guards_every_page(world: World, tmp_path: Path) -> None:
    made = subprocess.run([PAYSYNC, "studio", "hash-password", "--password", "correct horse battery"],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0
    stored = made.stdout.strip()
    assert password_matches("correct horse battery", stored) and not password_matches("wrong", stored)
    assert hash_password("correct horse battery") != stored  # salted
    short = subprocess.run([PAYSYNC, "studio", "hash-password", "--password", "short"], capture_output=True, text=True,
                           timeout=120)
    assert short.returncode == 2 and "shorter than 12" in short.stderr
    with serve_studio(tmp_path, world.database_url, world.sandbox_url, PAYSYNC_STUDIO_USER="maria",
                      PAYSYNC_STUDIO_PASSWORD_HASH=stored) as s, httpx.Client(base_url=s.url) as client:
        assert client.get("/mapping").headers["location"] == "/login"
        assert client.post("/mapping/save", data={"note": "x"}).headers["location"] == "/login"
        wrong = client.post("/login", data={"user": "maria", "password": "guess"})
        assert wrong.status_code == 401 and "wrong user or password" in wrong.text
        right = client.post("/login", data={"user": "maria", "password": "correct horse battery"})
        assert right.status_code == 303 and "httponly" in right.headers["set-cookie"].lower()
        html, form = _page(client, "/mapping")
        assert "maria" in html and client.get("/mapping").status_code == 200
        client.post("/logout", data={"csrf": form["csrf"]})
        assert client.get("/mapping").headers["location"] == "/login"

        # Guessing is throttled: after five wrong sign-ins even the right password waits its turn.
        for _ in range(LOGIN_FAILURES):
            assert client.post("/login", data={"user": "maria", "password": "guess"}).status_code == 401
        held = client.post("/login", data={"user": "maria", "password": "correct horse battery"})
        assert held.status_code == 429 and "too many wrong sign-ins" in held.text
        assert 0 < int(held.headers["retry-after"]) <= LOGIN_WINDOW_SECONDS
        assert client.get("/mapping").headers["location"] == "/login"


def test_a_file_that_does_not_read_is_named_and_can_be_rolled_back(world: World, tmp_path: Path) -> None:
    with serve_studio(tmp_path, world.database_url, world.sandbox_url) as s, httpx.Client(base_url=s.url) as client:
        good = s.mapping_file.read_text()
        assert client.get("/mapping").status_code == 200  # version 1: the file as found
        s.mapping_file.write_text(good.replace("statuses:", "statuses: [", 1))  # an engineer's slip
        broken = client.get("/mapping")
        assert broken.status_code == 409 and "cannot be shown in forms" in broken.text and "flow sequence" in broken.text
        html, form = _page(client, "/versions")
        assert "the file was changed outside the studio" in html
        back = client.post("/versions/1/rollback", data={"csrf": form["csrf"], "base": "2"})
        assert back.status_code == 303 and s.mapping_file.read_text() == good
        assert client.get("/mapping").status_code == 200


def test_the_login_throttle_counts_wrong_sign_ins_per_address_in_a_sliding_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(failures=3, window_seconds=600, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("10.0.0.7") is None
        throttle.failed("10.0.0.7")
        now[0] += 10
    assert throttle.retry_after("10.0.0.7") == 600 - 30 + 1  # until the first of the three leaves the window
    assert throttle.retry_after("10.0.0.8") is None  # another address is not held
    now[0] += 600 - 30 + 1
    assert throttle.retry_after("10.0.0.7") is None  # the first left the window: one more try
    throttle.failed("10.0.0.7")
    assert throttle.retry_after("10.0.0.7") is not None
    throttle.succeeded("10.0.0.8")
    throttle.failed("10.0.0.8")
    throttle.succeeded("10.0.0.8")  # a right sign-in forgets the address's wrong ones
    throttle.failed("10.0.0.8"), throttle.failed("10.0.0.8")
    assert throttle.retry_after("10.0.0.8") is None
