"""Customer suggestions on a generated labelled master: how long they take, beside the exact-e-mail-or-name
baseline on the same customers and accounts (what the studio's suggestions page and ``paysync mapping
suggest customers`` wait for), and what they find.

Side by side in one run: ``suggest_customers`` against ``baseline_suggestions`` (two dictionary look-ups
a customer), on :func:`paysync_dagster.sandbox.customer_master.customer_master` (every style and decoy).
"""

from __future__ import annotations

import time

from bench.run import BenchContext, Figure

CASE = "customer_suggestions"


def run(ctx: BenchContext) -> list[Figure]:
    from paysync_dagster.lib.suggest.customers import suggest_customers
    from paysync_dagster.lib.suggest.evaluation import baseline_suggestions, figures
    from paysync_dagster.sandbox.customer_master import customer_master

    per_style = 10 if ctx.quick else 80
    master = customer_master(seed=21, per_style=per_style)
    ctx.say(f"{len(master.customers):,} vault customers against {len(master.accounts):,} ERP accounts")
    started = time.perf_counter()
    ours = suggest_customers(master.customers, master.accounts).suggestions
    ours_seconds = time.perf_counter() - started
    started = time.perf_counter()
    base = baseline_suggestions(master.customers, master.accounts)
    base_seconds = time.perf_counter() - started
    mine, theirs = figures(ours, master.truth), figures(base, master.truth)
    ctx.say(f"paysync {ours_seconds:.2f} s, band recall {mine.band_recall:.1%}, {mine.false_matches} false matches; "
            f"baseline {base_seconds:.4f} s, band recall {theirs.band_recall:.1%}, {theirs.false_matches} false matches")
    pairs = len(master.customers) * len(master.accounts)
    return [
        Figure(CASE, "customer-account pairs compared a second", pairs / ours_seconds, "pairs/s",
               note=f"{len(master.customers):,} x {len(master.accounts):,}"),
        Figure(CASE, "seconds for the master", ours_seconds, "s", baseline=base_seconds,
               baseline_label="exact e-mail or name, s", note="the price of reading names and addresses as a clerk does"),
        Figure(CASE, "recall in the band", 100 * mine.band_recall, "%", baseline=100 * theirs.band_recall,
               baseline_label="exact e-mail or name, %", goal=">= 90 %"),
        Figure(CASE, "false matches in the band", mine.false_matches, "customers", baseline=theirs.false_matches,
               baseline_label="exact e-mail or name, customers", goal=f"<= 1 % of {mine.without_account:,}"),
    ]
