"""Scenarios: save a problem exactly, share it as a compact URL-safe string, compare several.

``save`` writes the full, validated problem (YAML or JSON by the file's extension) so that
``mlba analyze FILE`` reads back the same question. ``share_string`` packs it as
``mlba1.<base64url(zlib(json))>``; ``from_share`` unpacks and validates it.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from pathlib import Path

import yaml
from pydantic import BaseModel

from optimizer.problem import Problem, ProblemError, problem_from_dict

SHARE_PREFIX = "mlba1."


def problem_data(problem: BaseModel) -> dict:
    """A problem (or hardware ask) as plain data, without the regression-test ``expect`` block."""
    return problem.model_dump(mode="json", exclude={"expect"}, exclude_defaults=True)


def save(problem: BaseModel, path: str | Path) -> None:
    """Write a problem (or a hardware ask) as YAML, or JSON when the path ends in ``.json``."""
    p = Path(path)
    data = problem_data(problem)
    if p.suffix.lower() == ".json":
        p.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    else:
        p.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def share_string(problem: Problem) -> str:
    raw = json.dumps(problem_data(problem), separators=(",", ":")).encode()
    return SHARE_PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def from_share(text: str) -> Problem:
    text = text.strip()
    if not text.startswith(SHARE_PREFIX):
        raise ProblemError(f"not an mlba share string (it should start with {SHARE_PREFIX!r})")
    body = text[len(SHARE_PREFIX) :]
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        data = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError):
        raise ProblemError("the share string is damaged (cut short or edited); copy it again") from None
    return problem_from_dict(data, "share string")


def compare_frame(names: list[str], analyses: list):  # type: ignore[no-untyped-def]
    """One row per scenario (a pandas DataFrame): the figures people compare."""
    import pandas as pd

    rows = []
    for name, a in zip(names, analyses, strict=True):
        s = a.system
        rows.append(
            {
                "scenario": name,
                "model": a.model,
                "devices": ", ".join(d.name for d in a.devices),
                "strategy": a.strategy,
                "fits": a.fits,
                "decode_tok_s": s.decode_tok_s,
                "prefill_tok_s": s.prefill_tok_s,
                "ttft_s": s.ttft_s,
                "price_usd": s.price_usd,
                "power_w": s.power_w,
                "cost_per_day_usd": s.cost_per_day_usd,
                "tokens_per_usd": s.tokens_per_usd,
            }
        )
    return pd.DataFrame(rows)


def compare_svg(df) -> str:  # type: ignore[no-untyped-def]
    """Horizontal bars of decode tok/s per scenario (self-contained SVG)."""
    from html import escape

    w, row_h, pad = 760, 34, 220
    h = 60 + row_h * len(df)
    top = max(df["decode_tok_s"].max(), 1e-9)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="#111827"/>',
        '<text x="16" y="28" fill="#f9fafb" font-size="14">decode tok/s per scenario</text>',
    ]
    for i, r in enumerate(df.itertuples()):
        y = 48 + i * row_h
        bar = (w - pad - 80) * r.decode_tok_s / top
        parts.append(f'<text x="16" y="{y + 18}" fill="#e5e7eb">{escape(str(r.scenario))[:30]}</text>')
        parts.append(f'<rect x="{pad}" y="{y + 4}" width="{bar:.1f}" height="20" fill="#60a5fa"/>')
        parts.append(f'<text x="{pad + bar + 6:.1f}" y="{y + 18}" fill="#e5e7eb">{r.decode_tok_s:,.1f}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
