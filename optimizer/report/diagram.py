"""Topology diagrams of an analysed plan: ASCII, Mermaid, Graphviz DOT, SVG and PNG.

Every format shows the devices with their layer ranges and roles (prefill/decode, tensor group), the
links labelled with kind and GB/s, inferred links dashed, the bottleneck link in red, and the
direction data flows (pipeline hops and the prefill-to-decode KV hand-off are arrows; tensor-group
links are undirected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from optimizer.results import Analysis, DeviceResult, LinkResult

FORMATS = ("ascii", "mermaid", "dot", "svg", "png")
RED = "#ef4444"
GREY = "#9ca3af"


@dataclass(frozen=True)
class Node:
    key: str
    title: str
    detail: str


def _node(d: DeviceResult) -> Node:
    role = d.role if d.role != "prefill+decode" else ""
    group = f"TP group of {d.tp_group}" if d.tp_group else ""
    layers = f"layers {d.layer_range[0]}-{d.layer_range[1] - 1}" if d.layers else "no layers"
    extra = ", ".join(x for x in (group, role) if x)
    detail = f"{layers}, {d.memory_used_gb:.1f}/{d.memory_capacity_gb:g} GB" + (f", {extra}" if extra else "")
    return Node(f"d{d.index}", d.name, detail)


def _edge_label(lk: LinkResult) -> str:
    return f"{lk.link_id} {lk.bandwidth_gb_s:g} GB/s" + (" (inferred)" if lk.inferred else "")


def _directed(lk: LinkResult) -> bool:
    return lk.traffic in ("pipeline", "kv handoff")


def ascii_diagram(a: Analysis) -> str:
    nodes = {d.index: _node(d) for d in a.devices}
    lines = [f"{a.model} · {a.strategy}"]
    for d in a.devices:
        n = nodes[d.index]
        lines.append(f"  [{d.index}] {n.title}: {n.detail}")
    for lk in a.links:
        arrow = "-->" if _directed(lk) else "<->"
        style = "- -" if lk.inferred else "---"
        mark = "  <== bottleneck" if lk.bottleneck else ""
        lines.append(
            f"  [{lk.between[0]}] {style}{arrow} [{lk.between[1]}]  {lk.traffic}: {_edge_label(lk)}, "
            f"{lk.time_per_token_ms:.3f} ms/token{mark}"
        )
    return "\n".join(lines)


def mermaid(a: Analysis) -> str:
    out = ["flowchart LR"]
    for d in a.devices:
        n = _node(d)
        out.append(f'  {n.key}["{_mm(n.title)}<br/>{_mm(n.detail)}"]')
    for i, lk in enumerate(a.links):
        src, dst = f"d{lk.between[0]}", f"d{lk.between[1]}"
        label = _mm(f"{lk.traffic}: {_edge_label(lk)}")
        if lk.inferred:
            arrow = "-.->" if _directed(lk) else "-.-"
            out.append(f"  {src} {arrow}|{label}| {dst}")
        else:
            arrow = "-->" if _directed(lk) else "---"
            out.append(f"  {src} {arrow}|{label}| {dst}")
        if lk.bottleneck:
            out.append(f"  linkStyle {i} stroke:{RED},stroke-width:3px")
    return "\n".join(out)


def _mm(text: str) -> str:
    return text.replace('"', "'").replace("|", "/")


def dot(a: Analysis) -> str:
    out = ["digraph topology {", "  rankdir=LR;", '  node [shape=box, style="rounded"];']
    for d in a.devices:
        n = _node(d)
        out.append(f'  {n.key} [label="{_dq(n.title)}\\n{_dq(n.detail)}"];')
    for lk in a.links:
        attrs = [f'label="{_dq(lk.traffic + ": " + _edge_label(lk))}"']
        if lk.inferred:
            attrs.append("style=dashed")
        if lk.bottleneck:
            attrs.append(f'color="{RED}", penwidth=3')
        if not _directed(lk):
            attrs.append("dir=none")
        out.append(f"  d{lk.between[0]} -> d{lk.between[1]} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out)


def _dq(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _layout(n: int, width: int, height: int) -> list[tuple[float, float]]:
    """Devices on a circle (a line for two)."""
    if n == 1:
        return [(width / 2, height / 2)]
    if n == 2:
        return [(width * 0.2, height / 2), (width * 0.8, height / 2)]
    r = min(width, height) * 0.34
    return [
        (
            width / 2 + r * math.cos(2 * math.pi * i / n - math.pi / 2),
            height / 2 + r * math.sin(2 * math.pi * i / n - math.pi / 2),
        )
        for i in range(n)
    ]


def svg(a: Analysis) -> str:
    w, h = 900, 560
    pos = {d.index: p for d, p in zip(a.devices, _layout(len(a.devices), w, h - 60), strict=True)}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#e5e7eb"/></marker></defs>',
        f'<rect width="{w}" height="{h}" fill="#111827"/>',
        f'<text x="20" y="28" fill="#f9fafb" font-size="15">{escape(a.model)} · {escape(a.strategy)}</text>',
    ]
    for lk in a.links:
        (x1, y1), (x2, y2) = pos[lk.between[0]], pos[lk.between[1]]
        color = RED if lk.bottleneck else GREY
        dash = ' stroke-dasharray="6 4"' if lk.inferred else ""
        marker = ' marker-end="url(#arrow)"' if _directed(lk) else ""
        parts.append(
            f'<line x1="{x1:.0f}" y1="{y1 + 30:.0f}" x2="{x2:.0f}" y2="{y2 + 30:.0f}" stroke="{color}" '
            f'stroke-width="{4 if lk.bottleneck else 2}"{dash}{marker}/>'
        )
        parts.append(
            f'<text x="{(x1 + x2) / 2:.0f}" y="{(y1 + y2) / 2 + 22:.0f}" fill="#e5e7eb" text-anchor="middle">'
            f"{escape(_edge_label(lk))}</text>"
        )
    for d in a.devices:
        x, y = pos[d.index]
        n = _node(d)
        stroke = RED if not d.fits else "#60a5fa"
        parts.append(
            f'<rect x="{x - 150:.0f}" y="{y + 2:.0f}" width="300" height="56" rx="8" fill="#1f2937" stroke="{stroke}"/>'
        )
        parts.append(f'<text x="{x:.0f}" y="{y + 24:.0f}" fill="#f9fafb" text-anchor="middle">{escape(n.title)}</text>')
        parts.append(
            f'<text x="{x:.0f}" y="{y + 44:.0f}" fill="#d1d5db" text-anchor="middle" font-size="11">'
            f"{escape(n.detail)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def png(a: Analysis) -> bytes:
    """The SVG layout drawn with Pillow; device names are also stored as PNG text metadata."""
    import io

    from PIL import Image, ImageDraw
    from PIL.PngImagePlugin import PngInfo

    w, h = 900, 560
    img = Image.new("RGB", (w, h), "#111827")
    draw = ImageDraw.Draw(img)
    pos = {d.index: p for d, p in zip(a.devices, _layout(len(a.devices), w, h - 60), strict=True)}
    draw.text((20, 16), f"{a.model} - {a.strategy}", fill="#f9fafb")
    for lk in a.links:
        (x1, y1), (x2, y2) = pos[lk.between[0]], pos[lk.between[1]]
        color = RED if lk.bottleneck else GREY
        if lk.inferred:
            steps = 24
            for k in range(0, steps, 2):
                t0, t1 = k / steps, (k + 1) / steps
                draw.line(
                    [(x1 + (x2 - x1) * t0, y1 + 30 + (y2 - y1) * t0), (x1 + (x2 - x1) * t1, y1 + 30 + (y2 - y1) * t1)],
                    fill=color,
                    width=4 if lk.bottleneck else 2,
                )
        else:
            draw.line([(x1, y1 + 30), (x2, y2 + 30)], fill=color, width=4 if lk.bottleneck else 2)
        draw.text(((x1 + x2) / 2 - 60, (y1 + y2) / 2 + 8), _edge_label(lk), fill="#e5e7eb")
        if _directed(lk):  # arrow head at the receiving end
            ang = math.atan2(y2 - y1, x2 - x1)
            tip = (x2 - 150 * math.cos(ang), y2 + 30 - 150 * abs(math.sin(ang)) * 0)
            left = (tip[0] - 12 * math.cos(ang - 0.4), tip[1] - 12 * math.sin(ang - 0.4))
            right = (tip[0] - 12 * math.cos(ang + 0.4), tip[1] - 12 * math.sin(ang + 0.4))
            draw.polygon([tip, left, right], fill=color)
    for d in a.devices:
        x, y = pos[d.index]
        n = _node(d)
        draw.rounded_rectangle([x - 150, y + 2, x + 150, y + 58], radius=8, fill="#1f2937", outline="#60a5fa")
        draw.text((x - 140, y + 12), n.title, fill="#f9fafb")
        draw.text((x - 140, y + 32), n.detail[:48], fill="#d1d5db")
    meta = PngInfo()
    meta.add_text("devices", "; ".join(d.name for d in a.devices))
    meta.add_text("model", a.model)
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=meta)
    return buf.getvalue()


def render(a: Analysis, fmt: str) -> str | bytes:
    return {"ascii": ascii_diagram, "mermaid": mermaid, "dot": dot, "svg": svg, "png": png}[fmt](a)
