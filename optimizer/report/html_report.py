"""One self-contained, read-only HTML report of an analysis (inline CSS and SVG, no scripts)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from optimizer.report.diagram import svg
from optimizer.results import Analysis

if TYPE_CHECKING:
    from optimizer.solve.auto import AutoResult

_CSS = """
body{margin:0;background:#0b1120;color:#e5e7eb;font:14px/1.45 system-ui,sans-serif}
main{max-width:1100px;margin:auto;padding:16px}.panel{background:#111827;border:1px solid #374151;border-radius:10px;
padding:14px;margin:12px 0}h1{font-size:20px}h2{font-size:15px;margin:0 0 8px}table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #374151}.muted{color:#cbd5e1}.warn{color:#fde68a}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px}.kpi{background:#0f172a;border-radius:8px;
padding:8px}.kpi b{display:block;font-size:20px}svg{max-width:100%;height:auto}
"""


def _row(cells: list[str], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{escape(c)}</{tag}>" for c in cells) + "</tr>"


def _auto_section(auto: AutoResult) -> str:
    def num(x: float | None, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    rows = "".join(
        _row(
            [
                ("► " if x.strategy == auto.chosen else "") + x.strategy,
                "-" if x.fits is None else ("yes" if x.fits else "no"),
                num(x.decode_tok_s, ",.1f"),
                num(x.prefill_tok_s, ",.0f"),
                num(x.ttft_s, ".3f"),
                x.invalid_reason or x.detail,
            ]
        )
        for x in auto.alternatives
    )
    return (
        "<section class='panel'><h2>AUTO</h2>"
        f"<p>Selected {escape(auto.chosen)}. {escape(auto.reasoning)}. {escape(auto.vs_exo)}</p><table>"
        + _row(["strategy", "fits", "decode tok/s", "prefill tok/s", "TTFT s", "note"], "th")
        + rows
        + "</table></section>"
    )


def html_report(a: Analysis, auto: AutoResult | None = None) -> str:
    """The analysis (and, if given, AUTO's alternatives) as one self-contained HTML page."""
    s = a.system
    kpis = [
        ("Decode tok/s", f"{s.decode_tok_s:,.1f}"),
        ("Prefill tok/s", f"{s.prefill_tok_s:,.0f}"),
        ("TTFT s", f"{s.ttft_s:.3f}"),
        ("Memory", f"{s.memory_percent:.0f}%"),
        ("Power W", f"{s.power_w:,.0f}"),
        ("Cost $/day", f"{s.cost_per_day_usd:,.2f}"),
        ("Tokens per $", f"{s.tokens_per_usd:,.0f}"),
        ("Price $", "n/a" if s.price_usd is None else f"{s.price_usd:,.0f}"),
    ]
    devices = "".join(
        _row([d.name, f"{d.layer_range[0]}-{d.layer_range[1] - 1}",
              f"{d.memory_used_gb:.1f} / {d.memory_usable_gb:.1f}", f"{100 * d.bandwidth_utilization:.0f}%",
              f"{100 * d.compute_utilization:.0f}%", d.bottleneck, f"{d.power_w:.0f}"])
        for d in a.devices
    )  # fmt: skip
    links = "".join(
        _row([f"{lk.between[0]} -> {lk.between[1]}", lk.traffic, lk.link_id, f"{lk.bandwidth_gb_s:g}",
              f"{lk.time_per_token_ms:.3f}", "bottleneck" if lk.bottleneck else ""])
        for lk in a.links
    )  # fmt: skip
    bench = "".join(
        _row([m.source_id, m.metric, f"{m.measured:,.4g}", f"{m.predicted:,.4g}", f"{100 * m.error:+.0f}%"])
        for m in a.benchmarks
    )
    band = a.uncertainty.get("decode_tok_s")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width,"
        f"initial-scale=1'><title>mlba report: {escape(a.model)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{escape(a.model)} · {escape(a.quant)} · {escape(a.strategy)}</h1>",
        f"<p class='muted'>{'fits' if a.fits else 'does NOT fit'} · bottleneck {escape(s.bottleneck)}: "
        f"{escape(s.bottleneck_detail)}</p>",
        "<section class='panel'><h2>System</h2><div class='kpis'>"
        + "".join(f"<div class='kpi'><span class='muted'>{escape(k)}</span><b>{escape(v)}</b></div>" for k, v in kpis)
        + "</div>"
        + (
            f"<p class='muted'>Likely decode range {band.low:,.1f}-{band.high:,.1f} tok/s ({escape(band.basis)})</p>"
            if band
            else ""
        )
        + "".join(f"<p class='warn'>{escape(w)}</p>" for w in a.warnings)
        + "</section>",
        "<section class='panel'><h2>Devices</h2><table>"
        + _row(["device", "layers", "memory GB", "bandwidth", "compute", "bottleneck", "power W"], "th")
        + devices
        + "</table></section>",
    ]
    if a.links:
        parts.append(
            "<section class='panel'><h2>Topology</h2>"
            + svg(a)
            + "<table>"
            + _row(["hop", "traffic", "link", "GB/s", "ms/token", ""], "th")
            + links
            + "</table></section>"
        )
    if a.benchmarks:
        parts.append(
            "<section class='panel'><h2>Benchmarks</h2><table>"
            + _row(["source", "metric", "measured", "predicted", "error"], "th")
            + bench
            + "</table></section>"
        )
    if auto is not None:
        parts.append(_auto_section(auto))
    parts.append("</main></body></html>")
    return "".join(parts)
