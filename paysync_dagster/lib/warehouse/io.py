"""Reading warehouse tables into pandas, and rewriting one stage's rows of a partition."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date

import pandas as pd
from sqlalchemy import Connection, Engine, Table, delete, insert, select

from paysync_dagster.lib.warehouse.engine import begin_write


def read_partition(engine: Engine, table: Table, days: Iterable[date], where=None) -> pd.DataFrame:  # noqa: ANN001
    q = select(table).where(table.c.business_date.in_(sorted(set(days))))
    if where is not None:
        q = q.where(where)
    with engine.connect() as conn:
        result = conn.execute(q)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def read_partition_chunks(engine: Engine, table: Table, days: Iterable[date], chunk_size: int = 100_000) -> Iterator[pd.DataFrame]:
    """The partition in chunks, ordered by its first key column: a million rows never sit in memory at once."""
    q = select(table).where(table.c.business_date.in_(sorted(set(days))))
    keys = list(table.primary_key.columns) or [c for c in table.columns if c.name == "transaction_id"] or [table.c.business_date]
    key = keys[0]
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(q.order_by(key))
        columns = list(result.keys())
        for part in result.partitions(chunk_size):
            yield pd.DataFrame(part, columns=columns)


def clear_days(conn: Connection, table: Table, days: Sequence[date], condition: object | None = None) -> None:
    """Delete the days' rows of ``table``, narrowed by an optional condition (one stage's rows)."""
    stmt = delete(table).where(table.c.business_date.in_(days))
    conn.execute(stmt if condition is None else stmt.where(condition))


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping], chunk: int = 5_000) -> None:
    """Insert in chunks: databases cap the bound parameters of one statement."""
    for start in range(0, len(rows), chunk):
        conn.execute(insert(table), list(rows[start : start + chunk]))


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
            clear_days(conn, table, days, condition)
            insert_rows(conn, table, rows, chunk)
            written[table.name] = len(rows)
    return written
