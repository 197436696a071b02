"""Predictions beside measurements: per-row errors, summaries and cross-validation.

Public API:
    validate(df) -> ValidationReport            predicted vs measured for every row of a CSV
    cross_validate(df, by="source"|"family")    refit without each group, predict it (honest error)
    builtin_measurements() -> DataFrame          the known-benchmark database shipped in the catalog
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import resources
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from optimizer.analyze import analyze
from optimizer.measurements import (
    PER_TOKEN_LATENCY_METRICS,
    MappedRow,
    Rejected,
    is_held_out,
    load_measurements,
    map_row,
)
from optimizer.perf import efficiency
from optimizer.problem import ProblemError

BUILTIN_FILES = ("benchmarks_calibration.csv", "benchmarks_public.csv", "benchmarks_holdout.csv")
Status = Literal["ok", "predicted-no-fit", "flagged-anomaly", "unmapped", "not-comparable", "error"]


class ValidationRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    row_id: str
    source_id: str
    device: str
    model: str
    quant: str
    runtime: str
    device_count: int
    metric: str
    batch: str
    measured: float | None
    predicted: float | None
    ape: float | None
    status: Status
    reason: str = ""
    device_family: str | None = None
    runtime_key: str | None = None


class MetricSummary(BaseModel):
    n: int
    median_ape: float | None
    mean_ape: float | None
    within_30pct: float | None


class ValidationSummary(BaseModel):
    mapped: int
    unmapped: int
    decode: MetricSummary
    decode_batch1: MetricSummary  # single-stream decode only (batched rows are total throughput)
    prefill: MetricSummary
    ttft: MetricSummary
    multi_device: MetricSummary
    by_source: dict[str, MetricSummary]
    by_metric: dict[str, MetricSummary]
    by_runtime: dict[str, MetricSummary]
    by_device_family: dict[str, MetricSummary]
    # rows of the built-in held-out file (benchmarks_holdout.csv), which the fit never used, by metric
    never_fitted: dict[str, MetricSummary] = {}


class ValidationReport(BaseModel):
    rows: list[ValidationRow]
    summary: ValidationSummary

    def frame(self) -> pd.DataFrame:
        """One row per measurement (pandas)."""
        return pd.DataFrame([r.model_dump() for r in self.rows])


def builtin_measurements() -> pd.DataFrame:
    """The known-benchmark database: the calibration set, the public measurements and the held-out
    public measurements (never fitted)."""
    frames = []
    for name in BUILTIN_FILES:
        with resources.as_file(resources.files("catalog").joinpath("data", name)) as path:
            frames.append(load_measurements(path))
    return pd.concat(frames, ignore_index=True)


def _summary(values: Iterable[float]) -> MetricSummary:
    a = np.array(list(values), dtype=float)
    if a.size == 0:
        return MetricSummary(n=0, median_ape=None, mean_ape=None, within_30pct=None)
    return MetricSummary(
        n=int(a.size),
        median_ape=round(float(np.median(a)), 4),
        mean_ape=round(float(np.mean(a)), 4),
        within_30pct=round(float(np.mean(a <= 0.30)), 4),
    )


def predict(row: MappedRow) -> float:
    """The engine's figure for the metric a measurement reports."""
    a = analyze(row.problem, evidence=False)
    if row.metric == "decode_tok_s":
        return a.system.decode_tok_s_total if row.problem.workload.batch > 1 else a.system.decode_tok_s
    if row.metric == "prefill_tok_s":
        return a.system.prefill_tok_s
    if row.metric == "total_throughput_tok_s":  # batch 1: output tokens over the request's time
        return row.problem.workload.gen_tokens / a.system.request_latency_s
    return a.system.ttft_s


def _device_count(raw: dict, mapped: MappedRow | Rejected) -> int:
    """Devices the row ran on: the mapped setup's, else the file's column (a column with blanks reads
    as floats, 8.0), else 1."""
    if isinstance(mapped, MappedRow):
        return sum(d.count for d in mapped.problem.devices)
    n = pd.to_numeric(raw.get("device_count"), errors="coerce")
    return int(n) if not pd.isna(n) and n >= 1 else 1


def _row(raw: dict, mapped: MappedRow | Rejected, predict_fn: Callable[[MappedRow], float]) -> ValidationRow:
    base = {
        "row_id": str(raw.get("row_id")),
        "source_id": str(raw.get("source_id", "")),
        "device": str(raw.get("device", "")),
        "model": str(raw.get("model", "")),
        "quant": str(raw.get("quant", "")),
        "runtime": str(raw.get("backend", "")),
        "device_count": _device_count(raw, mapped),
        # a mapped row reports the metric it was read as (a TPOT row as its decode rate)
        "metric": mapped.metric if isinstance(mapped, MappedRow) else str(raw.get("metric", "")),
        "batch": str(raw.get("batch", "")),
    }
    measured = pd.to_numeric(raw.get("value"), errors="coerce")
    measured = None if pd.isna(measured) else float(measured)
    if isinstance(mapped, Rejected):
        status: Status = (
            "not-comparable" if "not comparable" in mapped.reason or "batch" in mapped.reason else "unmapped"
        )
        return ValidationRow(**base, measured=measured, predicted=None, ape=None, status=status, reason=mapped.reason)
    try:
        pred = predict_fn(mapped)
    except (ProblemError, ValueError) as exc:
        return ValidationRow(**base, measured=measured, predicted=None, ape=None, status="error", reason=str(exc))
    a_fits = analyze(mapped.problem, evidence=False).fits
    ape = abs(pred / mapped.measured - 1.0)
    status: Status = "ok"
    reason = ""
    if mapped.flagged:
        status, reason = (
            "flagged-anomaly",
            "the source marks this value as a possible anomaly; not in the summary",
        )
    elif not a_fits:
        status, reason = "predicted-no-fit", "the engine's memory model says this setup does not fit"
    return ValidationRow(
        **base,
        measured=mapped.measured,
        predicted=round(pred, 4),
        ape=round(ape, 4),
        status=status,
        reason=reason,
        device_family=mapped.device_family,
        runtime_key=mapped.runtime_key,
    )


