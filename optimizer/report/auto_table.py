"""Human-readable rendering of an AUTO result."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from optimizer.report.analysis_table import render_analysis
from optimizer.solve.auto import AutoResult


def _fmt(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def render_auto(r: AutoResult, console: Console) -> None:
    console.print(f"[bold][AUTO][/] Selected: [bold green]{r.chosen}[/]  (objective: {r.objective})")
    console.print(f"Why: {r.reasoning}")
    console.print(f"vs EXO: {r.vs_exo}")
    tried = []
    for alt in r.alternatives:
        if alt.invalid_reason:
            tried.append(f"{alt.strategy} n/a")
        else:
            mark = " <- chosen" if alt.strategy == r.chosen else ""
            fit = "" if alt.fits else " (does not fit)"
            tried.append(f"{alt.strategy} {_fmt(alt.decode_tok_s)}{fit}{mark}")
    console.print("Tried: " + " | ".join(tried))
    t = Table(title="Strategies", title_justify="left", show_edge=False)
    for col in (
        "strategy",
        "fits",
        "decode tok/s",
        "total tok/s",
        "prefill tok/s",
        "TTFT s",
        "request s",
        "power W",
        "note",
    ):
        t.add_column(col)
    for alt in r.alternatives:
        style = "bold green" if alt.strategy == r.chosen else ""
        t.add_row(
            alt.strategy,
            "-" if alt.fits is None else ("yes" if alt.fits else "[red]no[/]"),
            _fmt(alt.decode_tok_s),
            _fmt(alt.decode_tok_s_total),
            _fmt(alt.prefill_tok_s, 0),
            _fmt(alt.ttft_s, 3),
            _fmt(alt.request_latency_s, 2),
            _fmt(alt.power_w, 0),
            alt.invalid_reason or alt.detail,
            style=style,
        )
    console.print(t)
    s = r.solver
    console.print(
        f"Solver: strategy choice {s.status} in {s.wall_s * 1000:.1f} ms; pipeline placement "
        f"{s.placement_status or '-'}"
        + (f" in {s.placement_wall_s * 1000:.0f} ms (proved optimal)" if s.placement_optimal else "")
    )
    console.print()
    render_analysis(r.analysis, console)
