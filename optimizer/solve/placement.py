"""CP-SAT pipeline placement: how many layers each device runs, and in which order.

Model (one builder per concern, in the style of OR-Tools' samples):
* ``layers[i]`` integer layers on device i; ``used[i]`` iff ``layers[i] >= 1``; the layers sum to L.
* Device order is a circuit through a depot node 0 (``add_circuit``): ``start[i]`` (0 -> i) makes i
  the first stage (it holds the embedding), ``end[i]`` (i -> 0) the last (it holds the output head),
  ``arc[i, j]`` puts j right after i and pays the i -> j link; an unused device takes its self-loop
  on ``~used[i]``.
* Memory: reserve + layers x per-layer GB + embedding if first + head if last <= usable GB.
* Time: ``busy[i] >= memory-bound time`` and ``>= compute-bound time``; stage time = busy +
  per-layer overheads, + the per-token overhead on the first stage only (it runs once per token).
  Objectives: single-stream decode (sum of stage times and hops), pipelined throughput (slowest
  stage), or prefill (sum of prefill stage times and hops).
* Identical devices joined by identical links are interchangeable: their layer counts are ordered.
Times are integers in nanoseconds and memory in MB: each coefficient is off by at most half a unit,
so a stage's time by at most layers / 2 ns (under 0.1 us for any real model) - far below 1%.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Literal

from ortools.sat.python import cp_model

from optimizer.perf.placement import largest_remainder_split
from optimizer.problem import ResolvedProblem
from optimizer.solve.coefficients import StageCoefficients, hop_s, stage_coefficients

NS = 1e9  # seconds -> integer nanoseconds
MB = 1000.0  # GB -> integer MB
PlacementObjective = Literal["decode", "throughput", "prefill"]


@dataclass(frozen=True)
class SolverSettings:
    time_limit_s: float = 5.0
    workers: int = 8
    seed: int = 1


@dataclass(frozen=True)
class SolverInfo:
    status: str  # OPTIMAL, FEASIBLE, INFEASIBLE, MODEL_INVALID, UNKNOWN
    optimal: bool
    wall_s: float
    objective_s: float | None  # the solver's objective, back in seconds
    bound_s: float | None
    gap: float | None


@dataclass(frozen=True)
class Placement:
    order: list[int]  # device indices in chain order (used devices first, then unused)
    layers: list[int]  # layers per device, aligned with ``order``
    solver: SolverInfo
    infeasible_reason: str | None = None


def _ns(x: float) -> int:
    return round(x * NS)


def _mb(x: float) -> int:
    return round(x * MB)


def _interchangeable(rp: ResolvedProblem) -> list[list[int]]:
    """Classes of devices that are the same kind, memory and runtime, joined by identical links."""
    classes: dict[tuple, list[int]] = {}
    for i, d in enumerate(rp.devices):
        classes.setdefault((d.device.id, d.memory_gb, d.runtime.id), []).append(i)
    out = []
    for members in classes.values():
        if len(members) < 2:
            continue
        others = [j for j in range(len(rp.devices)) if j not in members]
        links_ok = all(
            rp.link_between(rp.devices[a], rp.devices[o]).id == rp.link_between(rp.devices[b], rp.devices[o]).id
            for a, b in itertools.pairwise(members)
            for o in others
        )
        if links_ok:
            out.append(members)
    return out


def solve_placement(
    rp: ResolvedProblem,
    objective: PlacementObjective = "decode",
    settings: SolverSettings = SolverSettings(),
    hint: list[int] | None = None,
) -> Placement:
    """Optimal pipeline placement of ``rp.model`` over ``rp.devices`` (any subset, any order)."""
    n = len(rp.devices)
    L = rp.model.layers
    w = rp.problem.workload
    context = w.cached_tokens + w.prompt_tokens + (w.gen_tokens - 1) / 2
    coef = [stage_coefficients(rp, inst, context) for inst in rp.devices]

    model = cp_model.CpModel()
    layers = [model.new_int_var(0, L, f"layers_{i}") for i in range(n)]
    used = [model.new_bool_var(f"used_{i}") for i in range(n)]
    start = [model.new_bool_var(f"start_{i}") for i in range(n)]
    end = [model.new_bool_var(f"end_{i}") for i in range(n)]
    arcs: dict[tuple[int, int], cp_model.IntVar] = {}
    for i, j in itertools.permutations(range(n), 2):
        arcs[i, j] = model.new_bool_var(f"arc_{i}_to_{j}")

    _add_layer_count(model, layers, used, L)
    _add_order_circuit(model, used, start, end, arcs)
    _add_memory(model, coef, layers, used, start, end)
    stage_time = _add_stage_times(model, coef, layers, start, end, L, objective)
    hop_cost = {(i, j): _ns(hop_s(rp, rp.devices[i], rp.devices[j], coef[i])) for (i, j) in arcs}
    hops = sum(hop_cost[k] * arcs[k] for k in arcs)
    for cls in _interchangeable(rp):
        for a, b in itertools.pairwise(cls):
            model.add(layers[a] >= layers[b])

    if objective == "throughput":
        slowest = model.new_int_var(0, 10**15, "slowest_stage")
        for t in stage_time:
            model.add(slowest >= t)
        model.minimize(slowest * (n + 1) + sum(stage_time))  # tie-break: less total time
    else:
        model.minimize(sum(stage_time) + hops)

    if hint is not None:
        for v, h in zip(layers, hint, strict=True):
            model.add_hint(v, h)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = settings.time_limit_s
    solver.parameters.num_workers = settings.workers
    solver.parameters.random_seed = settings.seed
    t0 = time.perf_counter()
    status = solver.solve(model)
    wall = time.perf_counter() - t0
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        info = SolverInfo(name, False, wall, None, None, None)
        if status == cp_model.INFEASIBLE:
            reason = explain_infeasible(rp, coef)
        else:
            reason = f"the solver stopped after {settings.time_limit_s:g} s without a plan ({name}); raise --time-limit"
        return Placement([], [], info, infeasible_reason=reason)
    obj = solver.objective_value
    bound = solver.best_objective_bound
    scale = (n + 1) if objective == "throughput" else 1
    info = SolverInfo(
        status=name,
        optimal=status == cp_model.OPTIMAL,
        wall_s=round(wall, 4),
        objective_s=obj / NS / scale,
        bound_s=bound / NS / scale,
        gap=round(abs(obj - bound) / max(abs(obj), 1e-9), 6),
    )
    order = _decode_order(solver, start, arcs, n)
    values = [solver.value(v) for v in layers]
    rest = [i for i in range(n) if i not in order]
    full_order = order + rest
    return Placement(full_order, [values[i] for i in full_order], info)


def _add_layer_count(model: cp_model.CpModel, layers: list, used: list, total: int) -> None:
    model.add(sum(layers) == total)
    for x, u in zip(layers, used, strict=True):
        model.add(x >= 1).only_enforce_if(u)
        model.add(x == 0).only_enforce_if(~u)


def _add_order_circuit(model: cp_model.CpModel, used: list, start: list, end: list, arcs: dict) -> None:
    """Depot 0, devices 1..n; an unused device loops on itself through ~used."""
    n = len(used)
    triples = []
    for i in range(n):
        triples.append((0, i + 1, start[i]))
        triples.append((i + 1, 0, end[i]))
        triples.append((i + 1, i + 1, ~used[i]))
    for (i, j), lit in arcs.items():
        triples.append((i + 1, j + 1, lit))
    model.add_circuit(triples)
    model.add_exactly_one(start)


def _add_memory(model: cp_model.CpModel, coef: list[StageCoefficients], layers, used, start, end) -> None:
    for i, c in enumerate(coef):
        model.add(
            _mb(c.gb_base) * used[i]
            + _mb(c.gb_per_layer) * layers[i]
            + _mb(c.gb_embedding) * start[i]
            + _mb(c.gb_head) * end[i]
            <= _mb(c.usable_gb)
        ).with_name(f"memory_{i}")


def _add_stage_times(model, coef, layers, start, end, total_layers, objective) -> list:  # type: ignore[no-untyped-def]
    times = []
    for i, c in enumerate(coef):
        t = model.new_int_var(0, 10**15, f"stage_time_{i}")
        if objective == "prefill":
            model.add(t == _ns(c.prefill_s_per_layer) * layers[i] + _ns(c.head_prefill_s) * end[i])
        else:
            busy = model.new_int_var(0, 10**15, f"busy_{i}")
            model.add(busy >= _ns(c.mem_s_per_layer) * layers[i] + _ns(c.head_mem_s) * end[i])
            model.add(busy >= _ns(c.comp_s_per_layer) * layers[i] + _ns(c.head_comp_s) * end[i])
            # the per-token host work is paid once, by the stage that starts the chain
            model.add(t == busy + _ns(c.layer_overhead_s) * layers[i] + _ns(c.token_overhead_s) * start[i])
        times.append(t)
    return times


def _decode_order(solver: cp_model.CpSolver, start: list, arcs: dict, n: int) -> list[int]:
    first = next(i for i in range(n) if solver.boolean_value(start[i]))
    order = [first]
    while True:
        nxt = [j for j in range(n) if (order[-1], j) in arcs and solver.boolean_value(arcs[order[-1], j])]
        if not nxt:
            return order
        order.append(nxt[0])


def explain_infeasible(rp: ResolvedProblem, coef: list[StageCoefficients]) -> str:
    """Which constraint binds: total memory, or the model cannot be split finely enough."""
    L = rp.model.layers
    need = min(c.gb_base for c in coef) + sum(c.gb_per_layer for c in coef) / len(coef) * L
    need += min(c.gb_embedding for c in coef) + min(c.gb_head for c in coef)
    have = sum(c.usable_gb - c.gb_base for c in coef)
    if need > have:
        return (
            f"memory: the model needs about {need:.0f} GB and the devices offer {have:.0f} GB usable "
            f"(short by {need - have:.0f} GB)"
        )
    return "memory: no split of whole layers fits every device (a layer is too large for the smaller devices)"


def exo_layers(rp: ResolvedProblem) -> list[int]:
    """EXO 1.0's pipeline split (exo.md 1.4): layers in proportion to each node's available memory,
    largest remainder, at least one per node, in the given node order."""
    return largest_remainder_split(rp.model.layers, [i.memory_gb for i in rp.devices])


def exhaustive_best_decode(rp: ResolvedProblem) -> float:
    """The oracle: every order of every subset of devices and every split of the layers, evaluated
    by the analytic core; the best single-stream decode rate that fits (0 if none). Small cases only."""
    from optimizer.perf.plan import PlanSpec, evaluate_plan

    n, L = len(rp.devices), rp.model.layers
    best = 0.0
    for k in range(1, n + 1):
        for order in itertools.permutations(range(n), k):
            sub = rp.reordered(list(order) + [i for i in range(n) if i not in order])
            for cuts in itertools.combinations(range(1, L), k - 1):
                bounds = (0, *cuts, L)
                layers = [b - a for a, b in itertools.pairwise(bounds)] + [0] * (n - k)
                a = evaluate_plan(sub, PlanSpec.pipeline(layers))
                if a.fits:
                    best = max(best, a.system.decode_tok_s)
    return best
