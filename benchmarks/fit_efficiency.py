"""Fit the efficiency constants and write them where the engine reads them.

Run:  python benchmarks/fit_efficiency.py [--data FILE.csv ...]
Default data: the project's fitting set (catalog/data/benchmarks_calibration.csv, a copy of
shared/reference/measurements/calibration.csv) and the public benchmark database
(catalog/data/benchmarks_public.csv). Writes
optimizer/perf/fitted_efficiency.json (constants + what they were fitted on) and
benchmarks/fit_rows_used.csv (every row used, with its in-sample error). The model and the loss are
described in optimizer/calibrate.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.calibrate import fit  # noqa: E402
from optimizer.measurements import load_measurements, map_frame  # noqa: E402

DEFAULT_DATA = [
    ROOT / "catalog/data/benchmarks_calibration.csv",  # = shared/reference/measurements/calibration.csv
    ROOT / "catalog/data/benchmarks_public.csv",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", type=Path, help="measurement CSV (repeatable)")
    ap.add_argument("--out", type=Path, default=ROOT / "optimizer/perf/fitted_efficiency.json")
    ap.add_argument("--rows-out", type=Path, default=ROOT / "benchmarks/fit_rows_used.csv")
    args = ap.parse_args()
    files = args.data or DEFAULT_DATA
    df = pd.concat([load_measurements(f) for f in files], ignore_index=True)
    mapped, rejected = map_frame(df)
    result = fit(mapped)
    rows = pd.DataFrame(result.pop("rows"), columns=["row_id", "source_id", "phase", "measured", "fitted", "ape"])
    meta = {
        "fitted_on": [f.name for f in files],
        "fit_date": date.today().isoformat(),
        "method": "optimizer/calibrate.py (docstring); run benchmarks/fit_efficiency.py to reproduce",
        "rows_used": rows.groupby("phase").size().to_dict(),
        "rows_used_by_source": rows.groupby("source_id").size().to_dict(),
        "rows_file": "benchmarks/fit_rows_used.csv",
        "rows_not_used": len(rejected),
    }
    result["groups"] = dict(sorted(result["groups"].items()))  # stable diffs between refits
    result["kernel_factors"] = dict(sorted(result["kernel_factors"].items()))
    args.out.write_text(json.dumps({**meta, **result}, indent=1) + "\n")
    rows.to_csv(args.rows_out, index=False, float_format="%.4g")
    for phase, ape in result["in_sample_median_ape"].items():
        print(f"{phase}: {meta['rows_used'].get(phase, 0)} rows, in-sample median APE {ape:.1%}")
    print(f"rows not usable: {len(rejected)}")
    for reason, n in Counter(r.reason.split(";")[0][:90] for r in rejected).most_common(10):
        print(f"  {n:4d}  {reason}")
    print(f"wrote {args.out.relative_to(ROOT)} and {args.rows_out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
