"""Human-readable rendering of an Analysis (rich tables)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from optimizer.perf.roofline import DEFAULT_UBATCH
from optimizer.results import Analysis


def _rate(x: float) -> str:
    return f"{x:,.1f}" if x < 1000 else f"{x:,.0f}"


def _money(x: float | None) -> str:
    return "n/a" if x is None else f"${x:,.0f}"


def _tokens(x: float) -> str:
    if x == float("inf"):
        return "inf"
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:.0f}"


def render_analysis(a: Analysis, console: Console) -> None:
    s = a.system
    w = a.workload
    n_dev = len(a.devices)
    fit = "[green]fits[/]" if a.fits else "[bold red]DOES NOT FIT[/]"
    console.print(
        f"[bold]{a.model}[/] · {a.quant} · {a.runtime} · {n_dev} device{'s' if n_dev != 1 else ''} · "
        f"{a.strategy} · {fit}"
    )
    if_fit = "" if a.fits else "[red](if it fit)[/] "
    console.print(
        f"Decode {if_fit} [bold]{_rate(s.decode_tok_s)} tok/s[/] per sequence"
        + (f" ({_rate(s.decode_tok_s_total)} total at batch {w.batch})" if w.batch > 1 else "")
        + f"  ·  prefill [bold]{_rate(s.prefill_tok_s)} tok/s[/]  ·  TTFT [bold]{s.ttft_s:.3f} s[/]"
        + f"  ·  request {s.request_latency_s:.2f} s"
    )
    console.print(
        f"Workload: {w.prompt_tokens:,} prompt + {w.gen_tokens:,} generated tokens, batch {w.batch}, "
        f"KV {w.kv_quant} for {w.context_tokens:,} tokens"
        + ("" if w.flash_attention else ", no flash attention")
        + (f", prefill micro-batch {w.ubatch:,}" if w.ubatch != DEFAULT_UBATCH else "")
    )
    console.print(
        f"Memory  {s.memory_used_gb:,.1f} / {s.memory_capacity_gb:,.0f} GB ({s.memory_percent:.0f}%)  ·  "
        f"power {s.power_w:,.0f} W (decode {s.power_decode_w:,.0f}, prefill {s.power_prefill_w:,.0f})  ·  "
        f"price {_money(s.price_usd)}"
    )
    console.print(
        f"Cost    ${s.cost_per_day_usd:,.2f}/day · ${s.cost_per_month_usd:,.2f}/month electricity · "
        f"{_tokens(s.tokens_per_usd)} tokens/$ · {_tokens(s.tokens_per_kwh)} tokens/kWh"
    )
    console.print(f"Bottleneck: [bold yellow]{s.bottleneck}[/] ({s.bottleneck_detail})")

    t = Table(title="Devices", title_justify="left", show_edge=False, pad_edge=False)
    for col, just in (
        ("device", "left"),
        ("layers", "right"),
        ("memory GB", "right"),
        ("usable", "right"),
        ("decode ms", "right"),
        ("BW util", "right"),
        ("compute", "right"),
        ("power W", "right"),
        ("bottleneck", "left"),
        ("calibration", "left"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for d in a.devices:
        mem_style = "" if d.fits else "[red]"
        t.add_row(
            d.name,
            f"{d.layer_range[0]}-{d.layer_range[1] - 1} ({d.layers})",
            f"{mem_style}{d.memory_used_gb:,.1f}",
            f"{d.memory_usable_gb:,.1f}",
            f"{d.decode_step_ms:.2f}",
            f"{100 * d.bandwidth_utilization:.0f}%",
            f"{100 * d.compute_utilization:.0f}%",
            f"{d.power_w:,.0f}",
            d.bottleneck,
            d.efficiency_group,
        )
    console.print(t)
    if a.links:
        lt = Table(title="Links", title_justify="left", show_edge=False, pad_edge=False)
        for col in ("hop", "link", "GB/s", "latency us", "bytes/token", "ms/token", "note"):
            lt.add_column(col)
        for lk in a.links:
            note = "[red]bottleneck[/]" if lk.bottleneck else ""
            if lk.inferred:
                note = (note + " inferred").strip()
            lt.add_row(
                f"{lk.between[0]} -> {lk.between[1]}",
                lk.link_id,
                f"{lk.bandwidth_gb_s:g}",
                f"{lk.latency_us:g}",
                f"{lk.bytes_per_token:,.0f}",
                f"{lk.time_per_token_ms:.3f}",
                note,
            )
        console.print(lt)
    if a.uncertainty:
        parts = []
        for key, label in (("decode_tok_s", "decode"), ("prefill_tok_s", "prefill"), ("ttft_s", "TTFT")):
            b = a.uncertainty.get(key)
            if b is not None:
                if key == "ttft_s":
                    parts.append(f"{label} {b.low:.3g}–{b.high:.3g} s")
                else:
                    parts.append(f"{label} {_rate(b.low)}–{_rate(b.high)}")
        basis = a.uncertainty["decode_tok_s"].basis
        console.print(f"Likely range (80% of cross-validated errors): {' · '.join(parts)}  [dim]({basis})[/]")
    for m in a.benchmarks:
        what = {"decode_tok_s": "decode", "prefill_tok_s": "prefill", "ttft_s": "TTFT"}[m.metric]
        load = f"pp{m.prompt_tokens}" if m.metric != "decode_tok_s" else f"tg{m.gen_tokens}@{m.prompt_tokens}"
        if m.metric != "decode_tok_s" and not m.flash_attention:
            load += ", no flash attention"
        console.print(
            f"Benchmark: {what} {m.measured:,.4g} ({load}, batch {m.batch}) [{m.source_id}]; "
            f"predicted {m.predicted:,.4g}, {100 * m.error:+.0f}%  [dim]{m.source_url}[/]"
        )
    if len(a.devices) > 1:
        from optimizer.report.diagram import ascii_diagram

        console.print("Topology", style="bold")
        console.print(ascii_diagram(a), markup=False, highlight=False)
    if a.link_upgrade:
        console.print(f"[cyan]faster link:[/] {a.link_upgrade}")
    for note in a.notes:
        console.print(f"[cyan]note:[/] {note}")
    for warn in a.warnings:
        console.print(f"[yellow]warning:[/] {warn}")
