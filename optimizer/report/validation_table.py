"""Human-readable rendering of validation and cross-validation results."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from optimizer.validate import CvResult, MetricSummary, ValidationReport


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _summary_table(title: str, groups: dict[str, MetricSummary]) -> Table:
    t = Table(title=title, title_justify="left", show_edge=False)
    for col in ("group", "rows", "median APE", "mean APE", "within 30%"):
        t.add_column(col, justify="left" if col == "group" else "right")
    for k, s in groups.items():
        t.add_row(k, str(s.n), _pct(s.median_ape), _pct(s.mean_ape), _pct(s.within_30pct))
    return t


def render_validation(rep: ValidationReport, console: Console, show_rows: int = 25) -> None:
    s = rep.summary
    worst = sorted((r for r in rep.rows if r.ape is not None and r.status != "flagged-anomaly"), key=lambda r: -r.ape)[
        :show_rows
    ]  # type: ignore[operator]
    if worst:
        t = Table(title=f"Largest errors (of {s.mapped} predicted rows)", title_justify="left", show_edge=False)
        for col in (
            "source",
            "device",
            "n",
            "model",
            "quant",
            "runtime",
            "metric",
            "batch",
            "measured",
            "predicted",
            "error",
        ):
            t.add_column(col)
        for r in worst:
            signed = (r.predicted or 0) / (r.measured or 1) - 1
            t.add_row(
                r.source_id,
                r.device[:34],
                str(r.device_count),
                r.model[:24],
                r.quant[:12],
                r.runtime[:22],
                r.metric.replace("_tok_s", ""),
                r.batch,
                f"{r.measured:,.4g}",
                f"{r.predicted:,.4g}",
                f"{100 * signed:+.0f}%",
            )
        console.print(t)
    console.print(_summary_table("By metric", s.by_metric))
    console.print(_summary_table("By source", s.by_source))
    console.print(_summary_table("By runtime", s.by_runtime))
    console.print(_summary_table("By device family", s.by_device_family))
    if s.never_fitted:
        console.print(_summary_table("Held out: rows the fit never used (benchmarks_holdout.csv)", s.never_fitted))
    console.print(
        f"[bold]Decode[/] median APE {_pct(s.decode.median_ape)}, within 30%: {_pct(s.decode.within_30pct)} "
        f"({s.decode.n} rows; batch 1: {_pct(s.decode_batch1.median_ape)}, "
        f"{_pct(s.decode_batch1.within_30pct)} within 30%, {s.decode_batch1.n} rows) · "
        f"[bold]prefill[/] median APE {_pct(s.prefill.median_ape)} ({s.prefill.n}) · "
        f"[bold]multi-device[/] median APE {_pct(s.multi_device.median_ape)} ({s.multi_device.n}) · "
        f"mapped {s.mapped}, not compared {s.unmapped}"
    )
    skipped: dict[str, int] = {}
    for r in rep.rows:
        if r.status in ("unmapped", "not-comparable", "flagged-anomaly"):
            skipped[r.reason.split(";")[0][:100]] = skipped.get(r.reason.split(";")[0][:100], 0) + 1
    for reason, n in sorted(skipped.items(), key=lambda kv: -kv[1])[:15]:
        console.print(f"[dim]not compared ({n}): {reason}[/]")


def render_cv(cv: CvResult, console: Console) -> None:
    console.print(_summary_table(f"{cv.scheme}: error on each held-out group", cv.held_out))
    s = cv.summary
    console.print(
        f"[bold]{cv.scheme}[/]: decode median APE {_pct(s.decode.median_ape)}, "
        f"within 30% {_pct(s.decode.within_30pct)} "
        f"({s.decode.n}; batch 1: {_pct(s.decode_batch1.median_ape)}, {_pct(s.decode_batch1.within_30pct)} "
        f"within 30%, {s.decode_batch1.n}) · prefill median APE {_pct(s.prefill.median_ape)} ({s.prefill.n}) · "
        f"multi-device median APE {_pct(s.multi_device.median_ape)} ({s.multi_device.n})"
    )
