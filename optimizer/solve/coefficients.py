"""Linear coefficients of a pipeline stage, read off the analytic core.

Decode time, prefill time and memory of a device holding ``x`` layers are linear in ``x`` plus terms
for holding the embedding (first stage) or the output head (last stage); these functions measure
those slopes and intercepts by evaluating the core itself, so the solver optimises exactly what the
core will report (for models whose layers are all alike; MoE models with leading dense layers use
the average layer).
"""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.perf import efficiency
from optimizer.perf.memory import memory_use
from optimizer.perf.roofline import decode_step, prefill_chunk
from optimizer.perf.workload import Slice, activation_bytes_per_token
from optimizer.problem import DeviceInstance, ResolvedProblem


@dataclass(frozen=True)
class StageCoefficients:
    """Seconds and GB for one device as a pipeline stage (all per-layer values are averages)."""

    mem_s_per_layer: float  # decode: weight + KV bytes / achievable bandwidth
    comp_s_per_layer: float  # decode: FLOPs / achievable compute
    head_mem_s: float  # extra decode bytes time when the device holds the output head
    head_comp_s: float
    layer_overhead_s: float
    token_overhead_s: float
    prefill_s_per_layer: float  # the whole prompt through one layer (compute-bound)
    head_prefill_s: float
    gb_base: float  # runtime reserve and buffers when used
    gb_per_layer: float
    gb_embedding: float
    gb_head: float
    usable_gb: float
    hop_overhead_s: float


def stage_coefficients(rp: ResolvedProblem, inst: DeviceInstance, context: float) -> StageCoefficients:
    m = rp.model
    w = rp.problem.workload
    L = m.layers
    eff = efficiency.lookup(inst.runtime, inst.device, rp.quant)
    kvb = rp.kv_bytes_per_element
    engine = inst.runtime.engine

    def dec(s: Slice):  # type: ignore[no-untyped-def]
        return decode_step(inst.device, eff, m, rp.quant, s, context, w.batch, kvb, engine)

    def mem(s: Slice) -> float:
        return memory_use(
            inst.device, inst.memory_gb, inst.runtime, m, rp.quant, s, w.context_tokens, w.batch, kvb
        ).total_gb

    def pre(s: Slice) -> float:
        tokens = max(1, w.prompt_tokens * w.batch)
        step = prefill_chunk(
            inst.device, eff, m, rp.quant, s, tokens, w.cached_tokens, kvb, engine,
            flash_attention=rp.problem.flash_attention, ubatch=rp.problem.ubatch,
        )  # fmt: skip
        chunks = max(1.0, tokens / rp.problem.ubatch)
        return max(step.memory_s * chunks, step.compute_s)

    empty = Slice(0, 0, False, False)
    full = Slice(0, L, False, False)
    head = Slice(0, 0, False, True)
    d_full, d_head = dec(full), dec(head)
    gb0 = mem(empty)
    chunks = max(1.0, max(1, w.prompt_tokens * w.batch) / rp.problem.ubatch)
    return StageCoefficients(
        mem_s_per_layer=d_full.memory_s / L,
        comp_s_per_layer=d_full.compute_s / L,
        head_mem_s=d_head.memory_s,
        head_comp_s=d_head.compute_s,
        layer_overhead_s=eff.decode_layer_overhead_s(m),
        token_overhead_s=eff.token_overhead_s,
        prefill_s_per_layer=pre(full) / L + eff.prefill_layer_overhead_s * chunks,
        head_prefill_s=pre(head),
        gb_base=gb0,
        gb_per_layer=(mem(full) - gb0) / L,
        gb_embedding=mem(Slice(0, 0, True, False)) - gb0,
        gb_head=mem(head) - gb0,
        usable_gb=memory_use(inst.device, inst.memory_gb, inst.runtime, m, rp.quant, empty, 0, 1, kvb).usable_gb,
        hop_overhead_s=eff.hop_overhead_s,
    )


def hop_s(rp: ResolvedProblem, a: DeviceInstance, b: DeviceInstance, sender: StageCoefficients) -> float:
    """Decode-time cost of handing one step's activations from ``a`` to ``b``."""
    link = rp.link_between(a, b)
    nbytes = activation_bytes_per_token(rp.model) * rp.problem.workload.batch
    hand_off = efficiency.hop_overhead_s(a.runtime, link.kind, a.device)
    return link.latency_us * 1e-6 + nbytes / (link.bandwidth_gb_s * 1e9) + hand_off
