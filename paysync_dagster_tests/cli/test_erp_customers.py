"""``paysync erp customers`` against the composed sandbox (a real HTTP server on a free loopback port): the
file holds the exact header and one row per customer the ERP holds, with the columns the ERP offers;
it is what ``paysync mapping suggest customers`` reads (round trip); an unreachable ERP, refused
credentials and an unwritable file are one line, exit 1, and leave no file behind."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from paysync_dagster.cli.suggest import ERP_ACCOUNT_COLUMNS
from paysync_dagster.demo import SANDBOX_CREDENTIALS
from paysync_dagster.lib.suggest.customers import erp_party
from paysync_dagster.sandbox.paytrace.state import HistorySpec
from paysync_dagster.sandbox.server import SandboxApp, ServerThread, build_app
from paysync_dagster.sandbox.sage.state import SUSPENSE_CUSTOMER
from paysync_dagster_tests.cli.support import invoke, one_line
from paysync_dagster_tests.support import free_port

HISTORY = HistorySpec(seed=11, start_date=date(2026, 3, 4), end_date=date(2026, 3, 5), per_day=20)
HEADER = ",".join(ERP_ACCOUNT_COLUMNS)
TITLES = {"oracle": "Oracle Fusion", "sage": "Sage 300"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SandboxApp, str]]:
    app = build_app(history=HISTORY, tz_name="America/Los_Angeles")
    with ServerThread(app) as server:
        yield app, server.url


def _settings(url: str) -> dict[str, str | None]:
    """What ``paysync demo`` gives its processes to reach the sandbox's ERPs."""
    return {**SANDBOX_CREDENTIALS, "ORACLE_FUSION_BASE_URL": url, "SAGE300_BASE_URL": f"{url}/Sage300WebApi/v1.0/-"}


