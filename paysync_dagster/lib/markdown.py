"""Small markdown tables for asset metadata a finance user reads in the Dagster UI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from paysync_dagster.lib.money import format_amount


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, money: Sequence[str] = (), limit: int = 20,
          currency: str = "USD") -> str:
    """Markdown table of the first ``limit`` rows; ``money`` columns hold minor units and show as amounts
    in the row's ``currency``, or in ``currency`` for rows without one."""
    if not rows:
        return "_no rows_"
    head = "| " + " | ".join(columns) + " |\n| " + " | ".join("---" for _ in columns) + " |\n"
    lines = []
    for row in rows[:limit]:
        cells = []
        for col in columns:
            value = row.get(col)
            if col in money and value is not None:
                value = format_amount(int(value), str(row.get("currency") or currency))
            cells.append("" if value is None else str(value).replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    more = f"\n\n_{len(rows) - limit} more rows not shown_" if len(rows) > limit else ""
    return head + "\n".join(lines) + more
