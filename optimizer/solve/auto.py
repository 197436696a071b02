"""AUTO: try every parallel strategy, place layers optimally, choose, and explain the choice.

Public API: ``auto(problem, objective="decode") -> AutoResult``.
Flow: resolve -> candidates (CP-SAT placement for the pipeline, EXO's rule as the baseline, every
other strategy with its validity rule) -> the analytic core evaluates each -> CP-SAT picks one ->
a short reasoning, the comparison with EXO, and the full analysis of the chosen plan.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from optimizer.analyze import with_evidence
from optimizer.perf.plan import evaluate_plan
from optimizer.problem import Problem, ProblemError, ResolvedProblem, resolve
from optimizer.results import Analysis
from optimizer.solve.candidates import Candidate, all_candidates
from optimizer.solve.placement import SolverSettings
from optimizer.solve.strategy import METRICS, Objective, choose, headroom

DEFAULT_SETTINGS = SolverSettings()
PLACEMENT_OBJECTIVE = {"prefill": "prefill", "ttft": "prefill", "throughput": "throughput"}


class Alternative(BaseModel):
    model_config = ConfigDict(frozen=True)

    strategy: str
    fits: bool | None
    decode_tok_s: float | None
    prefill_tok_s: float | None
    ttft_s: float | None
    request_latency_s: float | None
    decode_tok_s_total: float | None
    power_w: float | None
    headroom: float | None
    invalid_reason: str | None
    detail: str = ""


class PlacementEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    device: str
    device_index: int
    layers: int
    layer_range: tuple[int, int]
    stage: int
    tp_group: int | None
    role: str


class SolverReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: str  # strategy choice
    optimal: bool
    wall_s: float
    gap: float | None
    placement_status: str | None  # CP-SAT pipeline placement
    placement_optimal: bool | None
    placement_wall_s: float | None
    placement_objective_s: float | None


class AutoResult(BaseModel):
    """The answer of ``mlba auto``."""

    chosen: str
    objective: str
    reasoning: str
    vs_exo: str
    alternatives: list[Alternative]
    placement: list[PlacementEntry]
    solver: SolverReport
    analysis: Analysis


def _alternative(c: Candidate, a: Analysis | None) -> Alternative:
    if a is None:
        return Alternative(
            strategy=c.strategy, fits=None, decode_tok_s=None, prefill_tok_s=None, ttft_s=None,
            request_latency_s=None, decode_tok_s_total=None, power_w=None, headroom=None,
            invalid_reason=c.invalid_reason, detail=c.detail,
        )  # fmt: skip
    s = a.system
    return Alternative(
        strategy=c.strategy,
        fits=a.fits,
        decode_tok_s=s.decode_tok_s,
        prefill_tok_s=s.prefill_tok_s,
        ttft_s=s.ttft_s,
        request_latency_s=s.request_latency_s,
        decode_tok_s_total=s.decode_tok_s_total,
        power_w=s.power_w,
        headroom=round(headroom(a), 4),
        invalid_reason=None,
        detail=c.detail,
    )


def auto_resolved(
    rp: ResolvedProblem,
    objective: Objective = "decode",
    settings: SolverSettings = DEFAULT_SETTINGS,
    evidence: bool = True,
) -> AutoResult:
    cands = all_candidates(rp, PLACEMENT_OBJECTIVE.get(objective, "decode"), settings)  # type: ignore[arg-type]
    evaluated: list[tuple[Candidate, Analysis]] = []
    alternatives: list[Alternative] = []
    for c in cands:
        a = evaluate_plan(c.rp, c.spec) if c.spec is not None else None
        if a is not None:
            evaluated.append((c, a))
        alternatives.append(_alternative(c, a))
    if not evaluated:
        reasons = "; ".join(f"{c.strategy}: {c.invalid_reason}" for c in cands if c.invalid_reason)
        raise ProblemError(f"no strategy can run this model on these devices ({reasons})")
    idx, status, optimal, wall = choose([a for _, a in evaluated], objective)
    best_c, best_a = evaluated[idx]
    if evidence:
        best_a = with_evidence(best_c.rp, best_a)
    pipeline = next((c for c in cands if c.placement is not None), None)
    pl = pipeline.placement if pipeline else None
    solver = SolverReport(
        status=status,
        optimal=optimal,
        wall_s=round(wall, 4),
        gap=0.0 if optimal else None,
        placement_status=pl.solver.status if pl else None,
        placement_optimal=pl.solver.optimal if pl else None,
        placement_wall_s=pl.solver.wall_s if pl else None,
        placement_objective_s=pl.solver.objective_s if pl else None,
    )
    placement = [
        PlacementEntry(
            device=d.name,
            device_index=d.index,
            layers=d.layers,
            layer_range=d.layer_range,
            stage=d.stage,
            tp_group=d.tp_group,
            role=d.role,
        )
        for d in best_a.devices
    ]
    return AutoResult(
        chosen=best_c.strategy,
        objective=objective,
        reasoning=_reasoning(best_c, best_a, evaluated, objective),
        vs_exo=_vs_exo(best_c, best_a, evaluated, objective),
        alternatives=alternatives,
        placement=placement,
        solver=solver,
        analysis=best_a,
    )


def auto(problem: Problem, objective: Objective = "decode", settings: SolverSettings = DEFAULT_SETTINGS) -> AutoResult:
    """Choose the best strategy and placement for ``problem`` (see module docstring)."""
    return auto_resolved(resolve(problem), objective, settings)


def _metric_text(a: Analysis, objective: str) -> str:
    s = a.system
    return {
        "decode": f"{s.decode_tok_s:,.1f} tok/s",
        "prefill": f"{s.prefill_tok_s:,.0f} prefill tok/s",
        "ttft": f"TTFT {s.ttft_s:.3f} s",
        "latency": f"{s.request_latency_s:.2f} s per request",
        "throughput": f"{s.decode_tok_s_total:,.1f} tok/s total",
        "tokens-per-watt": f"{s.decode_tok_s_total / max(s.power_w, 1e-9):.3f} tok/s per W",
        "cost": f"{s.tokens_per_usd:,.0f} tokens/$",
    }[objective]


def _reasoning(c: Candidate, a: Analysis, evaluated: list[tuple[Candidate, Analysis]], objective: str) -> str:
    others = [(oc, oa) for oc, oa in evaluated if oc is not c and oa.fits]
    runner = min(others, key=lambda x: METRICS[objective](x[1])) if others else None
    if not a.fits:
        return f"no strategy fits in memory; {c.strategy} comes closest ({a.warnings[0] if a.warnings else ''})"
    why = _why(c, a)
    if runner is None:
        return f"{why}; it is the only plan that fits"
    return f"{why}; {_metric_text(a, objective)} vs {runner[0].strategy} {_metric_text(runner[1], objective)}"


def _why(c: Candidate, a: Analysis) -> str:
    rp = c.rp
    group_links = [lk for lk in a.links if lk.traffic.endswith("group")]
    if c.strategy.startswith("tensor") or c.strategy.startswith("tp x"):
        lk = group_links[0] if group_links else None
        per_dev = max(d.decode_step_ms for d in a.devices)
        if lk:
            return (
                f"each device reads 1/{lk.between[1] - lk.between[0] + 1} of every layer "
                f"({per_dev:.1f} ms per token) and the all-reduces over {lk.link_id} "
                f"({lk.latency_us:g} us latency) add {lk.time_per_token_ms:.1f} ms"
            )
        return "splitting every layer's weights shortens each token's memory read"
    if c.strategy == "single device":
        return f"the model fits {a.devices[0].name} alone; spreading it out would only add hops"
    if c.strategy.startswith("data") or "dp" in c.strategy:
        return "each replica holds the whole model, so replicas multiply throughput without adding hops"
    if c.strategy == "pd-split":
        return f"{c.detail}: prefill needs compute, decode needs bandwidth, and the KV cache streams between them"
    if c.strategy.startswith("expert"):
        return "experts spread over the devices so each token reads only its experts' share"
    if c.strategy.startswith("context"):
        return "the long prompt splits across devices that each hold the whole model"
    if c.strategy in ("pipeline", "exo"):
        top = max(a.devices, key=lambda d: d.layers)
        return (
            f"layers go where memory bandwidth is: {top.name} runs {top.layers} of {rp.model.layers} layers "
            f"and the {len(a.links)} hop(s) cost "
            f"{sum(lk.time_per_token_ms for lk in a.links):.2f} ms per token"
        )
    return c.strategy


def _vs_exo(c: Candidate, a: Analysis, evaluated: list[tuple[Candidate, Analysis]], objective: str) -> str:
    exo = next(((ec, ea) for ec, ea in evaluated if ec.strategy == "exo"), None)
    if exo is None:
        return "EXO's placement does not apply here"
    ec, ea = exo
    if not ea.fits and a.fits:
        why = ea.warnings[0] if ea.warnings else "memory"
        return f"EXO's memory-proportional split does not fit ({why}); AUTO's does"
    mine, theirs = METRICS[objective](a), METRICS[objective](ea)
    if theirs <= mine * 1.0005:
        return f"AUTO matches EXO's placement ({_metric_text(ea, objective)})"
    gain = theirs / mine - 1
    text = f"{100 * gain:.0f}% better than EXO ({_metric_text(a, objective)} vs {_metric_text(ea, objective)})"
    exo_used = [d for d in ea.devices if d.layers > 0]
    auto_used = [d for d in a.devices if d.layers > 0]
    if c.strategy in ("pipeline", "single device") and len(exo_used) < len(auto_used):
        names = ", ".join(d.name for d in exo_used)
        added = [d for d in auto_used if d.device_id not in {e.device_id for e in exo_used}]
        text += (
            f": EXO uses the fewest nodes that hold the weights ({names}); AUTO also uses "
            + ", ".join(f"{d.name} ({d.layers} layers)" for d in added)
            + " for its memory bandwidth"
        )
        return text
    by_name = {d.device_id: d for d in a.devices}
    diffs = []
    for d in ea.devices:
        mine_d = by_name.get(d.device_id)
        if mine_d is not None and mine_d.layers != d.layers:
            diffs.append((abs(mine_d.layers - d.layers), d, mine_d))
    if diffs and c.strategy in ("pipeline", "single device"):
        _, theirs_d, mine_d = max(diffs, key=lambda x: x[0])
        dev = ec.rp.devices[theirs_d.index].device
        bw_ratio = (
            dev.bandwidth_gb_s / max(i.device.bandwidth_gb_s for i in ec.rp.devices if i.device.id != dev.id)
            if len({i.device.id for i in ec.rp.devices}) > 1
            else 1.0
        )
        text += (
            f": EXO gives {theirs_d.name} {theirs_d.layers} layers by memory share; "
            f"it has {bw_ratio:.1f}x the bandwidth of the other devices, so AUTO gives it {mine_d.layers}"
        )
    elif c.strategy != "pipeline":
        text += f": {c.strategy} beats any layer split here"
    return text
