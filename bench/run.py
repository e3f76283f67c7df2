"""``make bench``: run the benchmark cases, print a table of figures and ratios, write them to JSON.

A case is a module in ``bench/cases/`` with ``run(ctx: BenchContext) -> list[Figure]``. Ratios are
always of two things measured side by side in the same run (the machines are noisy), never of a
figure against a number remembered from elsewhere.

    python -m bench.run                 # every case
    python -m bench.run paytrace_fetch  # some cases
    python -m bench.run --quick         # smaller sizes, for a smoke run
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import bench.cases

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    case: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None  # the side-by-side reference measured in the same run
    baseline_label: str = ""
    goal: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline


@dataclass
class BenchContext:
    workdir: Path
    quick: bool = False
    log: list[str] = field(default_factory=list)

    def say(self, message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        self.log.append(line)
        print(line, flush=True)


def discover() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.cases.__path__))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("cases", nargs="*", help=f"cases to run (default: all of {', '.join(discover())})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    names = args.cases or discover()
    unknown = set(names) - set(discover())
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    figures: list[Figure] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="paysync-bench-") as tmp:
        for name in names:
            ctx = BenchContext(workdir=Path(tmp) / name, quick=args.quick)
            ctx.workdir.mkdir(parents=True)
            ctx.say(f"case {name}: starting")
            try:
                figures.extend(importlib.import_module(f"bench.cases.{name}").run(ctx))
            except Exception:  # noqa: BLE001 - one broken case must not hide the others
                traceback.print_exc()
                failed.append(name)
    print_table(figures)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "at": datetime.now(timezone.utc).isoformat(),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "processor": platform.processor()},
        "quick": args.quick,
        "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
        "failed_cases": failed,
    }, indent=2))
    print(f"\nwritten: {args.out}")
    if failed:
        print(f"FAILED cases: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def print_table(figures: list[Figure]) -> None:
    header = ("case", "metric", "value", "unit", "side by side", "ratio", "goal")
    rows = [
        (f.case, f.metric, f"{f.value:,.2f}", f.unit,
         f"{f.baseline:,.2f} ({f.baseline_label})" if f.baseline is not None else "",
         f"{f.ratio:.2f}" if f.ratio is not None else "", f.goal)
        for f in figures
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print()
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    sys.exit(main())