def _read(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert b"\r" not in raw and raw.decode("utf-8").split("\n", 1)[0] == HEADER
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _export(erp: str, url: str, out: Path) -> list[dict[str, str]]:
    done = invoke("erp", "customers", "--erp", erp, "--out", str(out), env=_settings(url))
    assert done.exit_code == 0, done.output
    rows = _read(out)
    assert done.stdout == f"{len(rows)} {TITLES[erp]} customer account(s) written to {out}\n"
    return rows


def _sage_expected(app: SandboxApp) -> dict[str, dict[str, str]]:
    """What the Sage sandbox holds for each customer, in the CSV's columns (the suspense customer aside)."""
    out = {}
    for number, c in app.sage.state.store.customers.items():
        if number == SUSPENSE_CUSTOMER:
            continue
        out[number] = {"account_number": number, "name": c["CustomerName"], "email": c["Email"], "phone": c["PhoneNumber"],
                       "address_line1": c["AddressLine1"],
                       "address_line2": ", ".join(c[f"AddressLine{i}"] for i in (2, 3, 4) if c[f"AddressLine{i}"]),
                       "city": c["City"], "state": c["StateProvince"], "postal_code": c["ZipPostalCode"],
                       "country": c["Country"]}
    return out


def test_sage_every_customer_but_suspense_with_every_column(sandbox: tuple[SandboxApp, str], tmp_path: Path) -> None:
    app, url = sandbox
    rows = _export("sage", url, tmp_path / "sage.csv")
    expected = _sage_expected(app)
    assert SUSPENSE_CUSTOMER in app.sage.state.store.customers
    assert [r["account_number"] for r in rows] == sorted(expected)  # one row each, the suspense customer absent
    assert {r["account_number"]: r for r in rows} == expected
    # The catalogue's customers carry the columns Sage offers (a second address line and a region: some).
    for column in ("name", "email", "phone", "address_line1", "city", "postal_code", "country"):
        assert all(r[column] for r in rows), column
    assert any(r["address_line2"] for r in rows) and any(r["state"] for r in rows)


def test_oracle_every_account_with_its_bill_to_address(sandbox: tuple[SandboxApp, str], tmp_path: Path) -> None:
    app, url = sandbox
    rows = _export("oracle", url, tmp_path / "oracle.csv")
    customers = app.oracle.state.store.customers.values()
    assert sorted(r["account_number"] for r in rows) == sorted(c.account_number for c in customers)
    held = {c.account_number: c for c in customers}
    for r in rows:
        c = held[r["account_number"]]
        assert (r["name"], r["address_line1"]) == (c.customer_name, " ".join(c.site_address.split()))
        # Oracle's Receivables REST documents no e-mail, phone or address parts: those columns stay empty.
        assert [r[k] for k in ("email", "phone", "address_line2", "city", "state", "postal_code", "country")] == [""] * 7
    assert all(r["name"] and r["address_line1"] for r in rows)


def _unique(rows: list[dict[str, str]], *columns: str) -> list[dict[str, str]]:
    """The rows no other row shares a value (or, for the name, the compared form of it) of ``columns`` with."""
    def key(row: dict[str, str], column: str) -> str:
        return erp_party(row).name_key if column == "name" else row[column].lower()

    return [r for r in rows if all(sum(key(o, c) == key(r, c) for o in rows) == 1 for c in columns)]


def _paytrace_body(chosen: list[dict[str, str]], by_email: bool) -> dict:
    """A PayTrace customer/export body: one vault customer per chosen account (its e-mail, or its name and
    street), with ids that hold no account number, and a stranger no account fits."""
    customers = [{"customer_id": f"vault-{i}", "email": row["email"] if by_email else "",
                  "billing_address": {"name": "" if by_email else row["name"],
                                      "street_address": "" if by_email else row["address_line1"].split(",")[0]}}
                 for i, row in enumerate(chosen)]
    customers.append({"customer_id": "vault-stranger", "email": "someone@nowhere.example",
                      "billing_address": {"name": "Nobody Known Anywhere", "street_address": "1 Nowhere Rd"}})
    return {"success": True, "response_code": 1, "customers": customers}


@pytest.mark.parametrize("erp", ["sage", "oracle"])
def test_round_trip_into_mapping_suggest_customers(erp: str, sandbox: tuple[SandboxApp, str], tmp_path: Path) -> None:
    _, url = sandbox
    accounts = tmp_path / f"{erp}.csv"
    rows = _export(erp, url, accounts)
    # Sage gives e-mails; Oracle only names and addresses, so its vault customers are matched by name.
    chosen = _unique(rows, "email") if erp == "sage" else _unique(rows, "name")
    chosen = chosen[:5]
    assert len(chosen) == 5
    paytrace = tmp_path / "paytrace.json"
    paytrace.write_text(json.dumps(_paytrace_body(chosen, by_email=erp == "sage")), encoding="utf-8")
    done = invoke("mapping", "suggest", "customers", "--paytrace", str(paytrace), "--erp", str(accounts),
                  "--format", "json")
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout)
    suggested = {s["paytrace_customer_id"]: s for s in answer["suggestions"]}
    assert {k: s["erp_account"] for k, s in suggested.items()} == \
        {f"vault-{i}": row["account_number"] for i, row in enumerate(chosen)}
    assert answer["unmatched"] == ["vault-stranger"]
    if erp == "sage":  # the same e-mail address: in the auto-accept band
        assert all(s["confidence"] >= 0.9 and "the same e-mail address" in s["evidence"] for s in suggested.values())
    else:  # the name alone (Oracle gives no e-mail, and its address is one line): worth a look
        assert all(0.5 <= s["confidence"] < 0.9 and "names 100% alike" in s["evidence"] for s in suggested.values())


def test_standard_output_gets_the_csv_and_stderr_the_summary(sandbox: tuple[SandboxApp, str], tmp_path: Path) -> None:
    app, url = sandbox
    done = invoke("erp", "customers", "--erp", "sage", "--out", "-", env=_settings(url))
    assert done.exit_code == 0, done.output
    lines = done.stdout.split("\n")
    count = len(app.sage.state.store.customers) - 1
    assert lines[0] == HEADER and lines[-1] == "" and len(lines) == count + 2
    assert done.stderr == f"{count} Sage 300 customer account(s) written to standard output\n"