def _is_single_stream(batch: str) -> bool:
    try:
        return float(batch) == 1.0
    except ValueError:
        return False


def summarize(rows: list[ValidationRow]) -> ValidationSummary:
    scored = [r for r in rows if r.ape is not None and r.status != "flagged-anomaly"]

    def group(key: Callable[[ValidationRow], str | None]) -> dict[str, MetricSummary]:
        out: dict[str, list[float]] = {}
        for r in scored:
            k = key(r)
            if k is not None:
                out.setdefault(k, []).append(r.ape)  # type: ignore[arg-type]
        return {k: _summary(v) for k, v in sorted(out.items())}

    by_metric = group(lambda r: r.metric)
    empty = _summary([])
    return ValidationSummary(
        mapped=sum(1 for r in rows if r.status in ("ok", "predicted-no-fit", "flagged-anomaly", "error")),
        unmapped=sum(1 for r in rows if r.status in ("unmapped", "not-comparable")),
        decode=by_metric.get("decode_tok_s", empty),
        decode_batch1=_summary(
            r.ape  # type: ignore[misc]
            for r in scored
            if r.metric == "decode_tok_s" and _is_single_stream(r.batch)
        ),
        prefill=by_metric.get("prefill_tok_s", empty),
        ttft=by_metric.get("ttft_s", empty),
        multi_device=_summary(r.ape for r in scored if r.device_count > 1),  # type: ignore[misc]
        by_source=group(lambda r: r.source_id),
        by_metric=by_metric,
        by_runtime=group(lambda r: r.runtime_key),
        by_device_family=group(lambda r: r.device_family),
        never_fitted=group(lambda r: r.metric if is_held_out(r.row_id) else None),
    )


def validate(
    df: pd.DataFrame,
    source: str | None = None,
    device: str | None = None,
    metric: str | None = None,
) -> ValidationReport:
    """Predict every row of ``df`` (calibration.csv columns) and compare with the measurement."""
    df = _filter(df, source, device, metric)
    rows = [_row(raw, map_row(raw), predict) for raw in df.to_dict(orient="records")]
    return ValidationReport(rows=rows, summary=summarize(rows))


def _filter(df: pd.DataFrame, source: str | None, device: str | None, metric: str | None) -> pd.DataFrame:
    if source:
        df = df[df["source_id"].astype(str).str.contains(source, case=False, regex=False)]
    if device:
        df = df[df["device"].astype(str).str.contains(device, case=False, regex=False)]
    if metric:  # a decode filter keeps the TPOT rows, which are read as decode rates
        wanted = {metric, *PER_TOKEN_LATENCY_METRICS} if metric == "decode_tok_s" else {metric}
        df = df[df["metric"].astype(str).isin(wanted)]
    return df


class CvResult(BaseModel):
    scheme: str
    summary: ValidationSummary
    held_out: dict[str, MetricSummary]
    rows: list[ValidationRow] = Field(default_factory=list, exclude=True)


def cross_validate(
    df: pd.DataFrame,
    by: Literal["source", "family"] = "source",
    progress: Callable[[str], None] | None = None,
) -> CvResult:
    """Leave one source (or one device family) out: refit on the rest, predict the held-out rows.

    Groups that contribute no fitting rows are predicted by the full fit (they were never in it)."""
    from optimizer.calibrate import fit, observations

    raws = df.to_dict(orient="records")
    mapped = [map_row(r) for r in raws]
    ok = [m for m in mapped if isinstance(m, MappedRow)]
    key: Callable[[MappedRow], str] = (lambda m: m.source_id) if by == "source" else (lambda m: m.device_family)
    fitted_keys = {key(o.row) for o in observations(ok)}
    rows: list[ValidationRow] = []
    held: dict[str, MetricSummary] = {}
    for group_key in sorted({key(m) for m in ok}):
        members = [
            (raw, m) for raw, m in zip(raws, mapped, strict=True) if isinstance(m, MappedRow) and key(m) == group_key
        ]
        if group_key in fitted_keys:
            if progress:
                progress(f"refit without {by} {group_key}")
            constants = fit([m for m in ok if key(m) != group_key])
            with efficiency.using_constants(constants):
                group_rows = [_row(raw, m, predict) for raw, m in members]
        else:
            group_rows = [_row(raw, m, predict) for raw, m in members]
        held[group_key] = _summary(
            r.ape
            for r in group_rows
            if r.ape is not None and r.status != "flagged-anomaly"  # type: ignore[misc]
        )
        rows += group_rows
    return CvResult(scheme=f"leave-one-{by}-out", summary=summarize(rows), held_out=held, rows=rows)
