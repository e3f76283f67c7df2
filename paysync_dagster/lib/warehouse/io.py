"""Reading warehouse tables into pandas, and rewriting one stage's rows of a partition."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

import pandas as pd
from sqlalchemy import Engine, Table, delete, insert, select

from paysync_dagster.lib.warehouse.engine import begin_write


def read_partition(engine: Engine, table: Table, days: Iterable[date], where=None) -> pd.DataFrame:  # noqa: ANN001
    q = select(table).where(table.c.business_date.in_(sorted(set(days))))
    if where is not None:
        q = q.where(where)
    with engine.connect() as conn:
        result = conn.execute(q)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def read_where(engine: Engine, table: Table, column: str, values: Sequence, chunk: int = 10_000) -> pd.DataFrame:
    """Rows whose ``column`` is in ``values``, read in chunks (databases cap bound parameters)."""
    frames = []
    values = list(values)
    with engine.connect() as conn:
        for start in range(0, len(values), chunk):
            result = conn.execute(select(table).where(table.c[column].in_(values[start : start + chunk])))
            frames.append(pd.DataFrame(result.fetchall(), columns=list(result.keys())))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[c.name for c in table.columns])


def records(df: pd.DataFrame) -> list[dict]:
    """DataFrame rows as plain dicts for inserts: NaN/NaT/<NA> become None, numpy scalars Python ones."""
    out = df.astype(object).where(df.notna(), None)
    return out.to_dict("records")


def rewrite(engine: Engine, days: Iterable[date], writes: Mapping[Table, tuple[object | None, Sequence[dict]]], chunk: int = 5_000) -> dict[str, int]:
    """In one transaction, for each table: delete the days' rows (narrowed by an optional condition) and insert rows."""
    days = sorted(set(days))
    written: dict[str, int] = {}
    with begin_write(engine) as conn:
        for table, (condition, rows) in writes.items():
            stmt = delete(table).where(table.c.business_date.in_(days))
            if condition is not None:
                stmt = stmt.where(condition)
            conn.execute(stmt)
            for start in range(0, len(rows), chunk):
                conn.execute(insert(table), list(rows[start : start + chunk]))
            written[table.name] = len(rows)
    return written
