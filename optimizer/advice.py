"""Warnings and hints: what does not fit, by how much, and what would."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from catalog.resolve import resolver
from optimizer.perf.memory import memory_use, usable_memory_gb
from optimizer.perf.workload import whole_model
from optimizer.problem import ResolvedProblem

if TYPE_CHECKING:
    from optimizer.perf.plan import Placed as Stage
    from optimizer.results import Analysis

# Quantizations suggested, from the highest quality down, when a model does not fit.
GGUF_FALLBACK_QUANTS = ("fp16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k")
MLX_FALLBACK_QUANTS = ("bf16", "mlx-8bit", "mlx-6bit", "mlx-4bit", "mlx-3bit")
SERVING_FALLBACK_QUANTS = ("bf16", "fp8", "awq-int4", "nvfp4")


def _fallback_quants(rp: ResolvedProblem) -> tuple[str, ...]:
    engine = rp.runtime.engine
    if engine in ("mlx", "exo") or rp.quant.format == "mlx":
        return MLX_FALLBACK_QUANTS
    if engine in ("vllm", "sglang", "tensorrt-llm"):
        return SERVING_FALLBACK_QUANTS
    return GGUF_FALLBACK_QUANTS


def total_needed_gb(rp: ResolvedProblem, quant_id: str | None = None) -> float:
    """Memory the whole model needs on one device of the first kind (weights + KV + buffers)."""
    quant = resolver().catalog.quants[quant_id] if quant_id else rp.quant
    inst = rp.devices[0]
    w = rp.problem.workload
    mu = memory_use(
        inst.device,
        inst.memory_gb,
        inst.runtime,
        rp.model,
        quant,
        whole_model(rp.model),
        w.context_tokens,
        w.batch,
        rp.kv_bytes_per_element,
    )
    return mu.total_gb


def fit_hint(rp: ResolvedProblem, missing_gb: float) -> str:
    """'try 2x H100 SXM, or Q8_0 (75 GB) / Q4_K_M (43 GB)'."""
    hints: list[str] = []
    usable = sum(usable_memory_gb(i.device, i.memory_gb) for i in rp.devices)
    need = usable + missing_gb
    first = rp.devices[0]
    per_dev = usable_memory_gb(first.device, first.memory_gb) - first.runtime.memory_overhead_gb
    if per_dev > 0:
        n = math.ceil(need / per_dev)
        if n > len(rp.devices) and n <= 64:
            hints.append(f"{n}x {first.device.name}")
    quants = _fallback_quants(rp)
    catalog = resolver().catalog
    bits_now = rp.quant.bits_per_weight
    smaller: list[str] = []
    for qid in quants:
        q = catalog.quants.get(qid)
        if q is None or q.bits_per_weight >= bits_now:
            continue
        ratio = total_needed_gb(rp, qid) / max(total_needed_gb(rp), 1e-9)
        if need * ratio <= usable:
            smaller.append(f"{q.name} (~{need * ratio:.0f} GB)")
        if len(smaller) == 2:
            break
    if smaller:
        hints.append(" or ".join(smaller))
    apple = [i for i in rp.devices if i.device.kind == "apple_soc"]
    if apple and missing_gb < sum(0.9 * i.memory_gb - usable_memory_gb(i.device, i.memory_gb) for i in apple):
        hints.append(
            "raise macOS's GPU wired-memory limit (sudo sysctl iogpu.wired_limit_mb=N), which leaves the OS less room"
        )
    return "try " + ", or ".join(hints) if hints else "try more devices or a smaller quantization"


def warnings_for(rp: ResolvedProblem, a: Analysis, stages: list[Stage]) -> list[str]:
    out: list[str] = []
    w = rp.problem.workload
    if not a.fits:
        missing = sum(st.memory.shortfall_gb for st in stages)
        worst = max(stages, key=lambda st: st.memory.shortfall_gb)
        out.append(
            f"does not fit: {a.model} {a.quant} needs {a.system.memory_used_gb:.1f} GB, "
            f"{missing:.1f} GB more than usable ({worst.inst.label}: "
            f"{worst.memory.total_gb:.1f} of {worst.memory.usable_gb:.1f} GB); {fit_hint(rp, missing)}"
        )
    elif a.max_context_fits is not None and a.max_context_fits < min(rp.model.max_context, w.context_tokens * 2):
        out.append(
            f"fits only up to {a.max_context_fits:,} context tokens per sequence "
            f"(model supports {rp.model.max_context:,})"
        )
    if w.context_tokens > rp.model.max_context:
        out.append(f"context {w.context_tokens:,} exceeds the model's {rp.model.max_context:,} tokens")
    from optimizer.perf.efficiency import runtime_key

    by_index = {d.index: d for d in a.devices}
    for inst in [st.inst for st in stages]:
        d = by_index[inst.index]
        own = runtime_key(inst.runtime, inst.device)
        if d.efficiency_group == "physics-prior":
            out.append(f"no measurements for {d.runtime} on {d.device_id}: datasheet physics with generic efficiency")
        elif not d.efficiency_group.startswith(own + "|"):
            out.append(f"no calibration data for {own} yet: {d.name} uses the constants of {d.efficiency_group}")
    if any(d.idle_power_assumed for d in a.devices):
        out.append("idle power not published for some devices: assumed 10% of TDP")
    if any(lk.inferred for lk in a.links):
        kinds = sorted({lk.link_id for lk in a.links if lk.inferred})
        out.append(f"links inferred from the device kinds ({', '.join(kinds)}); set --link to override")
    for inst in rp.devices:
        if inst.runtime.engine == "mlx" and inst.device.vendor != "Apple":
            out.append(f"{inst.runtime.name} on {inst.device.name}: MLX targets Apple silicon")
            break
    return out


# Faster links to try, best first, by the class of link in use.
UPGRADES = {
    "ethernet": ("tb5-rdma", "100gbe", "ib-ndr"),
    "thunderbolt": ("tb5-rdma",),
    "usb": ("tb5-rdma", "100gbe"),
    "rdma-ethernet": ("ib-ndr",),
    "pcie": ("nvlink4",),
}
UPGRADE_SHARE = 0.05  # suggest an upgrade when links take at least 5% of the decode step


def link_upgrade(rp: ResolvedProblem, a: Analysis) -> str | None:
    """'tb5-rdma instead of 10gbe: 19.8 -> 27.5 tok/s' for the slowest link, when it matters."""
    from optimizer.analyze import analyze_resolved

    if not a.links or not a.fits:
        return None
    step_ms = 1000.0 / a.system.decode_tok_s
    link_ms = sum(lk.time_per_token_ms for lk in a.links)
    if link_ms < UPGRADE_SHARE * step_ms:
        return None
    worst = max(a.links, key=lambda lk: lk.time_per_token_ms)
    catalog = resolver().catalog
    apple = all(i.device.vendor == "Apple" for i in rp.devices)
    nvlink_ok = all(i.device.nvlink for i in rp.devices)
    for cand in UPGRADES.get(worst.kind, ()):
        link = catalog.links.get(cand)
        if link is None or (cand == "tb5-rdma" and not apple) or (cand.startswith("nvlink") and not nvlink_ok):
            continue
        if link.bandwidth_gb_s < worst.bandwidth_gb_s and link.latency_us >= worst.latency_us:
            continue
        other = rp.problem.model_copy(update={"link": cand, "links": [], "topology": None})
        from optimizer.problem import resolve

        b = analyze_resolved(resolve(other), evidence=False)
        if b.fits and b.system.decode_tok_s > a.system.decode_tok_s * 1.02:
            return (
                f"{link.name} instead of {worst.link_id}: {a.system.decode_tok_s:.1f} -> "
                f"{b.system.decode_tok_s:.1f} tok/s"
            )
    return None
