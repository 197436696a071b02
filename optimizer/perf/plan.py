"""Evaluate any parallel plan: per-device and per-link figures, system rates, power and cost.

A :class:`PlanSpec` is a chain of stages (pipeline); a stage is one device or a group splitting its
layers by tensor or expert parallelism; the chain may be replicated (data parallel), run context
parallel prefill, or hand prefill to another group of devices (prefill/decode split, as EXO does).
:func:`evaluate_plan` is the analytic check every plan goes through, solver-made or not: its figures
are the ones users see.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Literal

from catalog.schema import Link
from optimizer.perf import efficiency
from optimizer.perf.memory import MemoryUse, max_context_that_fits, memory_use
from optimizer.perf.power import device_power_w, energy_cost, idle_w
from optimizer.perf.roofline import (
    StepTime,
    decode_step,
    power_cap_fraction,
    prefill_chunk,
    quant_peak_tflops,
)
from optimizer.perf.workload import (
    Shard,
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

# llama.cpp pipelines the micro-batches of one logical batch (n_batch, default 2048 tokens) across
# devices and synchronises between batches; other engines stream micro-batches continuously.
PIPELINE_SYNC_TOKENS = {"llama.cpp": 2048, "ollama": 2048, "lm-studio": 2048}
MAX_SIMULATED_CHUNKS = 64  # longer prompts are simulated in coarser chunks
ALLREDUCES_PER_LAYER = 2  # Megatron tensor parallel: after attention and after the MLP
ALL_TO_ALLS_PER_MOE_LAYER = 2  # expert parallel: dispatch and combine
BOTTLENECK_LINK_SHARE = 0.10  # a link is flagged when it takes at least this share of a decode step

Split = Literal["tensor", "expert", "context"]


@dataclass(frozen=True)
class StageSpec:
    """Consecutive layers run by one device, or split over a group of devices."""

    devices: tuple[int, ...]  # indices into ResolvedProblem.devices
    layers: int


@dataclass(frozen=True)
class PlanSpec:
    strategy: str  # the name users see: pipeline, tensor, tp x pp, expert, data, context, pd-split...
    stages: tuple[StageSpec, ...]  # the decode chain of one replica
    split: Split = "tensor"  # how a multi-device stage divides its work
    replicas: tuple[tuple[int, ...], ...] = ()  # data parallel: the device indices of replicas 2..r
    prefill_stages: tuple[StageSpec, ...] = ()  # prefill/decode split: the prefill chain

    @staticmethod
    def pipeline(layers: list[int], strategy: str = "pipeline") -> PlanSpec:
        stages = tuple(StageSpec((i,), n) for i, n in enumerate(layers) if n > 0)
        return PlanSpec(strategy=strategy, stages=stages)

    @property
    def decode_devices(self) -> tuple[int, ...]:
        return tuple(d for st in self.stages for d in st.devices)

    @property
    def prefill_devices(self) -> tuple[int, ...]:
        return tuple(d for st in self.prefill_stages for d in st.devices)


@dataclass(frozen=True)
class Placed:
    """One device of a stage: what it holds and how well it runs it."""

    inst: DeviceInstance
    slice: Slice
    shard: Shard
    eff: efficiency.Efficiency
    memory: MemoryUse
    stage: int
    group: int  # devices in its tensor/expert group
    role: str


def _shard(rp: ResolvedProblem, split: Split, t: int, phase: str) -> Shard:
    if t == 1:
        return Shard()
    if split == "tensor":
        # KV heads replicate when t exceeds them; MLA's latent cache is replicated on every rank
        kv = 1.0 if rp.model.attention.kind == "mla" else 1.0 / min(t, rp.model.kv_heads)
        return Shard(dense=1.0 / t, experts=1.0 / t, kv=kv)
    if split == "expert":
        return Shard(dense=1.0, experts=1.0 / t, kv=1.0)
    # context parallel: full weights everywhere; prefill splits the prompt, decode splits the KV
    return Shard(tokens=1.0 / t) if phase == "prefill" else Shard(kv=1.0 / t)


def place(
    rp: ResolvedProblem, stages: tuple[StageSpec, ...], split: Split, role: str, batch: int | None = None
) -> list[Placed]:
    """Place ``stages``; ``batch`` is the sequences this chain serves (a replica's share under DP)."""
    m = rp.model
    w = rp.problem.workload
    b = w.batch if batch is None else batch
    out: list[Placed] = []
    start = 0
    for k, st in enumerate(stages):
        s = Slice(start, start + st.layers, has_embedding=k == 0, has_head=k == len(stages) - 1)
        shard = _shard(rp, split, len(st.devices), "decode")
        for d in st.devices:
            inst = rp.devices[d]
            mem = memory_use(
                inst.device,
                inst.memory_gb,
                inst.runtime,
                m,
                rp.quant,
                s,
                w.context_tokens if role != "prefill" else w.cached_tokens + w.prompt_tokens,
                b,
                rp.kv_bytes_per_element,
                shard,
            )
            eff = efficiency.lookup(inst.runtime, inst.device, rp.quant)
            out.append(Placed(inst, s, shard, eff, mem, k, len(st.devices), role))
        start += st.layers
    return out


def group_link(rp: ResolvedProblem, devices: tuple[int, ...]) -> Link | None:
    """The slowest physical hop spanning a set of devices in chain order (None for one device)."""
    lo, hi = min(devices), max(devices)
    if lo == hi:
        return None
    return min((rp.hops[j] for j in range(lo, hi)), key=lambda lk: (lk.bandwidth_gb_s, -lk.latency_us))


def _xfer(link: Link, nbytes: float) -> float:
    return link.latency_us * 1e-6 + nbytes / (link.bandwidth_gb_s * 1e9)


def ring_allreduce_s(link: Link, t: int, nbytes: float) -> float:
    """All-reduce of ``nbytes`` over ``t`` devices: the ring's 2(t-1)/t of the data over the link,
    and ceil(log2 t) latencies. Catalog link latencies are small-message collective figures (e.g.
    NVLink 4: a whole 2-GPU NCCL all-reduce), and decode-sized messages take NCCL's tree/LL paths,
    so latency grows with log2 t rather than the ring's 2(t-1) steps (8 GPUs: 3x, not 14x)."""
    if t <= 1:
        return 0.0
    steps = math.ceil(math.log2(t))
    return steps * link.latency_us * 1e-6 + 2 * (t - 1) / t * nbytes / (link.bandwidth_gb_s * 1e9)


def all_to_all_s(link: Link, t: int, nbytes: float) -> float:
    """Each device exchanges (t-1)/t of ``nbytes`` with its peers (one latency: messages overlap)."""
    if t <= 1:
        return 0.0
    return link.latency_us * 1e-6 + (t - 1) / t * nbytes / (link.bandwidth_gb_s * 1e9)


def stage_collective_s(
    rp: ResolvedProblem, st: StageSpec, split: Split, tokens: int, phase: str, op_overhead_s: float = 0.0
) -> float:
    """Communication inside a tensor/expert/context group for ``tokens`` tokens through the stage;
    ``op_overhead_s`` is the runtime's fixed cost per collective call (fitted, see calibrate)."""
    t = len(st.devices)
    link = group_link(rp, st.devices)
    if t == 1 or link is None:
        return 0.0
    m = rp.model
    act = activation_bytes_per_token(m) * tokens
    if split == "tensor":
        return st.layers * ALLREDUCES_PER_LAYER * (ring_allreduce_s(link, t, act) + op_overhead_s)
    if split == "expert":
        moe_layers = st.layers if m.moe else 0
        k = m.moe.active_experts if m.moe else 1
        return moe_layers * ALL_TO_ALLS_PER_MOE_LAYER * (all_to_all_s(link, t, act * k) + op_overhead_s)
    # context parallel: decode merges partial attention per layer; prefill rotates KV blocks (ring)
    if phase == "decode":
        return st.layers * (ring_allreduce_s(link, t, act) + op_overhead_s)
    kv = kv_read_bytes(m, Slice(0, st.layers, False, False), tokens, rp.kv_bytes_per_element)
    return (t - 1) * link.latency_us * 1e-6 * st.layers + (t - 1) / t * kv / (link.bandwidth_gb_s * 1e9)


def _op_overhead(rp: ResolvedProblem, st: StageSpec, lead: Placed) -> float:
    link = group_link(rp, st.devices)
    return efficiency.collective_overhead_s(lead.inst.runtime, link.kind, lead.inst.device) if link else 0.0


@dataclass(frozen=True)
class ChainTimes:
    step_s: float  # one decode step of the whole batch
    stage_s: list[float]  # per stage, compute + collectives
    device_steps: list[StepTime]  # per placed device
    collective_s: list[float]  # per stage
    hop_s: list[float]  # between stages


def _hops(rp: ResolvedProblem, stages: tuple[StageSpec, ...]) -> list[Link]:
    out = []
    for a, b in itertools.pairwise(stages):
        ends = (a.devices[-1], b.devices[0])
        out.append(group_link(rp, ends) or rp.hops[min(ends)])
    return out


def decode_chain(rp: ResolvedProblem, spec: PlanSpec, placed: list[Placed], context: float, batch: int) -> ChainTimes:
    m = rp.model
    act = activation_bytes_per_token(m)
    steps = [
        decode_step(
            p.inst.device, p.eff, m, rp.quant, p.slice, context, batch, rp.kv_bytes_per_element,
            p.inst.runtime.engine, p.shard,
        )
        for p in placed
    ]  # fmt: skip
    lead = {p.stage: p for p in reversed(placed)}
    collective = [
        stage_collective_s(rp, st, spec.split, batch, "decode", _op_overhead(rp, st, lead[k]))
        for k, st in enumerate(spec.stages)
    ]
    # the per-token host work (graph launch, sampling, synchronisation) runs once per token, paid by
    # the first stage's runtime (the one that starts each token); later stages run their layers, and
    # their hand-off is the hop's cost. A modelling choice: with mixed runtimes the order matters a little.
    steps = [
        replace(s, overhead_s=s.overhead_s - p.eff.token_overhead_s) if p.stage > 0 else s
        for p, s in zip(placed, steps, strict=True)
    ]
    stage_s = []
    for k in range(len(spec.stages)):
        members = [s.total_s for p, s in zip(placed, steps, strict=True) if p.stage == k]
        stage_s.append(max(members) + collective[k])
    links = _hops(rp, spec.stages)
    first_of = {p.stage: p for p in reversed(placed)}
    hop_s = [
        _xfer(lk, act * batch) + efficiency.hop_overhead_s(first_of[i].inst.runtime, lk.kind, first_of[i].inst.device)
        for i, lk in enumerate(links)
    ]
    sequential = sum(stage_s) + sum(hop_s)
    n = len(spec.stages)
    if batch == 1 or n == 1:
        return ChainTimes(sequential, stage_s, steps, collective, hop_s)
    # micro-batched pipeline: mb micro-batches flow through n stages
    mb = min(batch, n)
    size = max(1, round(batch / mb))
    per = decode_chain(rp, PlanSpec(spec.strategy, spec.stages, spec.split), placed, context, size)
    slowest = max(st + (per.hop_s[i] if i < len(per.hop_s) else 0.0) for i, st in enumerate(per.stage_s))
    return ChainTimes(min(sequential, (mb + n - 1) * slowest), stage_s, steps, collective, hop_s)


def prefill_chain(
    rp: ResolvedProblem, stages: tuple[StageSpec, ...], split: Split, placed: list[Placed]
) -> tuple[float, list[float]]:
    """Seconds to process the batch's prompts through ``stages``; busy seconds per placed device."""
    w = rp.problem.workload
    m = rp.model
    tokens = w.prompt_tokens * w.batch
    if tokens == 0:
        return 0.0, [0.0] * len(placed)
    ubatch = rp.problem.ubatch
    n_chunks = max(1, -(-tokens // ubatch))
    groups = min(n_chunks, MAX_SIMULATED_CHUNKS)
    per_group = tokens / groups
    chunks_in_group = max(1.0, per_group / ubatch)
    act = activation_bytes_per_token(m)
    links = _hops(rp, stages)
    finish = [0.0] * len(stages)
    busy = [0.0] * len(placed)
    sync = PIPELINE_SYNC_TOKENS.get(placed[0].inst.runtime.engine)
    groups_per_sync = max(1, int(sync // per_group)) if sync else groups
    for g in range(groups):
        if g and g % groups_per_sync == 0:
            barrier = finish[-1]
            finish = [max(f, barrier) for f in finish]
        offset = int(g * per_group) % max(1, w.prompt_tokens) if w.batch > 1 else int(g * per_group)
        past = w.cached_tokens + offset
        ready = 0.0
        for k, st in enumerate(stages):
            t_stage = 0.0
            for i, p in enumerate(placed):
                if p.stage != k:
                    continue
                shard = _shard(rp, split, len(st.devices), "prefill")
                step = prefill_chunk(
                    p.inst.device, p.eff, m, rp.quant, p.slice, int(per_group), past,
                    rp.kv_bytes_per_element, p.inst.runtime.engine, shard,
                    rp.problem.flash_attention, ubatch,
                )  # fmt: skip
                t = max(step.memory_s * chunks_in_group, step.compute_s) + step.overhead_s * chunks_in_group
                busy[i] += t
                t_stage = max(t_stage, t)
            lead_p = next(p for p in placed if p.stage == k)
            comm = stage_collective_s(rp, st, split, int(per_group), "prefill", _op_overhead(rp, st, lead_p))
            t_stage = max(t_stage, comm) if split == "context" else t_stage + comm
            begin = max(ready, finish[k])
            finish[k] = begin + t_stage
            if k < len(links):
                lead = next(p for p in placed if p.stage == k)
                hand_off = efficiency.hop_overhead_s(lead.inst.runtime, links[k].kind, lead.inst.device)
                ready = finish[k] + _xfer(links[k], act * per_group) + hand_off
            else:
                ready = finish[k]
    return finish[-1], busy


def kv_handoff_s(rp: ResolvedProblem, spec: PlanSpec, prefill_s: float) -> tuple[float, Link | None]:
    """Exposed time to move the prompt's KV cache from the prefill group to the decode group,
    streamed layer by layer (EXO): only what outlasts the remaining prefill compute shows."""
    if not spec.prefill_stages:
        return 0.0, None
    w = rp.problem.workload
    m = rp.model
    a = spec.prefill_devices[-1]
    b = spec.decode_devices[0]
    link = group_link(rp, (a, b)) or rp.hops[min(a, b)]
    kv = w.batch * kv_read_bytes(
        m, Slice(0, m.layers, False, False), w.cached_tokens + w.prompt_tokens, rp.kv_bytes_per_element
    )
    transfer = _xfer(link, kv)
    per_layer_compute = prefill_s / m.layers
    exposed = max(transfer / m.layers, transfer - per_layer_compute * (m.layers - 1))
    return exposed, link


def evaluate_plan(rp: ResolvedProblem, spec: PlanSpec) -> Analysis:
    """Full analysis of ``spec``: the figures users see for any strategy."""
    m = rp.model
    w = rp.problem.workload
    r = 1 + len(spec.replicas)
    b = max(1, math.ceil(w.batch / r))  # sequences per replica
    placed = place(rp, spec.stages, spec.split, "decode" if spec.prefill_stages else "prefill+decode", b)
    pre_placed = place(rp, spec.prefill_stages, spec.split, "prefill", b) if spec.prefill_stages else placed

    start_ctx = w.cached_tokens + w.prompt_tokens
    avg_ctx = start_ctx + (w.gen_tokens - 1) / 2
    chain = decode_chain(rp, spec, placed, avg_ctx, b)
    first = decode_chain(rp, spec, placed, start_ctx, b)
    pre_stages = spec.prefill_stages or spec.stages
    rp_pre = rp if b == w.batch else _with_batch(rp, b)
    prefill_s, pre_busy = prefill_chain(rp_pre, pre_stages, spec.split, pre_placed)
    handoff_s, handoff_link = kv_handoff_s(rp_pre, spec, prefill_s)
    decode_total_s = chain.step_s * w.gen_tokens
    ttft = (prefill_s + handoff_s) if w.prompt_tokens > 0 else first.step_s
    request_s = prefill_s + handoff_s + decode_total_s

    everyone = placed + (pre_placed if spec.prefill_stages else [])
    fits = all(p.memory.fits for p in everyone)
    devices, decode_power, prefill_power = _device_results(
        rp, spec, placed, pre_placed, chain, pre_busy, prefill_s, avg_ctx, b
    )
    # replicas: same figures on their own devices
    base_decode_w, base_prefill_w = decode_power, prefill_power
    for rep_idx, rep in enumerate(spec.replicas, start=2):
        busy = (rep_idx - 1) * b < w.batch  # this replica serves at least one sequence
        for d, src in zip(rep, spec.decode_devices, strict=True):
            base = next(x for x in devices if x.index == src)
            inst = rp.devices[d]
            update = {"index": d, "name": inst.label, "role": f"replica {rep_idx}"}
            if not busy:
                update.update(power_w=round(idle_w(inst.device)[0], 1), role=f"replica {rep_idx} (idle)")
            devices.append(base.model_copy(update=update))
        if busy:
            decode_power += base_decode_w
            prefill_power += base_prefill_w
        else:
            idle = sum(idle_w(rp.devices[d].device)[0] for d in rep)
            decode_power += idle
            prefill_power += idle
    used = {x.index for x in devices}
    for i, inst in enumerate(rp.devices):
        if i not in used:
            decode_power += idle_w(inst.device)[0]
            prefill_power += idle_w(inst.device)[0]

    links, keys = _link_results(rp, spec, chain, b, handoff_link, handoff_s)
    sys_bneck, detail, link_key = _system_bottleneck(spec, placed, chain, fits, b)
    if link_key in keys:
        i = keys.index(link_key)
    elif links:  # the slowest link is the bottleneck link when links cost a real share of the step
        i = max(range(len(links)), key=lambda j: links[j].time_per_token_ms)
        if links[i].time_per_token_ms < BOTTLENECK_LINK_SHARE * chain.step_s * 1e3:
            i = -1
    else:
        i = -1
    if i >= 0:
        links[i] = links[i].model_copy(update={"bottleneck": True})

    total_seqs = w.batch
    gen_tok_s_total = total_seqs * w.gen_tokens / request_s if request_s > 0 else 0.0
    avg_power = (
        (prefill_power * prefill_s + decode_power * decode_total_s) / request_s if request_s > 0 else decode_power
    )
    cost = energy_cost(avg_power, gen_tok_s_total, rp.problem.cost.price_kwh, rp.problem.cost.hours_per_day)
    prices = [inst.price_usd for inst in rp.devices]
    price = None if any(p is None for p in prices) else float(sum(p for p in prices if p))
    mem_used = sum(x.memory_used_gb for x in devices)
    mem_cap = sum(inst.memory_gb for inst in rp.devices)
    system = SystemResult(
        decode_tok_s=round(1.0 / chain.step_s, 3),
        decode_tok_s_total=round(w.batch / chain.step_s, 3),
        first_token_decode_tok_s=round(1.0 / first.step_s, 3),
        prefill_tok_s=round(w.prompt_tokens * w.batch / prefill_s, 2) if prefill_s > 0 else 0.0,
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

    max_ctx = min(
        max_context_that_fits(
            p.inst.device,
            p.inst.memory_gb,
            p.inst.runtime,
            m,
            rp.quant,
            p.slice,
            b,
            rp.kv_bytes_per_element,
            p.shard,
        )
        for p in placed
    )
    analysis = Analysis(
        model=m.name,
        model_id=m.id,
        quant=rp.quant.name,
        runtime=rp.runtime.id,
        strategy=spec.strategy,
        fits=fits,
        workload=WorkloadEcho(
            prompt_tokens=w.prompt_tokens,
            gen_tokens=w.gen_tokens,
            batch=w.batch,
            context_tokens=w.context_tokens,
            kv_quant=rp.problem.kv_quant,
            flash_attention=rp.problem.flash_attention,
            ubatch=rp.problem.ubatch,
        ),
        system=system,
        devices=sorted(devices, key=lambda x: x.index),
        links=links,
        warnings=[],
        notes=list(rp.notes),
        max_context_fits=max_ctx,
    )
    ordered = sorted(everyone, key=lambda p: p.inst.index)
    return analysis.model_copy(update={"warnings": warnings_for(rp, analysis, ordered)})


def _with_batch(rp: ResolvedProblem, batch: int) -> ResolvedProblem:
    from dataclasses import replace

    w = rp.problem.workload.model_copy(update={"batch": batch})
    return replace(rp, problem=rp.problem.model_copy(update={"workload": w}))


def _device_results(
    rp: ResolvedProblem,
    spec: PlanSpec,
    placed: list[Placed],
    pre_placed: list[Placed],
    chain: ChainTimes,
    pre_busy: list[float],
    prefill_s: float,
    avg_ctx: float,
    b: int,
) -> tuple[list[DeviceResult], float, float]:
    m = rp.model
    w = rp.problem.workload
    out: list[DeviceResult] = []
    decode_power = prefill_power = 0.0
    split_pd = bool(spec.prefill_stages)
    entries: list[tuple[Placed, StepTime | None, float]] = [
        (p, s, pre_busy[i] if not split_pd else 0.0)
        for i, (p, s) in enumerate(zip(placed, chain.device_steps, strict=True))
    ]
    if split_pd:
        entries += [(p, None, pre_busy[i]) for i, p in enumerate(pre_placed)]
    for p, step, pbusy in entries:
        d = p.inst.device
        peak_bw = d.bandwidth_gb_s * 1e9
        # compute utilisation against what the board sustains: at its power limit it draws rated power
        cap = power_cap_fraction(d, p.eff, p.inst.runtime.engine)
        peak_c = quant_peak_tflops(d, rp.quant, p.inst.runtime.engine) * min(1.0, cap or 1.0) * 1e12
        if step is not None:
            nbytes = decode_weight_bytes(m, rp.quant, p.slice, b, p.shard) + b * p.shard.kv * kv_read_bytes(
                m, p.slice, avg_ctx, rp.kv_bytes_per_element
            )
            flops = b * (
                active_flops_per_token(m, p.slice, p.shard)
                + p.shard.attention * attention_flops(m, p.slice, 1, int(avg_ctx), absorbed=True)
            )
            bw_util = nbytes / (chain.step_s * peak_bw)
            c_util = flops / (chain.step_s * peak_c)
            p_dec = device_power_w(d, max(bw_util, c_util))
        else:
            bw_util = c_util = 0.0
            p_dec = idle_w(d)[0]
        if prefill_s > 0 and pbusy > 0:
            pf = w.prompt_tokens * b * active_flops_per_token(m, p.slice, p.shard)
            if spec.split == "context" and p.group > 1:
                pf /= p.group
            p_pre = device_power_w(d, max(pf / (prefill_s * peak_c), pbusy / prefill_s * 0.5))
        else:
            p_pre = p_dec if step is not None else idle_w(d)[0]
        decode_power += p_dec
        prefill_power += p_pre
        bneck: BottleneckKind = "capacity" if not p.memory.fits else (step.bound if step else "compute")
        out.append(
            DeviceResult(
                index=p.inst.index,
                name=p.inst.label,
                device_id=d.id,
                runtime=p.inst.runtime.id,
                layers=p.slice.layers,
                layer_range=(p.slice.start, p.slice.end),
                memory_used_gb=round(p.memory.total_gb, 3),
                memory_capacity_gb=p.inst.memory_gb,
                memory_usable_gb=round(p.memory.usable_gb, 3),
                weights_gb=round(p.memory.weights_gb, 3),
                kv_cache_gb=round(p.memory.kv_cache_gb, 3),
                activations_gb=round(p.memory.activations_gb, 3),
                overhead_gb=round(p.memory.overhead_gb, 3),
                fits=p.memory.fits,
                decode_step_ms=round(step.total_s * 1e3, 4) if step else 0.0,
                prefill_s=round(pbusy, 5),
                bandwidth_utilization=round(min(1.0, bw_util), 4),
                compute_utilization=round(min(1.0, c_util), 4),
                bottleneck=bneck,
                power_w=round(p_dec, 1),
                idle_power_assumed=not idle_w(d)[1],
                efficiency_group=p.eff.group,
                stage=p.stage,
                tp_group=p.group if p.group > 1 else None,
                role=p.role,
            )
        )
    return out, decode_power, prefill_power


def _link_results(
    rp: ResolvedProblem,
    spec: PlanSpec,
    chain: ChainTimes,
    b: int,
    handoff_link: Link | None,
    handoff_s: float,
) -> tuple[list[LinkResult], list[tuple[str, int]]]:
    act = activation_bytes_per_token(rp.model)
    out: list[LinkResult] = []
    keys: list[tuple[str, int]] = []
    for i, (lk, t) in enumerate(zip(_hops(rp, spec.stages), chain.hop_s, strict=True)):
        a, c = spec.stages[i].devices[-1], spec.stages[i + 1].devices[0]
        out.append(_link(rp, lk, (a, c), "pipeline", act * b, t, chain.step_s, messages=1))
        keys.append(("hop", i))
    for k, st in enumerate(spec.stages):
        lk = group_link(rp, st.devices)
        if lk is None:
            continue
        t = chain.collective_s[k]
        g = len(st.devices)
        k_exp = rp.model.moe.active_experts if rp.model.moe else 1
        # bytes one device sends per token: as in stage_collective_s
        if spec.split == "tensor":
            calls = ALLREDUCES_PER_LAYER * st.layers
            per_token = calls * 2 * (g - 1) / g * act * b
        elif spec.split == "expert":
            calls = ALL_TO_ALLS_PER_MOE_LAYER * (st.layers if rp.model.moe else 0)
            per_token = calls * (g - 1) / g * act * b * k_exp
        else:
            calls = st.layers
            per_token = calls * 2 * (g - 1) / g * act * b
        out.append(
            _link(rp, lk, (min(st.devices), max(st.devices)), f"{spec.split} group", per_token, t, chain.step_s, calls)
        )
        keys.append(("group", k))
    if handoff_link is not None:
        a, c = spec.prefill_devices[-1], spec.decode_devices[0]
        out.append(_link(rp, handoff_link, (a, c), "kv handoff", 0.0, handoff_s, chain.step_s, rp.model.layers))
        keys.append(("handoff", 0))
    return out, keys


def _link(
    rp: ResolvedProblem,
    lk: Link,
    between: tuple[int, int],
    traffic: str,
    per_token: float,
    t: float,
    step: float,
    messages: int = 1,
) -> LinkResult:
    lo, hi = min(between), max(between)
    inferred = any(rp.hops_inferred[j] for j in range(lo, hi)) if hi > lo else False
    return LinkResult(
        between=between,
        kind=lk.kind,
        link_id=lk.id,
        inferred=inferred,
        bandwidth_gb_s=lk.bandwidth_gb_s,
        latency_us=lk.latency_us,
        traffic=traffic,
        bytes_per_token=per_token,
        messages_per_token=messages,
        time_per_token_ms=round(t * 1e3, 5),
        share_of_step=round(t / step, 4) if step > 0 else 0.0,
        utilization=round(per_token / step / (lk.bandwidth_gb_s * 1e9), 6) if step > 0 else 0.0,
        bottleneck=False,
    )


def _system_bottleneck(
    spec: PlanSpec, placed: list[Placed], chain: ChainTimes, fits: bool, batch: int = 1
) -> tuple[BottleneckKind, str, tuple[str, int] | None]:
    if not fits:
        worst = max(placed, key=lambda p: p.memory.shortfall_gb)
        return (
            "capacity",
            f"{worst.inst.label} needs {worst.memory.total_gb:.1f} GB of {worst.memory.usable_gb:.1f} GB usable",
            None,
        )
    shares: list[tuple[float, BottleneckKind, str, tuple[str, int] | None]] = []
    for k in range(len(spec.stages)):
        members = [(p, s) for p, s in zip(placed, chain.device_steps, strict=True) if p.stage == k]
        p, s = max(members, key=lambda x: x[1].total_s)
        busy = max(s.memory_s, s.compute_s)
        kind: BottleneckKind = "memory-bandwidth" if s.memory_s >= s.compute_s else "compute"
        what = f"{kind.replace('-', ' ')} of {p.inst.label}"
        if kind == "memory-bandwidth" and efficiency.sm_limit_applies(p.inst.device, p.eff, batch):
            what += " (limited by its SMs' loads in flight, not by DRAM)"
        if kind == "memory-bandwidth" and s.attention_flops_s > 0:  # FLOP-bound attention runs in series
            busy -= s.attention_flops_s
            shares.append((s.attention_flops_s, "compute", f"attention FLOPs of {p.inst.label}", None))
        shares.append((busy, kind, what, None))
        what = "per-token runtime overhead" if k == 0 else "per-layer runtime overhead"  # see decode_chain
        shares.append((s.overhead_s, "overhead", f"{what} on {p.inst.label}", None))
    for i, t in enumerate(chain.hop_s):
        shares.append((t, "interconnect", f"pipeline hop {i + 1}", ("hop", i)))
    for k, t in enumerate(chain.collective_s):
        if t > 0:
            shares.append((t, "interconnect", f"{spec.split}-parallel communication in stage {k + 1}", ("group", k)))
    total = sum(x[0] for x in shares) or 1.0
    by_kind: dict[str, float] = {}
    for t, k, _, _ in shares:
        by_kind[k] = by_kind.get(k, 0.0) + t
    kind = max(by_kind, key=lambda k: by_kind[k])  # the resource that costs the most, summed over stages
    t, _, what, link_idx = max((x for x in shares if x[1] == kind), key=lambda x: x[0])
    members = sum(1 for x in shares if x[1] == kind and x[0] > 0)
    if members > 1:
        share = 100 * by_kind[kind] / total
        detail = f"{share:.0f}% of the decode step over {members} parts; largest: {what} {100 * t / total:.0f}%"
    else:
        detail = f"{what}: {100 * t / total:.0f}% of the decode step"
    return kind, detail, link_idx  # type: ignore[return-value]
