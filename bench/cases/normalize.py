"""Normalize and validate a million PayTrace transactions.

Side by side in one run, each in a fresh process so that peak memory is its own: reading the rows
from the warehouse with pandas alone (in 100,000-row chunks, as the asset reads), against reading
them and normalizing and validating them (the work of ``normalized_payments`` without the write).
Goal: within 3x of the read, under 2 GiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench.run import BenchContext, Figure

DAY = date(2026, 10, 14)


def build_warehouse(path: Path, n: int) -> None:
    """A SQLite warehouse whose paytrace_transactions holds ``n`` rows of one business date."""
    from paysync_dagster.lib.warehouse import make_engine, migrate

    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    rng = np.random.default_rng(1)
    created = pd.Timestamp(datetime(2026, 10, 14, 15)) + pd.to_timedelta(rng.integers(0, 86_000, n), unit="s")
    types = rng.choice(["SALE", "SALE", "SALE", "AUTHORIZATION", "CAPTURE", "REFUND"], n)
    states = rng.choice(["settled", "settled", "approved", "declined", "voided"], n)
    df = pd.DataFrame({
        "business_date": DAY, "transaction_id": np.arange(1, n + 1), "transaction_type": types, "state": states,
        "amount_minor": rng.integers(100, 500_000, n), "tax_minor": rng.integers(0, 5_000, n), "currency": "USD",
        "created_at": created, "settled_at": created + timedelta(hours=6),
        "invoice_id": pd.Series(rng.integers(1, 999_999, n)).map(lambda i: f"inv {i}" if i % 3 else f"INV-{i:06d}"),
        "customer_id": "", "description": "Invoice payment",
        "masked_card_number": "************" + pd.Series(rng.integers(1000, 9999, n)).astype(str),
        "card_last_four": "1234", "expiration_month": 12, "expiration_year": 2030, "approval_code": "TAS610",
        "approval_message": "APPROVED", "billing_name": "Anna Smith", "billing_street": "1 Main St", "billing_city": "portland",
        "billing_state": rng.choice(["Oregon", "WA", "ca"], n), "billing_zip": rng.choice(["97204", "972041234", "98101"], n),
        "billing_country": rng.choice(["US", "USA", "United States"], n), "receipt_emailed_to": "", "source": "export",
        "landing_id": np.arange(1, n + 1),
    })
    df.to_sql("paytrace_transactions", engine, if_exists="append", index=False, chunksize=50_000)
    engine.dispose()


_READ = """
import pandas as pd, sqlalchemy as sa, time, json, resource, sys
{imports}
engine = sa.create_engine("sqlite:///{db}")
rows, extra = 0, {{"normalized": 0, "exceptions": 0}}
t0 = time.perf_counter()
# Both sides read the partition the way the asset does: in chunks, so memory stays bounded.
for df in pd.read_sql_query("SELECT * FROM paytrace_transactions ORDER BY transaction_id", engine, chunksize={chunk}):
    rows += len(df)
{work}
print(json.dumps({{"rows": rows, "seconds": time.perf_counter() - t0,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}}))
"""
_IMPORTS = """
from paysync_dagster.lib.mapping import load_mapping
from paysync_dagster.lib.normalize import normalize_chunks
mapping = load_mapping()
"""
_NORMALIZE = """
    for _raw, result in normalize_chunks([df], mapping):
        extra["normalized"] += len(result.payments)
        extra["exceptions"] += len(result.exceptions)
"""
CHUNK = 100_000


def _measure(db: Path, work: str) -> dict:
    # Both processes import the same modules before the clock starts: only the work is timed.
    code = _READ.format(db=db, work=work, imports=_IMPORTS, chunk=CHUNK)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(ctx: BenchContext) -> list[Figure]:
    n = 100_000 if ctx.quick else 1_000_000
    db = ctx.workdir / "warehouse.db"
    t0 = time.perf_counter()
    build_warehouse(db, n)
    ctx.say(f"{n:,} rows written in {time.perf_counter() - t0:.1f}s")
    reads, works = [], []
    for i in range(2):
        reads.append(_measure(db, "    pass"))
        works.append(_measure(db, _NORMALIZE))
        ctx.say(f"round {i + 1}: read {reads[-1]['seconds']:.2f}s; read+normalize+validate {works[-1]['seconds']:.2f}s, "
                f"{works[-1]['normalized']:,} normalized + {works[-1]['exceptions']:,} exceptions, peak {works[-1]['peak_mib']:.0f} MiB")
    read = min(r["seconds"] for r in reads)
    work = min(w["seconds"] for w in works)
    peak = max(w["peak_mib"] for w in works)
    return [
        Figure("normalize", f"read+normalize+validate {n:,} txns", work, "s", baseline=read, baseline_label="pandas read alone, s",
               goal="ratio <= 3", note="best of 2, each in a fresh process"),
        Figure("normalize", "normalize rate", n / work, "txn/s"),
        Figure("normalize", "peak memory", peak, "MiB", baseline=max(r["peak_mib"] for r in reads), baseline_label="pandas read alone, MiB",
               goal="< 2048 MiB"),
    ]
