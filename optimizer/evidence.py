"""Evidence beside a prediction: the nearest known measurements and an uncertainty band.

Two generated files back this module, both rebuilt by ``python benchmarks/build_evidence.py``:
* ``catalog/data/benchmarks_index.csv``: every comparable row of the benchmark database with its
  names resolved to catalog ids, so an analysis can find measurements of the same setup without
  resolving 1,800 free-form names each time;
* ``optimizer/perf/uncertainty.json``: cross-validated absolute percentage errors (leave one source
  out within a family; leave one device family out for a runtime), from which the band is taken.
"""

from __future__ import annotations

import csv
import json
from functools import cache
from importlib import resources

from optimizer.results import Band, Measurement

INDEX_COLUMNS = [
    "row_id", "source_id", "source_url", "device_id", "memory_gb", "device_count", "model_id", "quant_id",
    "runtime_id", "engine", "metric", "batch", "prompt_tokens", "gen_tokens", "cached_tokens", "value",
    "flash_attention", "ubatch",
]  # fmt: skip
BAND_QUANTILE = "p80"  # the band covers 80% of cross-validated errors
MIN_ROWS_FOR_GROUP = 8


@cache
def _index() -> list[dict[str, str]]:
    text = resources.files("catalog").joinpath("data", "benchmarks_index.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def _uncertainty() -> dict:
    text = resources.files("optimizer.perf").joinpath("uncertainty.json").read_text("utf-8")
    return json.loads(text)


def matching_measurements(
    device_id: str, count: int, model_id: str, quant_id: str, engine: str
) -> list[dict[str, str]]:
    """Indexed measurements of this exact setup (same device, count, model, quant and engine)."""
    return [
        r
        for r in _index()
        if r["device_id"] == device_id
        and int(r["device_count"]) == count
        and r["model_id"] == model_id
        and r["quant_id"] == quant_id
        and r["engine"] == engine
    ]


def nearest(rows: list[dict[str, str]], metric: str, prompt: int, gen: int, batch: int, n: int) -> list[dict]:
    """The ``n`` rows of ``metric`` closest to this workload (batch first, then lengths)."""
    cands = [r for r in rows if r["metric"] == metric]

    def distance(r: dict[str, str]) -> tuple[int, float]:
        b = int(r["batch"])
        dp = abs(float(r["prompt_tokens"] or 0) - prompt) / max(prompt, 512)
        dg = abs(float(r["gen_tokens"] or 0) - gen) / max(gen, 128) if metric == "decode_tok_s" else 0.0
        return (abs(b - batch), dp + dg)

    return sorted(cands, key=distance)[:n]


def band(metric: str, runtime_key: str, family: str, value: float) -> Band:
    """An interval around ``value`` covering 80% of cross-validated errors of the closest group."""
    u = _uncertainty()
    candidates = [
        ("family", f"{runtime_key}|{family}|{metric}"),
        ("runtime", f"{runtime_key}|{metric}"),
        ("all", metric),
    ]
    for level, key in candidates:
        g = u.get(level, {}).get(key)
        if g and g["n"] >= MIN_ROWS_FOR_GROUP:
            e = g[BAND_QUANTILE]
            # APE e = |predicted / measured - 1|, so measured lies in [value/(1+e), value/(1-e)]
            high = value / (1 - e) if e < 0.9 else value * 10
            return Band(
                low=round(value / (1 + e), 4),
                high=round(high, 4),
                ape_p80=round(e, 4),
                basis=f"{g['scheme']}: {key} ({g['n']} rows)",
            )
    return Band(low=value / 2, high=value * 2, ape_p80=1.0, basis="no cross-validated data: factor 2")


def to_measurement(r: dict[str, str], predicted: float) -> Measurement:
    measured = float(r["value"])
    return Measurement(
        source_id=r["source_id"],
        source_url=r["source_url"],
        row_id=r["row_id"],
        metric=r["metric"],
        batch=int(r["batch"]),
        prompt_tokens=int(float(r["prompt_tokens"] or 0)),
        gen_tokens=int(float(r["gen_tokens"] or 0)),
        flash_attention=r["flash_attention"] == "1",
        ubatch=int(r["ubatch"]),
        measured=measured,
        predicted=round(predicted, 4),
        error=round(predicted / measured - 1, 4),
    )