@pytest.mark.parametrize("erp", ["sage", "oracle"])
def test_an_unreachable_erp_is_one_line_and_no_file(erp: str, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    out = tmp_path / "accounts.csv"
    done = invoke("erp", "customers", "--erp", erp, "--out", str(out), env=_settings(closed))
    assert done.exit_code == 1
    line = one_line(done)
    setting = "SAGE300_BASE_URL" if erp == "sage" else "ORACLE_FUSION_BASE_URL"
    assert line.startswith(f"paysync erp customers: cannot reach {TITLES[erp]} at {closed}")
    assert setting in line
    assert not out.exists() and os.listdir(tmp_path) == []  # nor a temporary file beside it


def test_a_failed_read_leaves_an_existing_file_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "accounts.csv"
    out.write_text("what was there\n", encoding="utf-8")
    done = invoke("erp", "customers", "--erp", "oracle", "--out", str(out),
                  env=_settings(f"http://127.0.0.1:{free_port()}"))
    assert done.exit_code == 1 and "cannot reach Oracle Fusion" in one_line(done)
    assert out.read_text(encoding="utf-8") == "what was there\n" and os.listdir(tmp_path) == ["accounts.csv"]


@pytest.mark.parametrize("erp, setting", [("sage", "SAGE300_PASSWORD"), ("oracle", "ORACLE_FUSION_PASSWORD")])
def test_refused_credentials_name_the_settings_never_the_value(erp: str, setting: str, sandbox: tuple[SandboxApp, str],
                                                               tmp_path: Path) -> None:
    _, url = sandbox
    wrong = "not-the-demo-password-7731"
    out = tmp_path / "accounts.csv"
    done = invoke("erp", "customers", "--erp", erp, "--out", str(out), env={**_settings(url), setting: wrong})
    assert done.exit_code == 1
    line = one_line(done)
    assert f"{TITLES[erp]} at " in line and "refused the credentials" in line and setting in line
    assert wrong not in done.output and not out.exists()


def test_missing_settings_and_an_unwritable_file_are_one_line(sandbox: tuple[SandboxApp, str], tmp_path: Path) -> None:
    _, url = sandbox
    done = invoke("erp", "customers", "--erp", "oracle", "--out", str(tmp_path / "a.csv"),
                  env={**_settings(url), "ORACLE_FUSION_USERNAME": None})
    assert done.exit_code == 1 and "ORACLE_FUSION_USERNAME not set" in one_line(done)
    nowhere = tmp_path / "no-such-folder" / "a.csv"
    done = invoke("erp", "customers", "--erp", "sage", "--out", str(nowhere), env=_settings(url))
    assert done.exit_code == 1
    assert one_line(done) == (f"paysync erp customers: {nowhere}: cannot write there (No such file or directory); "
                              "check the path and its permissions")
    assert os.listdir(tmp_path) == []
    usage = invoke("erp", "customers", "--erp", "quickbooks", "--out", "-", env=_settings(url))
    assert usage.exit_code == 2 and "--erp" in one_line(usage)


def test_sage_pro_every_customer_from_its_tables_and_a_missing_table_named(tmp_path: Path) -> None:
    from paysync_dagster.sandbox.paytrace.generator import customer_catalogue
    from paysync_dagster.sandbox.sagepro import StandInSpec, write_company

    folder = tmp_path / "sagepro"
    write_company(folder, StandInSpec(11, date(2026, 3, 2), date(2026, 3, 3), 20, "America/Los_Angeles"))
    out = tmp_path / "sagepro.csv"
    done = invoke("erp", "customers", "--erp", "sagepro", "--out", str(out), env={"SAGEPRO_DATA_DIR": str(folder)})
    assert done.exit_code == 0, done.output
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    catalogue = {c["account"]: c for c in customer_catalogue(11, 20, 2026)}
    assert rows and {r["account_number"] for r in rows} <= set(catalogue)
    assert all(r["name"] == catalogue[r["account_number"]]["company"] and r["city"] for r in rows)
    next(p for p in (folder / "ardata").iterdir() if p.name.lower() == "arcust01.dbf").unlink()
    done = invoke("erp", "customers", "--erp", "sagepro", "--out", str(out), env={"SAGEPRO_DATA_DIR": str(folder)})
    assert done.exit_code == 1 and "ardata/arcust01.dbf: not found" in one_line(done)
