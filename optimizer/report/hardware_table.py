"""Rendering of hardware answers: the plan, why cheaper ones fail, the Pareto front, an SVG chart."""

from __future__ import annotations

from html import escape
from pathlib import Path

from rich.console import Console
from rich.table import Table

from optimizer.solve.hardware import HardwareAnswer, HardwareConfig


def render_hardware(ans: HardwareAnswer, console: Console, show_pareto: bool) -> None:
    console.print(f"[bold]{ans.question}[/]")
    c = ans.chosen
    if c is None:
        console.print(f"[bold red]No plan:[/] {ans.binding_limit}")
    else:
        console.print(
            f"[bold green]{c.count}x {c.device}[/] · {c.strategy} · {c.runtime}" + (f" · {c.link}" if c.link else "")
        )
        console.print(
            f"Decode {c.decode_tok_s:,.1f} tok/s (total {c.decode_tok_s_total:,.1f}) · "
            f"prefill {c.prefill_tok_s:,.0f} tok/s · TTFT {c.ttft_s:.3f} s"
        )
        console.print(
            f"Price ${c.price_usd:,.0f} · power {c.power_w:,.0f} W · ${c.cost_per_month_usd:,.2f}/month electricity · "
            f"{c.tokens_per_usd:,.0f} tokens/$"
        )
        console.print(f"Why: {ans.reasoning}")
        for line in ans.cheaper_alternatives:
            console.print(f"  cheaper, but: {line}")
    s = ans.solver
    console.print(
        f"Solver: {s['status']} ({'proved optimal' if s['optimal'] else 'not proved'}) over "
        f"{ans.configurations_evaluated} configurations in {float(s['wall_s']) * 1000:.1f} ms"  # type: ignore[arg-type]
    )
    if ans.analysis is not None:
        for w in ans.analysis.warnings:
            console.print(f"[yellow]warning:[/] {w}")
    if show_pareto:
        t = Table(title="Pareto front: price vs decode rate", title_justify="left", show_edge=False)
        for col in ("devices", "strategy", "price $", "decode tok/s", "total tok/s", "power W", "tokens/$"):
            t.add_column(col)
        for p in ans.pareto:
            t.add_row(
                f"{p.count}x {p.device}", p.strategy, f"{p.price_usd:,.0f}", f"{p.decode_tok_s:,.1f}",
                f"{p.decode_tok_s_total:,.1f}", f"{p.power_w:,.0f}", f"{p.tokens_per_usd:,.0f}",
            )  # fmt: skip
        console.print(t)


def pareto_svg(front: list[HardwareConfig], title: str) -> str:
    """A small self-contained SVG: price (x) against decode rate (y), one labelled point per plan."""
    w, h, pad = 720, 420, 60
    if not front:
        head = f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">'
        return head + '<text x="20" y="40">no plans</text></svg>'
    xs = [p.price_usd for p in front]
    ys = [p.decode_tok_s for p in front]
    x0, x1 = 0.0, max(xs) * 1.1
    y0, y1 = 0.0, max(ys) * 1.15

    def px(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (w - 2 * pad)

    def py(y: float) -> float:
        return h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad)

    pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=True))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="#111827"/>',
        f'<text x="{pad}" y="28" fill="#f9fafb" font-size="14">{escape(title)}</text>',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#9ca3af"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#9ca3af"/>',
        f'<text x="{w / 2}" y="{h - 20}" fill="#e5e7eb" text-anchor="middle">price (USD)</text>',
        f'<text x="18" y="{h / 2}" fill="#e5e7eb" transform="rotate(-90 18 {h / 2})" '
        'text-anchor="middle">decode tok/s</text>',
        f'<polyline points="{pts}" fill="none" stroke="#60a5fa" stroke-width="2"/>',
    ]
    for p in front:
        x, y = px(p.price_usd), py(p.decode_tok_s)
        label = escape(f"{p.count}x {p.device} ${p.price_usd:,.0f} {p.decode_tok_s:.1f} tok/s")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#f59e0b"><title>{label}</title></circle>')
        parts.append(f'<text x="{x + 6:.1f}" y="{y - 6:.1f}" fill="#e5e7eb">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def write_pareto(ans: HardwareAnswer, path: str) -> None:
    p = Path(path)
    if p.suffix.lower() == ".csv":
        import pandas as pd

        pd.DataFrame([c.model_dump() for c in ans.pareto]).to_csv(p, index=False)
    else:
        p.write_text(pareto_svg(ans.pareto, ans.question), encoding="utf-8")
