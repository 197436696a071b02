"""Rebuild the evidence files: the resolved benchmark index and the cross-validated error bands.

Run:  python benchmarks/build_evidence.py        (about half a minute: it refits once per held-out group)
Writes catalog/data/benchmarks_index.csv and optimizer/perf/uncertainty.json (see optimizer/evidence.py).
Re-run after changing the benchmark files, the catalog or the fitted constants.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.evidence import INDEX_COLUMNS  # noqa: E402
from optimizer.measurements import MappedRow, map_row  # noqa: E402
from optimizer.problem import resolve  # noqa: E402
from optimizer.validate import builtin_measurements, cross_validate  # noqa: E402


def index_rows() -> list[dict[str, object]]:
    out = []
    for raw in builtin_measurements().to_dict(orient="records"):
        m = map_row(raw)
        if not isinstance(m, MappedRow) or m.flagged:
            continue
        rp = resolve(m.problem)
        inst = rp.devices[0]
        w = m.problem.workload
        out.append(
            {
                "row_id": m.row_id,
                "source_id": m.source_id,
                "source_url": raw.get("source_url", ""),
                "device_id": inst.device.id,
                "memory_gb": inst.memory_gb,
                "device_count": len(rp.devices),
                "model_id": rp.model.id,
                "quant_id": rp.quant.id,
                "runtime_id": rp.runtime.id,
                "engine": rp.runtime.engine,
                "metric": m.metric,
                "batch": w.batch,
                "prompt_tokens": w.prompt_tokens,
                "gen_tokens": w.gen_tokens if m.metric == "decode_tok_s" else 0,
                "cached_tokens": w.cached_tokens,
                "value": m.measured,
                "flash_attention": int(m.problem.flash_attention),
                "ubatch": m.problem.ubatch,
            }
        )
    return out


def quantiles(values: list[float], scheme: str) -> dict[str, object]:
    a = np.array(values)
    return {
        "n": int(a.size),
        "median": round(float(np.median(a)), 4),
        "p80": round(float(np.quantile(a, 0.8)), 4),
        "scheme": scheme,
    }


def uncertainty() -> dict[str, dict]:
    df = builtin_measurements()
    loso = cross_validate(df, "source", progress=lambda m: print(m, file=sys.stderr))
    lofo = cross_validate(df, "family", progress=lambda m: print(m, file=sys.stderr))
    fam: dict[str, list[float]] = defaultdict(list)
    rk: dict[str, list[float]] = defaultdict(list)
    everything: dict[str, list[float]] = defaultdict(list)
    # A source's rows say how well a family is predicted from *other* sources only if some other
    # source measured that family and runtime; otherwise they measure an empty fit, not our error.
    sources: dict[str, set[str]] = defaultdict(set)
    for r in _scored(loso):
        sources[f"{r.runtime_key}|{r.device_family}|{r.metric}"].add(r.source_id)
    for r in _scored(loso):
        key = f"{r.runtime_key}|{r.device_family}|{r.metric}"
        if sources[key] - {r.source_id}:
            fam[key].append(r.ape)
    for r in _scored(lofo):
        rk[f"{r.runtime_key}|{r.metric}"].append(r.ape)
        everything[r.metric].append(r.ape)
    return {
        "family": {k: quantiles(v, "leave-one-source-out") for k, v in sorted(fam.items())},
        "runtime": {k: quantiles(v, "leave-one-family-out") for k, v in sorted(rk.items())},
        "all": {k: quantiles(v, "leave-one-family-out") for k, v in sorted(everything.items())},
    }


def _scored(cv):  # type: ignore[no-untyped-def]
    return [r for r in cv.rows if r.ape is not None and r.status == "ok"]


def write_index(path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=INDEX_COLUMNS)
        w.writeheader()
        w.writerows(index_rows())


def main() -> None:
    write_index(ROOT / "catalog/data/benchmarks_index.csv")
    out = ROOT / "optimizer/perf/uncertainty.json"
    out.write_text(json.dumps(uncertainty(), indent=1) + "\n")
    print("wrote catalog/data/benchmarks_index.csv and optimizer/perf/uncertainty.json")


if __name__ == "__main__":
    main()
