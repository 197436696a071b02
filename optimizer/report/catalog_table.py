"""Catalog listings as pandas DataFrames and rich tables."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from catalog.loader import load_catalog
from optimizer.perf.architecture import active_params, total_params

_TABLE_COLUMNS: dict[str, list[str]] = {
    "devices": [
        "id",
        "name",
        "family",
        "memory_gb",
        "bandwidth_gb_s",
        "fp16_tflops",
        "tdp_w",
        "price_usd",
    ],
    "models": [
        "id",
        "name",
        "layers",
        "hidden_size",
        "kv_heads",
        "total_b",
        "active_b",
        "moe",
        "max_context",
    ],
    "links": ["id", "name", "kind", "bandwidth_gb_s", "latency_us", "rdma"],
    "quants": ["id", "name", "bits_per_weight", "compute_dtype", "kernel", "format"],
    "runtimes": ["id", "name", "engine", "backend", "distributed", "memory_overhead_gb"],
}


def catalog_frame(section: str, search: str | None = None) -> pd.DataFrame:
    """One row per entry of ``section`` (all fields, plus derived columns for models/devices)."""
    cat = load_catalog()
    entries = getattr(cat, section)
    rows = []
    for e in entries.values():
        row = e.model_dump(mode="json")
        if section == "devices":
            row["fp16_tflops"] = e.tflops.fp16 or e.tflops.bf16 or e.tflops.fp32
        if section == "models":
            row["total_b"] = round(total_params(e) / 1e9, 2)
            row["active_b"] = round(active_params(e) / 1e9, 2)
            row["moe"] = f"{e.moe.active_experts}/{e.moe.experts}" if e.moe else ""
        rows.append(row)
    df = pd.DataFrame(rows)
    if search and not df.empty:
        s = search.lower()
        mask = df["id"].str.lower().str.contains(s, regex=False) | df["name"].str.lower().str.contains(s, regex=False)
        df = df[mask]
    return df.reset_index(drop=True)


def render_catalog(section: str, df: pd.DataFrame, console: Console) -> None:
    cols = _TABLE_COLUMNS[section]
    t = Table(title=f"{section} ({len(df)})", title_justify="left", show_edge=False)
    for c in cols:
        t.add_column(c)
    for row in df.to_dict(orient="records"):
        t.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in cols))
    console.print(t)
