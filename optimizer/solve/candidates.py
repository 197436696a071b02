"""Every parallel strategy a set of devices could run, with the rule that rules each one out.

Each builder returns a :class:`Candidate`: a plan the analytic core can evaluate, or the reason the
strategy is invalid here (shown to users). The rules are explicit constants so tests and the README
can name them.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

from optimizer.perf.memory import GB, usable_memory_gb
from optimizer.perf.placement import PlacementError, largest_remainder_split
from optimizer.perf.plan import PlanSpec, StageSpec
from optimizer.perf.roofline import quant_peak_tflops
from optimizer.perf.workload import weight_bytes, whole_model
from optimizer.problem import ResolvedProblem
from optimizer.solve.placement import (
    Placement,
    PlacementObjective,
    SolverSettings,
    exo_layers,
    solve_placement,
)

# Engines that can split a layer's matmuls across devices (Megatron-style tensor parallel).
# llama.cpp splits by layer across hosts (its "row" mode is single-host and not modelled here).
TP_ENGINES = frozenset({"vllm", "sglang", "tensorrt-llm", "mlx", "exo", "mlc"})
EP_ENGINES = frozenset({"vllm", "sglang", "tensorrt-llm"})  # expert parallel for MoE
CP_ENGINES = frozenset({"vllm", "sglang", "tensorrt-llm"})  # context (sequence) parallel prefill
PD_ENGINES = frozenset({"exo", "mlx", "vllm", "sglang"})  # disaggregated prefill/decode
DP_ENGINES = frozenset({"vllm", "sglang", "tensorrt-llm", "mlx", "exo", "mlc", "llama.cpp", "ollama"})


@dataclass(frozen=True)
class Candidate:
    strategy: str
    rp: ResolvedProblem  # devices possibly reordered for this plan
    spec: PlanSpec | None
    invalid_reason: str | None = None
    placement: Placement | None = None
    detail: str = ""


def _engine(rp: ResolvedProblem) -> str:
    return rp.runtime.engine


def tensor_rule(rp: ResolvedProblem, t: int) -> str | None:
    """Why tensor parallel of degree ``t`` is impossible here (None if it is possible)."""
    m = rp.model
    if _engine(rp) not in TP_ENGINES:
        return f"{rp.runtime.name} does not split layers across devices (tensor parallel)"
    if m.heads % t:
        return f"{m.heads} attention heads do not divide by {t}"
    if _engine(rp) in ("exo", "mlx"):
        if m.hidden_size % t:
            return f"EXO needs hidden size {m.hidden_size} divisible by {t}"
        if m.kv_heads % t:
            return f"EXO needs {m.kv_heads} KV heads divisible by {t}"
        if not m.supports_tensor_exo:
            return "EXO's model card does not support tensor parallel for this model"
    elif m.kv_heads % t and t % m.kv_heads:
        return f"{m.kv_heads} KV heads neither divide by {t} nor replicate evenly over {t} devices"
    return None


def _fits_one_copy(rp: ResolvedProblem, devices: list[int]) -> bool:
    need = weight_bytes(rp.model, rp.quant, whole_model(rp.model)) / GB
    return all(usable_memory_gb(rp.devices[i].device, rp.devices[i].memory_gb) > need for i in devices)


def pipeline_candidate(rp: ResolvedProblem, objective: PlacementObjective, settings: SolverSettings) -> Candidate:
    hint = None
    with contextlib.suppress(PlacementError):
        hint = exo_layers(rp)
    pl = solve_placement(rp, objective, settings, hint=hint)
    if not pl.order:
        return Candidate("pipeline", rp, None, pl.infeasible_reason, placement=pl)
    used = sum(1 for x in pl.layers if x > 0)
    name = "single device" if used == 1 else "pipeline"
    return Candidate(name, rp.reordered(pl.order), PlanSpec.pipeline(pl.layers, name), placement=pl)


def exo_candidate(rp: ResolvedProblem, available_gb: list[float] | None = None) -> Candidate:
    """What EXO 1.0 does: the fewest nodes whose available memory holds the weights (weights only),
    layers in proportion to memory, largest remainder, at least one per node. ``available_gb`` is
    each node's free RAM as EXO sees it (default: the whole memory)."""
    storage = weight_bytes(rp.model, rp.quant, whole_model(rp.model)) / GB
    n = len(rp.devices)
    ram = available_gb or [d.memory_gb for d in rp.devices]
    for k in range(1, n + 1):
        fitting = [c for c in itertools.combinations(range(n), k) if sum(ram[i] for i in c) >= storage]
        if fitting:
            chosen = max(fitting, key=lambda c: sum(ram[i] for i in c))
            break
    else:
        return Candidate("exo", rp, None, f"EXO finds no node set with {storage:.0f} GB of memory for the weights")
    order = list(chosen) + [i for i in range(n) if i not in chosen]
    sub = rp.reordered(order)
    try:
        layers = largest_remainder_split(rp.model.layers, [ram[i] for i in order[:k]])
    except PlacementError as exc:
        return Candidate("exo", rp, None, f"EXO: {exc}")
    layers += [0] * (n - k)
    ok = all(storage * x // rp.model.layers <= ram[order[i]] for i, x in enumerate(layers))
    verdict = "EXO's own check (weights only) passes" if ok else "EXO's own check (weights only) fails"
    return Candidate("exo", sub, PlanSpec.pipeline(layers, "exo"), detail=f"{verdict}; layers {layers[:k]}")


def tensor_candidate(rp: ResolvedProblem) -> Candidate:
    n = len(rp.devices)
    if n < 2:
        return Candidate("tensor", rp, None, "needs at least two devices")
    reason = tensor_rule(rp, n)
    if reason:
        return Candidate("tensor", rp, None, reason)
    spec = PlanSpec("tensor", (StageSpec(tuple(range(n)), rp.model.layers),), split="tensor")
    return Candidate(f"tensor x{n}", rp, spec)


def _groups(n: int, size: int) -> list[tuple[int, ...]]:
    return [tuple(range(k, k + size)) for k in range(0, n, size)]


def tp_pp_candidates(rp: ResolvedProblem) -> list[Candidate]:
    n = len(rp.devices)
    out = []
    for t in range(2, n):
        if n % t:
            continue
        name = f"tp x pp ({t}x{n // t})"
        reason = tensor_rule(rp, t)
        if reason:
            out.append(Candidate(name, rp, None, reason))
            continue
        groups = _groups(n, t)
        cap = [sum(usable_memory_gb(rp.devices[i].device, rp.devices[i].memory_gb) for i in g) for g in groups]
        layers = largest_remainder_split(rp.model.layers, cap)
        stages = tuple(StageSpec(g, x) for g, x in zip(groups, layers, strict=True))
        out.append(Candidate(name, rp, PlanSpec(name, stages, split="tensor")))
    return out


def data_parallel_candidates(rp: ResolvedProblem) -> list[Candidate]:
    """r replicas of a group of n/r devices (one device, a TP group or a pipeline)."""
    n = len(rp.devices)
    out = []
    if n < 2:
        return [Candidate("data", rp, None, "needs at least two devices")]
    if _engine(rp) not in DP_ENGINES:
        return [Candidate("data", rp, None, f"{rp.runtime.name} does not run replicas")]
    for size in range(1, n):
        if n % size:
            continue
        r = n // size
        groups = _groups(n, size)
        kinds = [tuple(rp.devices[i].device.id for i in g) for g in groups]
        label = "data" if size == 1 else f"dp x{r} of {size}"
        if len(set(kinds)) > 1:
            out.append(Candidate(label, rp, None, "replicas must be identical device groups"))
            continue
        first = groups[0]
        if size == 1:
            if not _fits_one_copy(rp, list(first)):
                out.append(Candidate(label, rp, None, "the model does not fit one device"))
                continue
            stages: tuple[StageSpec, ...] = (StageSpec(first, rp.model.layers),)
            split = "tensor"
            name = f"data x{r}"
        elif tensor_rule(rp, size) is None:
            stages = (StageSpec(first, rp.model.layers),)
            split = "tensor"
            name = f"tp x dp ({size}x{r})"
        else:
            cap = [usable_memory_gb(rp.devices[i].device, rp.devices[i].memory_gb) for i in first]
            layers = largest_remainder_split(rp.model.layers, cap)
            stages = tuple(StageSpec((i,), x) for i, x in zip(first, layers, strict=True))
            split = "tensor"
            name = f"pp x dp ({size}x{r})"
        spec = PlanSpec(name, stages, split=split, replicas=tuple(groups[1:]))  # type: ignore[arg-type]
        out.append(Candidate(name, rp, spec))
    return out


def expert_candidate(rp: ResolvedProblem) -> Candidate:
    n = len(rp.devices)
    m = rp.model
    if m.moe is None:
        return Candidate("expert", rp, None, "not a mixture-of-experts model")
    if n < 2:
        return Candidate("expert", rp, None, "needs at least two devices")
    if _engine(rp) not in EP_ENGINES:
        return Candidate("expert", rp, None, f"{rp.runtime.name} has no expert parallel")
    if m.moe.experts % n:
        return Candidate("expert", rp, None, f"{m.moe.experts} experts do not divide over {n} devices")
    spec = PlanSpec(f"expert x{n}", (StageSpec(tuple(range(n)), m.layers),), split="expert")
    return Candidate(f"expert x{n}", rp, spec)


def context_candidate(rp: ResolvedProblem) -> Candidate:
    n = len(rp.devices)
    if n < 2:
        return Candidate("context", rp, None, "needs at least two devices")
    if _engine(rp) not in CP_ENGINES:
        return Candidate("context", rp, None, f"{rp.runtime.name} has no context (sequence) parallel")
    if not _fits_one_copy(rp, list(range(n))):
        return Candidate("context", rp, None, "every device must hold the whole model")
    spec = PlanSpec(f"context x{n}", (StageSpec(tuple(range(n)), rp.model.layers),), split="context")
    return Candidate(f"context x{n}", rp, spec)


def pd_split_candidate(rp: ResolvedProblem) -> Candidate:
    """Prefill on the compute-strongest device kind, decode on the bandwidth-strongest (EXO)."""
    kinds = {i.device.id for i in rp.devices}
    if len(kinds) < 2:
        return Candidate("pd-split", rp, None, "needs two kinds of device (compute-strong and bandwidth-strong)")
    if _engine(rp) not in PD_ENGINES:
        return Candidate("pd-split", rp, None, f"{rp.runtime.name} does not disaggregate prefill and decode")

    def compute(i: int) -> float:
        return quant_peak_tflops(rp.devices[i].device, rp.quant, _engine(rp))

    def bandwidth(i: int) -> float:
        return rp.devices[i].device.bandwidth_gb_s

    n = len(rp.devices)
    pre_kind = rp.devices[max(range(n), key=compute)].device.id
    pre = [i for i in range(n) if rp.devices[i].device.id == pre_kind]
    dec = [i for i in range(n) if i not in pre]
    if max(bandwidth(i) for i in dec) <= max(bandwidth(i) for i in pre):
        return Candidate("pd-split", rp, None, "the compute-strong devices also have the most bandwidth")
    sub = rp.reordered(pre + dec)
    k = len(pre)

    def chain(idx: list[int]) -> tuple[StageSpec, ...]:
        cap = [usable_memory_gb(sub.devices[i].device, sub.devices[i].memory_gb) for i in idx]
        layers = largest_remainder_split(rp.model.layers, cap)
        return tuple(StageSpec((i,), x) for i, x in zip(idx, layers, strict=True))

    try:
        spec = PlanSpec("pd-split", chain(list(range(k, n))), prefill_stages=chain(list(range(k))))
    except PlacementError as exc:
        return Candidate("pd-split", rp, None, str(exc))
    names = f"prefill on {sub.devices[0].device.name}, decode on {sub.devices[k].device.name}"
    return Candidate("pd-split", sub, spec, detail=names)


def all_candidates(rp: ResolvedProblem, objective: PlacementObjective, settings: SolverSettings) -> list[Candidate]:
    return [
        pipeline_candidate(rp, objective, settings),
        exo_candidate(rp),
        tensor_candidate(rp),
        *tp_pp_candidates(rp),
        *data_parallel_candidates(rp),
        expert_candidate(rp),
        context_candidate(rp),
        pd_split_candidate(rp),
    ]


def data_parallel_candidate_names(rp: ResolvedProblem) -> list[str]:
    """Names of the data-parallel layouts that are valid here (for tests and listings)."""
    return [c.strategy for c in data_parallel_candidates(rp) if c.spec is not None]
