"""The Dagster UI in a real browser: headless Debian Chromium (Playwright) on a real ``dagster-webserver``
over the instance the headless demo leaves, with its real materializations.

A person opening the demo's UI sees no first-visit dialog in the way, finds every PaySync asset in the
catalog and in the lineage graph, and reads in the latest reconciliation materialization the KPIs and the
variance items the warehouse holds. Screenshots of each view are kept (see docs/ui-tests.md)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from paysync_dagster_tests.production import browser_support as ui

pytestmark = pytest.mark.slow

SHOTS: list[Path] = []
WAIT = ui.UI_TIMEOUT_MS  # for each condition the page must reach (a busy CI machine renders slowly)


@dataclass(frozen=True)
class DemoUI:
    url: str
    env: dict[str, str]
    chromium: str


@pytest.fixture(scope="module")
def chromium_path() -> str:
    return ui.chromium_or_skip()


@pytest.fixture(scope="module")
def demo_ui(chromium_path: str, tmp_path_factory: pytest.TempPathFactory,
            request: pytest.FixtureRequest) -> Iterator[DemoUI]:
    """The headless demo's instance (two business dates, both ERPs) opened by a real dagster-webserver."""
    home = tmp_path_factory.mktemp("browser") / "home"
    env = ui.demo_env(home)
    ui.run_headless_demo(home, env)
    # The instance exactly as the demo wrote it: its own dagster.yaml must keep the first-visit dialog away.
    with ui.dagster_webserver(env, home / "logs" / "webserver.log") as url:
        yield DemoUI(url, env, chromium_path)
    # Printed past pytest's capture: where to look, whether the tests passed or not.
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is not None and SHOTS:
        with capture.global_and_fixture_disabled():
            print("\n" + "\n".join(f"browser screenshot: {path}" for path in SHOTS))


@pytest.fixture(scope="module")
def browser(demo_ui: DemoUI):  # noqa: ANN201
    with ui.chromium(demo_ui.chromium) as b:
        yield b


def _page(browser, width: int = 1600, height: int = 1200):  # noqa: ANN001, ANN202
    """A page in a fresh context (its own local storage: every test is somebody's first visit)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(ui.UI_TIMEOUT_MS)
    return context, context.new_page()


def _shoot(page, name: str) -> None:  # noqa: ANN001
    SHOTS.append(ui.shoot(page, name))


def test_the_demo_instance_opens_without_a_first_visit_dialog(demo_ui: DemoUI, browser) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    context, page = _page(browser)
    try:
        # The UI's first-visit dialog opens a second after it learns it should; time is faked so the test can
        # move past that second at once instead of sleeping through it.
        page.clock.install()
        with page.expect_response(lambda r: "/graphql" in r.url and "ShouldShowNux" in (r.request.post_data or ""),
                                  timeout=WAIT) as answered:
            page.goto(demo_ui.url + "/")
        assert answered.value.json()["data"]["shouldShowNux"] is False, \
            "the instance asks the UI to show its first-visit dialog (set nux: {enabled: false} in dagster.yaml)"
        expect(page.get_by_role("link", name="Catalog")).to_be_visible(timeout=WAIT)
        page.clock.fast_forward(5_000)
        ui.next_frames(page)
        _shoot(page, "01-first-visit")
        assert ui.dialogs_in_the_way(page) == []
        expect(page.get_by_role("dialog")).to_have_count(0)
    finally:
        context.close()


def test_every_paysync_asset_is_in_the_catalog_and_the_lineage_graph(demo_ui: DemoUI, browser) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    keys = ui.expected_asset_keys(demo_ui.env)
    assert {"reconciliation_report", "sage_reconciliation_report"} <= set(keys), keys  # both ERPs are on

    # The catalog renders only the rows in view: a tall window holds them all.
    context, page = _page(browser, 1600, 3200)
    try:
        page.goto(demo_ui.url + "/assets")
        for key in keys:
            expect(page.locator(f'a[href="/assets/{key}"]').first, f"asset {key} in the catalog").to_be_visible(timeout=WAIT)
        shown = set(page.eval_on_selector_all("a[href^='/assets/']", "els => els.map(e => e.getAttribute('href'))"))
        assert {f"/assets/{k}" for k in keys} <= shown
        assert ui.dialogs_in_the_way(page) == []
        _shoot(page, "02-asset-catalog")
    finally:
        context.close()

    # The lineage graph opens with its groups folded; large enough, unfolded nodes carry their full names.
    context, page = _page(browser, 2400, 1800)
    try:
        page.goto(demo_ui.url + "/asset-groups")
        graph = page.locator("svg foreignObject")
        expect(graph.get_by_text("reconciliation", exact=True).first).to_be_visible(timeout=WAIT)
        page.keyboard.press("Alt+e")  # the graph's "Expand all groups"
        for key in keys:
            name = key.split("/")[-1]
            node = graph.locator(f'[data-tooltip="{name}"]').first
            expect(node, f"asset {key} in the lineage graph").to_be_visible(timeout=WAIT)
        assert ui.dialogs_in_the_way(page) == []
        _shoot(page, "03-asset-graph")
    finally:
        context.close()


def _check_reconciliation(page, database_url: str, day: date, erp: str, currency: str) -> None:  # noqa: ANN001
    """The materialization on the page shows the date's KPIs and variance items exactly as the warehouse holds them."""
    kpis = ui.warehouse_rows(database_url, "reconciliation_kpis", day, erp)
    assert kpis, f"the warehouse holds no KPI of {erp} for {day}"
    shown = ui.shown_kpi_lines(page)
    assert shown == ui.expected_kpi_lines(kpis), f"KPIs of {erp} {day}: page vs warehouse\n{ui.json_dump(kpis)}"

    variances = ui.warehouse_rows(database_url, "reconciliation_variances", day, erp)
    items, text = ui.shown_variances(page)
    expected = ui.expected_variance_cells(variances, currency)
    if not expected:
        assert items == [] and "no rows" in text, text
    elif len(expected) <= ui.MD_TABLE_LIMIT:
        assert items == expected, f"variances of {erp} {day}: page vs warehouse"
    else:
        assert len(items) == ui.MD_TABLE_LIMIT and set(items) <= set(expected), items
        assert f"{len(expected) - ui.MD_TABLE_LIMIT} more rows not shown" in text, text


