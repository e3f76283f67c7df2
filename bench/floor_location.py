"""The floor under ``webhook_to_receipt``: a bare Dagster code location, one sensor, one trivial job.

The sensor reads the rows of a small SQLite table inserted since its cursor and, per tick with new
rows, requests one run of ``mark_done``, whose one op writes "done" for the rows it covers back to the
same table. Nothing else: no partitions, no assets, no resources, no product code; the run executes
in process (one run worker, no step subprocess). What a row's insert -> "done" takes here is what
Dagster itself costs (sensor interval, tick, queue, run launch, one op), on the same instance
settings as PaySync.

Served by ``dagster dev -f bench/floor_location.py`` with:

- ``BENCH_FLOOR_DB``: path of the SQLite file (the bench creates the table ``floor_rows``);
- ``BENCH_FLOOR_SENSOR_INTERVAL_SECONDS``: the sensor's minimum interval (the bench passes the
  landing sensor's, as the running PaySync instance reports it).
"""

import os
import sqlite3
import time

import dagster as dg

DB_ENV = "BENCH_FLOOR_DB"
INTERVAL_ENV = "BENCH_FLOOR_SENSOR_INTERVAL_SECONDS"
TRIGGER_TAG = ("bench/trigger", "floor")

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_rows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    inserted_at REAL NOT NULL,
    done_at REAL
)
"""


def connect(path: str | None = None) -> sqlite3.Connection:
    conn = sqlite3.connect(path or os.environ[DB_ENV], timeout=30, isolation_level=None)  # autocommit
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class MarkDoneConfig(dg.Config):
    after: int  # rows with after < id <= upto
    upto: int


@dg.op
def mark_done(context: dg.OpExecutionContext, config: MarkDoneConfig) -> None:
    conn = connect()
    try:
        cur = conn.execute("UPDATE floor_rows SET done_at = ? WHERE id > ? AND id <= ? AND done_at IS NULL",
                           (time.time(), config.after, config.upto))
        context.log.info(f"done: {cur.rowcount} rows in ({config.after}, {config.upto}]")
    finally:
        conn.close()


# In-process: the run's one step runs in the run worker itself, as in PaySync's live job (the default
# multiprocess executor would add a step subprocess, seconds of interpreter start, to every run).
@dg.job(executor_def=dg.in_process_executor, tags=dict([TRIGGER_TAG]))
def floor_job() -> None:
    mark_done()


@dg.sensor(job=floor_job, minimum_interval_seconds=int(os.environ.get(INTERVAL_ENV) or 5),
           default_status=dg.DefaultSensorStatus.RUNNING)
def floor_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    after = int(context.cursor or 0)
    conn = connect()
    try:
        upto = conn.execute("SELECT max(id) FROM floor_rows WHERE id > ?", (after,)).fetchone()[0]
    finally:
        conn.close()
    if upto is None:
        return dg.SkipReason(f"no rows after id {after}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"floor-{after}-{upto}",
                                    run_config=dg.RunConfig(ops={"mark_done": MarkDoneConfig(after=after, upto=upto)}),
                                    tags=dict([TRIGGER_TAG]))],
        cursor=str(upto),
    )


defs = dg.Definitions(jobs=[floor_job], sensors=[floor_sensor])
