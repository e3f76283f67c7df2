"""Cash application on the labelled evaluation set: which payments land on the right invoices.

Side by side on the same payments (:func:`paysync_dagster.sandbox.remittance.evaluation_set`):
``match_payment`` (every reference in both fields, PO and order numbers, typos, corroboration of an
unidentified payer) against ``exact_reference_baseline`` (the reference as typed is an open invoice
number, nothing else). Per style and in total: applied right, wrong applications, left on account.
Goal: >= 99 % of the payments that carry a reference applied right, and no wrong application.
"""

from __future__ import annotations

from bench.run import BenchContext, Figure

CASE = "cash_application"


def _pct(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.0f}%)" if whole else "0"


def run(ctx: BenchContext) -> list[Figure]:
    from paysync_dagster.sandbox.remittance import (Counts, cash_application, evaluation_set, exact_reference, score,
                                                    totals)

    per_style = 20 if ctx.quick else 100
    evaluation = evaluation_set(seed=7, per_style=per_style)
    ours, base = score(evaluation, cash_application), score(evaluation, exact_reference)
    ctx.say(f"{len(evaluation.payments):,} payments, {per_style} per style, against {len(evaluation.open_invoices)} "
            f"open invoices of {len(evaluation.customers)} customers")
    # "part": applied to the right invoices in the wrong amounts, or to some of them only.
    header = ("style", "with ref", "right", "wrong", "on account", "part",
              "baseline right", "baseline wrong", "baseline on account", "baseline part")

    def cells(c: Counts) -> tuple[str, ...]:
        part = c.total - c.applied_right - c.wrong - c.on_account
        return tuple(_pct(n, c.total) for n in (c.applied_right, c.wrong, c.on_account, part))

    rows = [(style, str(c.with_reference), *cells(c), *cells(base[style])) for style, c in ours.items()]
    t, tb = totals(ours), totals(base)
    rows.append(("TOTAL", str(t.with_reference), *cells(t), *cells(tb)))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        ctx.say("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    return [
        Figure(CASE, "applied right, payments with a reference", 100 * t.applied_right_share_with_reference, "%",
               baseline=100 * tb.applied_right_share_with_reference, baseline_label="exact reference only, %",
               goal=">= 99 %", note=f"{t.with_reference:,} payments with a usable reference"),
        Figure(CASE, "wrong applications", t.wrong, "payments", baseline=tb.wrong,
               baseline_label="exact reference only, payments", goal="0",
               note=f"of {t.total:,} payments, decoys included"),
    ]