@pytest.mark.parametrize("erp", ["oracle", "sage"])
def test_the_reconciliation_materializations_show_the_kpis_and_variances_of_the_warehouse(
        demo_ui: DemoUI, browser, erp: str) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    from paysync_dagster.defs.erp.connectors import CONNECTORS
    from paysync_dagster.lib.mapping import load_mapping

    asset = CONNECTORS[erp].reconciliation_name
    database_url = demo_ui.env["PAYSYNC_DATABASE_URL"]
    # The metadata's variance table has no currency column: its amounts are in the mapping's base currency.
    currency = load_mapping().currency.base
    latest = ui.latest_materialization(demo_ui.url, asset)

    # The metadata scrolls inside the page: a tall window gets all of it into the screenshots.
    context, page = _page(browser, 1600, 2400)
    try:
        # The Events view opens on the latest materialization.
        page.goto(f"{demo_ui.url}/assets/{asset}?view=events")
        heading = page.get_by_text(f"Partition {latest.partition} materialized in run {latest.run_id[:8]}")
        expect(heading).to_be_visible(timeout=WAIT)
        assert ui.dialogs_in_the_way(page) == []
        _shoot(page, f"04-{asset}-latest")
        _check_reconciliation(page, database_url, date.fromisoformat(latest.partition), erp, currency)

        # The last business date with variance items: its latest materialization, from the Partitions view.
        days = ui.warehouse_variance_days(database_url, erp)
        assert days, f"the demo left no variance item for {erp}: the check of the variance table would prove nothing"
        day = days[-1]
        page.goto(f"{demo_ui.url}/assets/{asset}?view=partitions&partition={day.isoformat()}")
        expect(page.get_by_text("Latest materialization").first).to_be_visible(timeout=WAIT)
        expect(ui.metadata_value(page, "business_date")).to_have_text(day.isoformat(), timeout=WAIT)
        _shoot(page, f"05-{asset}-{day.isoformat()}")
        _check_reconciliation(page, database_url, day, erp, currency)
    finally:
        context.close()
