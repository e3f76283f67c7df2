"""The studio in headless Chromium: edit a GL rule, see the preview's changed rows, save, and find the
new version in force; a bad value shows its error beside the field and nothing is saved; a customer
suggestion is accepted and appears in the mapping."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, select

from paysync_dagster.lib.mapping import load_mapping
from paysync_dagster.lib.warehouse.tables import audit_log, mapping_versions, paytrace_transactions
from paysync_dagster_tests.production import browser_support as ui
from paysync_dagster_tests.studio.conftest import World
from paysync_dagster_tests.studio.support import DAY, Studio, serve_studio

NEW_REFUND_ACCOUNT = "101.10.12190.000"


@pytest.fixture(scope="module")
def chromium_path() -> str:
    return ui.chromium_or_skip()


@pytest.fixture(scope="module")
def studio(world: World) -> Iterator[Studio]:
    with serve_studio(world.root / "browser", world.database_url, world.sandbox_url) as s:
        yield s


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions(database_url: str) -> list[dict]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(mapping_versions).order_by(mapping_versions.c.number))]
    finally:
        engine.dispose()


def _refunds_on(database_url: str) -> set[int]:
    """The day's refunds, read from the warehouse: the payments the refund rule accounts for."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            t = paytrace_transactions
            return {int(r[0]) for r in conn.execute(select(t.c.transaction_id).where(
                t.c.business_date == DAY, t.c.transaction_type == "REFUND"))}
    finally:
        engine.dispose()


def test_edit_preview_save_and_accept_a_suggestion(studio: Studio, chromium_path: str, world: World) -> None:
    refunds = _refunds_on(world.database_url)
    assert refunds, "the sandbox day has refunds for the refund rule to account for"
    with ui.chromium(chromium_path) as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(ui.UI_TIMEOUT_MS)
        page.goto(f"{studio.url}/mapping")
        page.locator("#in-force").get_by_text("version 1").wait_for()
        before_sha = _sha(studio.mapping_file)

        # 1. Edit the refund GL rule and preview the day under both sets of rules.
        refund_account = page.locator('[id="gl_accounts.rules.0.account"]')
        assert refund_account.input_value() == "101.10.12100.000"
        refund_account.fill(NEW_REFUND_ACCOUNT)
        page.select_option("#preview_day", DAY.isoformat())
        page.click("#preview-button")
        summary = page.locator("#preview-summary")
        summary.wait_for()
        changed_rows = page.locator("#preview-table tr.changed")
        assert int(page.locator("#preview-changed").inner_text()) == len(refunds)
        assert changed_rows.count() == len(refunds)
        shown = {int(changed_rows.nth(i).get_attribute("data-transaction")) for i in range(changed_rows.count())}
        assert shown == refunds
        for i in range(changed_rows.count()):
            row = changed_rows.nth(i)
            assert row.get_attribute("data-changed") == "gl"
            assert NEW_REFUND_ACCOUNT in row.locator("td").nth(8).inner_text()  # the edited rules' GL cell
            assert "101.10.12100.000" in row.locator("td").nth(4).inner_text()  # the rules in force
        ui.shoot(page, "studio-01-preview")

        # 2. A bad value: its error beside the field as it is typed, and a save that saves nothing.
        chargeback_account = page.locator('[id="gl_accounts.rules.1.account"]')
        chargeback_account.fill("12150")
        error = page.locator('[id="error-gl_accounts.rules.1.account"]')
        error.get_by_text("does not fit oracle's account format").wait_for()
        assert chargeback_account.get_attribute("aria-invalid") == "true"
        page.fill("#note", "refunds to the new clearing account")
        page.click("#save-button")
        page.locator('[id="error-gl_accounts.rules.1.account"]').get_by_text("does not fit").wait_for()
        assert page.locator('[id="gl_accounts.rules.1.account"]').input_value() == "12150"  # what was typed stays
        assert _sha(studio.mapping_file) == before_sha
        assert [v["number"] for v in _versions(studio.database_url)] == [1]
        ui.shoot(page, "studio-02-bad-value")

        # 3. Corrected, saved: version 2 is in force and the file the pipeline loads has the new rule.
        page.locator('[id="gl_accounts.rules.1.account"]').fill("101.10.12150.000")
        page.locator('[id="error-gl_accounts.rules.1.account"]').get_by_text("does not fit").wait_for(state="detached") \
            if page.locator('[id="error-gl_accounts.rules.1.account"]').get_by_text("does not fit").count() == 0 else None
        assert page.locator('[id="gl_accounts.rules.0.account"]').input_value() == NEW_REFUND_ACCOUNT
        page.click("#save-button")
        page.locator("#saved").get_by_text("Saved as version 2").wait_for()
        page.locator("#in-force").get_by_text("version 2").wait_for()
        rules = load_mapping(studio.mapping_file)
        assert rules.gl_accounts.rules[0].account == NEW_REFUND_ACCOUNT
        assert rules.gl_accounts.rules[1].account == "101.10.12150.000"
        assert rules.version == "2"
        saved = _versions(studio.database_url)
        assert [(v["number"], v["action"], v["saved_by"], v["note"]) for v in saved][-1] == \
            (2, "save", "maria.finance", "refunds to the new clearing account")
        assert f"+      account: \"{NEW_REFUND_ACCOUNT}\"" in saved[-1]["diff"] or NEW_REFUND_ACCOUNT in saved[-1]["diff"]
        assert "# card clearing, refunds" in studio.mapping_file.read_text()  # the file's comments are kept
        page.goto(f"{studio.url}/versions")
        in_force_row = page.locator("#versions tr.in-force")
        assert in_force_row.get_attribute("data-number") == "2"
        assert "refunds to the new clearing account" in in_force_row.inner_text()
        ui.shoot(page, "studio-03-versions")

        # 4. A customer suggestion accepted: it appears in the mapping file's customer map.
        page.goto(f"{studio.url}/suggestions")
        customer_rows = page.locator('#suggestions-customer tr[data-kind="customer"]')
        customer_rows.first.wait_for()
        first = customer_rows.first
        paytrace_id, account = first.get_attribute("data-id"), first.get_attribute("data-account")
        assert first.get_attribute("data-erp") == "oracle"
        ui.shoot(page, "studio-04-suggestions")
        first.locator("button.accept").click()
        page.locator("#saved").get_by_text("version 3").wait_for()
        data = yaml.safe_load(studio.mapping_file.read_text())
        assert data["customers"]["map"][paytrace_id]["oracle"] == account
        assert load_mapping(studio.mapping_file).customers.map[paytrace_id].oracle == account
        assert page.locator(f'#suggestions-customer tr[data-id="{paytrace_id}"]').count() == 0  # accepted: gone
        last = _versions(studio.database_url)[-1]
        assert (last["number"], last["action"]) == (3, "accept") and paytrace_id in last["note"]
        engine = create_engine(studio.database_url)
        with engine.connect() as conn:
            actions = [r[0] for r in conn.execute(select(audit_log.c.action).where(audit_log.c.action.like("mapping.%"))
                                                  .order_by(audit_log.c.id))]
        engine.dispose()
        assert actions == ["mapping.found", "mapping.save", "mapping.accept"]
