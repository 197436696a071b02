"""Evaluate a pipeline (layer-split) plan: per-device and per-link figures, system rates, power.

This is the analytic check every plan goes through: given the resolved problem and the layers each
device holds (in chain order), it returns the :class:`~optimizer.results.Analysis` shown to users.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from catalog.schema import Link
from optimizer.perf import efficiency
from optimizer.perf.memory import MemoryUse, max_context_that_fits, memory_use
from optimizer.perf.power import device_power_w, energy_cost, idle_w
from optimizer.perf.roofline import StepTime, decode_step, peak_tflops, prefill_chunk
from optimizer.perf.workload import (
    Slice,
    activation_bytes_per_token,
    active_flops_per_token,
    attention_flops,
    decode_weight_bytes,
    kv_read_bytes,
)
from optimizer.problem import DeviceInstance, ResolvedProblem
from optimizer.results import (
    Analysis,
    BottleneckKind,
    DeviceResult,
    LinkResult,
    SystemResult,
    WorkloadEcho,
)

PREFILL_CHUNK = 512  # tokens per prefill micro-batch (llama.cpp's default ubatch)
# llama.cpp pipelines the micro-batches of one logical batch (n_batch, default 2048 tokens) across
# devices and synchronises between batches; other engines stream micro-batches continuously.
PIPELINE_SYNC_TOKENS = {"llama.cpp": 2048, "ollama": 2048, "lm-studio": 2048}
MAX_SIMULATED_CHUNKS = 64  # longer prompts are simulated in coarser chunks


@dataclass(frozen=True)
class Stage:
    inst: DeviceInstance
    slice: Slice
    eff: efficiency.Efficiency
    memory: MemoryUse


def build_stages(rp: ResolvedProblem, layers: list[int]) -> list[Stage]:
    m = rp.model
    w = rp.problem.workload
    stages: list[Stage] = []
    start = 0
    used = [(inst, n) for inst, n in zip(rp.devices, layers, strict=True) if n > 0]
    for k, (inst, n) in enumerate(used):
        s = Slice(start, start + n, has_embedding=k == 0, has_head=k == len(used) - 1)
        eff = efficiency.lookup(inst.runtime, inst.device, rp.quant)
        mem = memory_use(
            inst.device,
            inst.memory_gb,
            inst.runtime,
            m,
            rp.quant,
            s,
            w.context_tokens,
            w.batch,
            rp.kv_bytes_per_element,
        )
        stages.append(Stage(inst, s, eff, mem))
        start += n
    return stages


def _hop_s(link: Link, nbytes: float) -> float:
    return link.latency_us * 1e-6 + nbytes / (link.bandwidth_gb_s * 1e9)


def _decode_time(
    rp: ResolvedProblem, stages: list[Stage], hops: list[Link], context: float
) -> tuple[float, list[StepTime], list[float]]:
    """Seconds per decode step for the whole batch, per-stage step times, per-hop times."""
    b = rp.problem.workload.batch
    act = activation_bytes_per_token(rp.model)
    seq = [
        decode_step(
            st.inst.device,
            st.eff,
            rp.model,
            rp.quant,
            st.slice,
            context,
            b,
            rp.kv_bytes_per_element,
            st.inst.runtime.engine,
        )
        for st in stages
    ]
    hop_t = [_hop_s(h, act * b) + stages[i].eff.hop_overhead_s for i, h in enumerate(hops)]
    sequential = sum(s.total_s for s in seq) + sum(hop_t)
    n = len(stages)
    if b == 1 or n == 1:
        return sequential, seq, hop_t
    # Micro-batched pipeline: m micro-batches flow through n stages.
    mb = min(b, n)
    size = b / mb
    per = [
        decode_step(
            st.inst.device,
            st.eff,
            rp.model,
            rp.quant,
            st.slice,
            context,
            max(1, round(size)),
            rp.kv_bytes_per_element,
            st.inst.runtime.engine,
        ).total_s
        for st in stages
    ]
    slowest = max(p + (hop_t[i] / b * size if i < len(hop_t) else 0.0) for i, p in enumerate(per))
    pipelined = (mb + n - 1) * slowest
    return min(sequential, pipelined), seq, hop_t


def _prefill_time(rp: ResolvedProblem, stages: list[Stage], hops: list[Link]) -> tuple[float, list[float]]:
    """Seconds to process the batch's prompts through the pipeline; busy seconds per stage."""
    w = rp.problem.workload
    tokens = w.prompt_tokens * w.batch
    if tokens == 0:
        return 0.0, [0.0] * len(stages)
    n_chunks = max(1, -(-tokens // PREFILL_CHUNK))
    groups = min(n_chunks, MAX_SIMULATED_CHUNKS)
    per_group = tokens / groups
    act = activation_bytes_per_token(rp.model)
    finish = [0.0] * len(stages)
    busy = [0.0] * len(stages)
    sync = PIPELINE_SYNC_TOKENS.get(stages[0].inst.runtime.engine)
    groups_per_sync = max(1, int(sync // per_group)) if sync else groups
    for g in range(groups):
        if g and g % groups_per_sync == 0:
            barrier = finish[-1]
            finish = [max(f, barrier) for f in finish]
        offset = int(g * per_group) % max(1, w.prompt_tokens) if w.batch > 1 else int(g * per_group)
        past = w.cached_tokens + offset
        ready = 0.0
        for i, st in enumerate(stages):
            step = prefill_chunk(
                st.inst.device,
                st.eff,
                rp.model,
                rp.quant,
                st.slice,
                int(per_group),
                past,
                rp.kv_bytes_per_element,
                st.inst.runtime.engine,
            )
            # coarse groups stand for several chunks: the per-chunk overhead repeats
            chunks_in_group = max(1.0, per_group / PREFILL_CHUNK)
            t = max(step.memory_s * chunks_in_group, step.compute_s) + step.overhead_s * chunks_in_group
            start = max(ready, finish[i])
            finish[i] = start + t
            busy[i] += t
            if i < len(hops):
                ready = finish[i] + _hop_s(hops[i], act * per_group) + st.eff.hop_overhead_s
            else:
                ready = finish[i]
    return finish[-1], busy


def evaluate_pipeline(rp: ResolvedProblem, layers: list[int], strategy: str = "pipeline") -> Analysis:
    """Full analysis of a layer split (``layers[i]`` layers on ``rp.devices[i]``, in order)."""
    m = rp.model
    w = rp.problem.workload
    b = w.batch
    stages = build_stages(rp, layers)
    active_idx = [i for i, n in enumerate(layers) if n > 0]
    hops: list[Link] = []
    hop_pairs: list[tuple[int, int]] = []
    hop_inferred: list[bool] = []
    for a, c in itertools.pairwise(active_idx):
        # the hop from a to c: the slowest physical hop between them in the chain
        between = list(range(a, c))
        link = min((rp.hops[j] for j in between), key=lambda lk: lk.bandwidth_gb_s)
        hops.append(link)
        hop_pairs.append((a, c))
        hop_inferred.append(any(rp.hops_inferred[j] for j in between))

    start_ctx = w.cached_tokens + w.prompt_tokens
    avg_ctx = start_ctx + (w.gen_tokens - 1) / 2
    step_avg, seq_avg, hop_t = _decode_time(rp, stages, hops, avg_ctx)
    step_first, _, _ = _decode_time(rp, stages, hops, start_ctx)
    prefill_s, prefill_busy = _prefill_time(rp, stages, hops)
    decode_total_s = step_avg * w.gen_tokens
    ttft = prefill_s if w.prompt_tokens > 0 else step_first
    request_s = prefill_s + decode_total_s

    fits = all(st.memory.fits for st in stages)
    act = activation_bytes_per_token(m)

    devices: list[DeviceResult] = []
    decode_power = 0.0
    prefill_power = 0.0
    for st, step, pbusy in zip(stages, seq_avg, prefill_busy, strict=True):
        d = st.inst.device
        bytes_read = decode_weight_bytes(m, rp.quant, st.slice, b) + b * kv_read_bytes(
            m, st.slice, avg_ctx, rp.kv_bytes_per_element
        )
        flops = b * (active_flops_per_token(m, st.slice) + attention_flops(m, st.slice, 1, int(avg_ctx)))
        peak_bw = d.bandwidth_gb_s * 1e9
        peak_c = peak_tflops(d, rp.quant.compute_dtype, st.inst.runtime.engine) * 1e12
        bw_util = bytes_read / (step_avg * peak_bw)
        c_util = flops / (step_avg * peak_c)
        p_dec = device_power_w(d, max(bw_util, c_util))
        if prefill_s > 0:
            pf_flops = w.prompt_tokens * b * active_flops_per_token(m, st.slice)
            p_pre = device_power_w(d, max(pf_flops / (prefill_s * peak_c), pbusy / prefill_s * 0.5))
        else:
            p_pre = p_dec
        decode_power += p_dec
        prefill_power += p_pre
        bottleneck: BottleneckKind = "capacity" if not st.memory.fits else step.bound
        devices.append(
            DeviceResult(
                index=st.inst.index,
                name=st.inst.label,
                device_id=d.id,
                runtime=st.inst.runtime.id,
                layers=st.slice.layers,
                layer_range=(st.slice.start, st.slice.end),
                memory_used_gb=round(st.memory.total_gb, 3),
                memory_capacity_gb=st.inst.memory_gb,
                memory_usable_gb=round(st.memory.usable_gb, 3),
                weights_gb=round(st.memory.weights_gb, 3),
                kv_cache_gb=round(st.memory.kv_cache_gb, 3),
                activations_gb=round(st.memory.activations_gb, 3),
                overhead_gb=round(st.memory.overhead_gb, 3),
                fits=st.memory.fits,
                decode_step_ms=round(step.total_s * 1e3, 4),
                prefill_s=round(pbusy, 5),
                bandwidth_utilization=round(min(1.0, bw_util), 4),
                compute_utilization=round(min(1.0, c_util), 4),
                bottleneck=bottleneck,
                power_w=round(p_dec, 1),
                idle_power_assumed=not idle_w(d)[1],
                efficiency_group=st.eff.group,
            )
        )
    # Devices holding no layers still draw idle power.
    for i, inst in enumerate(rp.devices):
        if layers[i] == 0:
            decode_power += idle_w(inst.device)[0]
            prefill_power += idle_w(inst.device)[0]

    links: list[LinkResult] = []
    for (a, c), link, t, inf in zip(hop_pairs, hops, hop_t, hop_inferred, strict=True):
        per_token = act * b
        links.append(
            LinkResult(
                between=(a, c),
                kind=link.kind,
                link_id=link.id,
                inferred=inf,
                bandwidth_gb_s=link.bandwidth_gb_s,
                latency_us=link.latency_us,
                bytes_per_token=per_token,
                time_per_token_ms=round(t * 1e3, 5),
                utilization=round(per_token / step_avg / (link.bandwidth_gb_s * 1e9), 6),
                bottleneck=False,
            )
        )

    sys_bneck, detail, link_bneck = _system_bottleneck(stages, seq_avg, hop_t, step_avg, fits, devices)
    if link_bneck is not None:
        links[link_bneck] = links[link_bneck].model_copy(update={"bottleneck": True})

    gen_tok_s_total = b * w.gen_tokens / request_s if request_s > 0 else 0.0
    avg_power = (
        (prefill_power * prefill_s + decode_power * decode_total_s) / request_s
        if request_s > 0
        else decode_power
    )
    cost = energy_cost(avg_power, gen_tok_s_total, rp.problem.cost.price_kwh, rp.problem.cost.hours_per_day)
    prices = [inst.price_usd for inst in rp.devices]
    price = None if any(p is None for p in prices) else float(sum(p for p in prices if p))
    mem_used = sum(st.memory.total_gb for st in stages)
    mem_cap = sum(inst.memory_gb for inst in rp.devices)

    system = SystemResult(
        decode_tok_s=round(1.0 / step_avg, 3),
        decode_tok_s_total=round(b / step_avg, 3),
        first_token_decode_tok_s=round(1.0 / step_first, 3),
        prefill_tok_s=round(w.prompt_tokens * b / prefill_s, 2) if prefill_s > 0 else 0.0,
        ttft_s=round(ttft, 5),
        request_latency_s=round(request_s, 4),
        memory_used_gb=round(mem_used, 3),
        memory_capacity_gb=mem_cap,
        memory_percent=round(100 * mem_used / mem_cap, 2),
        power_w=round(avg_power, 1),
        power_decode_w=round(decode_power, 1),
        power_prefill_w=round(prefill_power, 1),
        energy_kwh_per_day=round(cost.kwh_per_day, 3),
        cost_per_day_usd=round(cost.cost_per_day_usd, 3),
        cost_per_month_usd=round(cost.cost_per_month_usd, 2),
        tokens_per_usd=round(cost.tokens_per_usd, 1),
        tokens_per_kwh=round(cost.tokens_per_kwh, 1),
        price_usd=price,
        bottleneck=sys_bneck,
        bottleneck_detail=detail,
    )
    from optimizer.advice import warnings_for  # local: advice imports this module

    max_ctx = None
    if len(stages) > 0:
        max_ctx = min(
            max_context_that_fits(
                st.inst.device,
                st.inst.memory_gb,
                st.inst.runtime,
                m,
                rp.quant,
                st.slice,
                b,
                rp.kv_bytes_per_element,
            )
            for st in stages
        )
    analysis = Analysis(
        model=m.name,
        model_id=m.id,
        quant=rp.quant.name,
        runtime=rp.runtime.id,
        strategy=strategy,
        fits=fits,
        workload=WorkloadEcho(
            prompt_tokens=w.prompt_tokens,
            gen_tokens=w.gen_tokens,
            batch=b,
            context_tokens=w.context_tokens,
            kv_quant=rp.problem.kv_quant,
        ),
        system=system,
        devices=devices,
        links=links,
        warnings=[],
        notes=list(rp.notes),
        max_context_fits=max_ctx,
    )
    return analysis.model_copy(update={"warnings": warnings_for(rp, analysis, stages)})


def _system_bottleneck(
    stages: list[Stage],
    seq: list[StepTime],
    hop_t: list[float],
    step: float,
    fits: bool,
    devices: list[DeviceResult],
) -> tuple[BottleneckKind, str, int | None]:
    if not fits:
        worst = max(stages, key=lambda st: st.memory.shortfall_gb)
        return (
            "capacity",
            f"{worst.inst.label} needs {worst.memory.total_gb:.1f} GB "
            f"of {worst.memory.usable_gb:.1f} GB usable",
            None,
        )
    shares: list[tuple[float, BottleneckKind, str, int | None]] = []
    for st, s in zip(stages, seq, strict=True):
        busy = max(s.memory_s, s.compute_s)
        kind: BottleneckKind = "memory-bandwidth" if s.memory_s >= s.compute_s else "compute"
        shares.append((busy, kind, f"{kind.replace('-', ' ')} of {st.inst.label}", None))
        shares.append((s.overhead_s, "overhead", f"per-token runtime overhead on {st.inst.label}", None))
    for i, t in enumerate(hop_t):
        shares.append(
            (
                t,
                "interconnect",
                f"link {i + 1} ({stages[i].inst.label} -> {stages[i + 1].inst.label})",
                i,
            )
        )
    total = sum(x[0] for x in shares) or 1.0
    t, kind, what, link_idx = max(shares, key=lambda x: x[0])
    return kind, f"{what}: {100 * t / total:.0f}% of the decode step", link_idx
