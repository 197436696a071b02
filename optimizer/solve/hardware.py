"""Hardware selection: the cheapest hardware that reaches a target rate, or the best plan under a
budget and a power cap, chosen from the catalog with CP-SAT.

Formulation: every candidate configuration is (device type, count, strategy) with the count from
1 to ``max_devices``; the analytic core evaluates each (rates, memory fit, price, power), which makes
the coefficients; CP-SAT then has one boolean per configuration, exactly one chosen, linear
constraints for the target rate, budget, power cap and device count, and the objective (price for
``min-hardware``; decode rate, tokens per USD or tokens per watt for ``recommend``). Every answer is
the core's own evaluation of the chosen configuration. Configurations mix one device type; mixed
fleets are analysed with ``mlba auto``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

from ortools.sat.python import cp_model
from pydantic import BaseModel, ConfigDict

from catalog.resolve import UnknownNameError, resolver
from catalog.schema import Device
from optimizer.perf.memory import GB, usable_memory_gb
from optimizer.perf.plan import PlanSpec, StageSpec, evaluate_plan
from optimizer.perf.workload import weight_bytes, whole_model
from optimizer.problem import DeviceSpec, Problem, ProblemError, Workload, resolve
from optimizer.results import Analysis
from optimizer.solve.candidates import tensor_rule

Goal = Literal["decode", "tokens-per-usd", "tokens-per-watt"]
RATE_SCALE = 1000  # tok/s -> integer milli-tok/s
DEFAULT_MAX_DEVICES = 8


class HardwareConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    device: str
    device_id: str
    count: int
    strategy: str
    runtime: str
    link: str | None
    fits: bool
    decode_tok_s: float
    decode_tok_s_total: float
    prefill_tok_s: float
    ttft_s: float
    price_usd: float
    power_w: float
    cost_per_month_usd: float
    tokens_per_usd: float
    tokens_per_watt: float


class HardwareAnswer(BaseModel):
    """The answer of ``mlba min-hardware`` and ``mlba recommend``."""

    question: str
    feasible: bool
    chosen: HardwareConfig | None
    reasoning: str
    binding_limit: str | None
    cheaper_alternatives: list[str]
    pareto: list[HardwareConfig]
    solver: dict[str, object]
    configurations_evaluated: int
    analysis: Analysis | None


def _priced_devices(names: list[str] | None) -> list[Device]:
    r = resolver()
    if names:
        out = []
        for n in names:
            try:
                d = r.device(n).entry
            except UnknownNameError as exc:
                raise ProblemError(str(exc)) from None
            if d.price_usd is None:
                raise ProblemError(f"{d.name} has no price in the catalog; it cannot be costed")
            out.append(d)
        return list({d.id: d for d in out}.values())
    return [d for d in r.catalog.devices.values() if d.price_usd is not None]


def _analysis_to_config(a: Analysis, d: Device, count: int, link: str | None) -> HardwareConfig:
    s = a.system
    return HardwareConfig(
        device=d.name,
        device_id=d.id,
        count=count,
        strategy=a.strategy,
        runtime=a.runtime,
        link=link,
        fits=a.fits,
        decode_tok_s=s.decode_tok_s,
        decode_tok_s_total=s.decode_tok_s_total,
        prefill_tok_s=s.prefill_tok_s,
        ttft_s=s.ttft_s,
        price_usd=s.price_usd or 0.0,
        power_w=s.power_w,
        cost_per_month_usd=s.cost_per_month_usd,
        tokens_per_usd=s.tokens_per_usd,
        tokens_per_watt=s.decode_tok_s_total / max(s.power_w, 1e-9),
    )


def configurations(
    model: str,
    quant: str,
    runtime: str | None,
    workload: Workload,
    devices: list[Device],
    max_devices: int,
    link: str | None,
    progress: Callable[[str], None] | None = None,
) -> list[tuple[HardwareConfig, Analysis]]:
    """Evaluate every (device type, count, strategy) that can hold the model."""
    out: list[tuple[HardwareConfig, Analysis]] = []
    for n_dev, d in enumerate(devices):
        if progress and n_dev % 10 == 0:
            progress(f"evaluating {d.name} ({n_dev + 1}/{len(devices)})")
        base = Problem(
            model=model,
            quant=quant,
            runtime=runtime,
            devices=[DeviceSpec(name=d.id)],
            link=link,
            workload=workload,
        )
        rp1 = resolve(base)
        need = weight_bytes(rp1.model, rp1.quant, whole_model(rp1.model)) / GB
        usable = usable_memory_gb(d, d.memory_gb) - rp1.devices[0].runtime.memory_overhead_gb
        if usable <= 0:
            continue
        k_min = max(1, math.ceil(need / usable))
        for k in range(k_min, max_devices + 1):
            if k > rp1.model.layers:
                break
            rp = resolve(base.model_copy(update={"devices": [DeviceSpec(name=d.id, count=k)]}))
            specs = [PlanSpec.pipeline(_even(rp.model.layers, k), "pipeline" if k > 1 else "single device")]
            if k > 1 and tensor_rule(rp, k) is None:
                specs.append(PlanSpec(f"tensor x{k}", (StageSpec(tuple(range(k)), rp.model.layers),)))
            if k > 1 and workload.batch >= k and need < usable:
                specs.append(
                    PlanSpec(
                        f"data x{k}",
                        (StageSpec((0,), rp.model.layers),),
                        replicas=tuple((i,) for i in range(1, k)),
                    )
                )
            for spec in specs:
                a = evaluate_plan(rp, spec)
                if a.fits:
                    out.append((_analysis_to_config(a, d, k, rp.hops[0].id if rp.hops else None), a))
    return out


def _even(layers: int, k: int) -> list[int]:
    return [layers // k + (1 if i < layers % k else 0) for i in range(k)]


def _rate(c: HardwareConfig, concurrency: int) -> float:
    return c.decode_tok_s_total if concurrency > 1 else c.decode_tok_s


def _solve(
    configs: list[HardwareConfig],
    objective: Callable[[HardwareConfig], int],
    allowed: Callable[[HardwareConfig], bool],
) -> tuple[int | None, str, bool, float]:
    model = cp_model.CpModel()
    pick = [model.new_bool_var(f"config_{i}") for i in range(len(configs))]
    for b, c in zip(pick, configs, strict=True):
        if not allowed(c):
            model.add(b == 0)
    model.add(sum(pick) <= 1)
    feasible_any = any(allowed(c) for c in configs)
    if feasible_any:
        model.add(sum(pick) == 1)
    model.minimize(sum(objective(c) * b for c, b in zip(configs, pick, strict=True)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    t0 = time.perf_counter()
    status = solver.solve(model)
    wall = time.perf_counter() - t0
    chosen = next((i for i, b in enumerate(pick) if solver.boolean_value(b)), None) if feasible_any else None
    return chosen, solver.status_name(status), status == cp_model.OPTIMAL, wall


def pareto_front(configs: list[HardwareConfig], concurrency: int) -> list[HardwareConfig]:
    """Configurations no other one beats on both price (lower) and decode rate (higher)."""
    front: list[HardwareConfig] = []
    for c in sorted(configs, key=lambda x: (x.price_usd, -_rate(x, concurrency), x.power_w)):
        if not front or _rate(c, concurrency) > _rate(front[-1], concurrency):
            front.append(c)
    return front


def _label(c: HardwareConfig) -> str:
    return f"{c.count}x {c.device} ({c.strategy})"


def min_hardware(
    model: str,
    quant: str,
    target_decode: float,
    runtime: str | None = None,
    workload: Workload | None = None,
    from_devices: list[str] | None = None,
    budget_usd: float | None = None,
    power_cap_w: float | None = None,
    max_devices: int = DEFAULT_MAX_DEVICES,
    link: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> HardwareAnswer:
    """The cheapest configuration whose decode rate meets ``target_decode`` (tie: power, count)."""
    if target_decode <= 0:
        raise ProblemError("--target-decode must be positive")
    w = workload or Workload()
    evaluated = configurations(model, quant, runtime, w, _priced_devices(from_devices), max_devices, link, progress)
    configs = [c for c, _ in evaluated]

    def within_limits(c: HardwareConfig) -> bool:
        return (budget_usd is None or c.price_usd <= budget_usd) and (power_cap_w is None or c.power_w <= power_cap_w)

    def allowed(c: HardwareConfig) -> bool:
        return within_limits(c) and _rate(c, w.batch) >= target_decode

    def cost(c: HardwareConfig) -> int:
        return round(c.price_usd * 100) * 10**6 + round(c.power_w) * 100 + c.count

    idx, status, optimal, wall = _solve(configs, cost, allowed)
    question = f"cheapest hardware for {target_decode:g} tok/s" + (" total" if w.batch > 1 else " per stream")
    front = pareto_front([c for c in configs if within_limits(c)], w.batch)
    solver = {"status": status, "optimal": optimal, "wall_s": round(wall, 4), "gap": 0.0 if optimal else None}
    if idx is None:
        return HardwareAnswer(
            question=question,
            feasible=False,
            chosen=None,
            reasoning="no configuration in the catalog meets every limit",
            binding_limit=_binding(configs, target_decode, w.batch, budget_usd, power_cap_w, max_devices),
            cheaper_alternatives=[],
            pareto=front,
            solver=solver,
            configurations_evaluated=len(configs),
            analysis=None,
        )
    best = configs[idx]
    cheaper = sorted((c for c in configs if c.price_usd < best.price_usd), key=lambda c: -c.price_usd)[:3]
    why_not = [
        f"{_label(c)} ${c.price_usd:,.0f}: {_why_not(c, target_decode, w.batch, budget_usd, power_cap_w)}"
        for c in cheaper
    ]
    return HardwareAnswer(
        question=question,
        feasible=True,
        chosen=best,
        reasoning=(
            f"{_label(best)} is the cheapest plan reaching {target_decode:g} tok/s: "
            f"{_rate(best, w.batch):.1f} tok/s for ${best.price_usd:,.0f} at {best.power_w:.0f} W"
        ),
        binding_limit=None,
        cheaper_alternatives=why_not,
        pareto=front,
        solver=solver,
        configurations_evaluated=len(configs),
        analysis=evaluated[idx][1],
    )


def recommend(
    model: str,
    quant: str,
    budget_usd: float,
    goal: Goal = "decode",
    runtime: str | None = None,
    workload: Workload | None = None,
    from_devices: list[str] | None = None,
    power_cap_w: float | None = None,
    max_devices: int = DEFAULT_MAX_DEVICES,
    link: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> HardwareAnswer:
    """The best configuration within ``budget_usd`` (and the power cap) for ``goal``."""
    if budget_usd <= 0:
        raise ProblemError("--budget must be positive")
    w = workload or Workload()
    evaluated = configurations(model, quant, runtime, w, _priced_devices(from_devices), max_devices, link, progress)
    configs = [c for c, _ in evaluated]

    def allowed(c: HardwareConfig) -> bool:
        return c.price_usd <= budget_usd and (power_cap_w is None or c.power_w <= power_cap_w)

    score: dict[str, Callable[[HardwareConfig], float]] = {
        "decode": lambda c: _rate(c, w.batch),
        "tokens-per-usd": lambda c: c.tokens_per_usd,
        "tokens-per-watt": lambda c: c.tokens_per_watt,
    }

    def cost(c: HardwareConfig) -> int:  # maximise the goal; then cheaper, then less power
        return -round(score[goal](c) * RATE_SCALE) * 10**9 + round(c.price_usd) * 1000 + round(c.power_w)

    idx, status, optimal, wall = _solve(configs, cost, allowed)
    front = pareto_front([c for c in configs if power_cap_w is None or c.power_w <= power_cap_w], w.batch)
    solver = {"status": status, "optimal": optimal, "wall_s": round(wall, 4), "gap": 0.0 if optimal else None}
    question = f"best {goal} within ${budget_usd:,.0f}" + (f" and {power_cap_w:g} W" if power_cap_w else "")
    if idx is None:
        cheapest = min(configs, key=lambda c: c.price_usd, default=None)
        limit = (
            f"budget: the cheapest configuration that holds the model is {_label(cheapest)} "
            f"at ${cheapest.price_usd:,.0f}"
            if cheapest
            else "memory: no catalog device holds the model within the device-count limit"
        )
        return HardwareAnswer(
            question=question, feasible=False, chosen=None, reasoning="nothing fits the limits",
            binding_limit=limit, cheaper_alternatives=[], pareto=front, solver=solver,
            configurations_evaluated=len(configs), analysis=None,
        )  # fmt: skip
    best = configs[idx]
    return HardwareAnswer(
        question=question,
        feasible=True,
        chosen=best,
        reasoning=(
            f"{_label(best)} gives the best {goal} within the limits: {_rate(best, w.batch):.1f} tok/s, "
            f"${best.price_usd:,.0f}, {best.power_w:.0f} W, {best.tokens_per_usd:,.0f} tokens/$"
        ),
        binding_limit=None,
        cheaper_alternatives=[],
        pareto=front,
        solver=solver,
        configurations_evaluated=len(configs),
        analysis=evaluated[idx][1],
    )


def _why_not(c: HardwareConfig, target: float, concurrency: int, budget: float | None, cap: float | None) -> str:
    if _rate(c, concurrency) < target:
        return f"{_rate(c, concurrency):.1f} tok/s, below the {target:g} tok/s target"
    if cap is not None and c.power_w > cap:
        return f"{c.power_w:.0f} W, over the {cap:g} W cap"
    if budget is not None and c.price_usd > budget:
        return f"over the ${budget:,.0f} budget"
    return "meets the target but costs more power or devices"


def _binding(
    configs: list[HardwareConfig],
    target: float,
    concurrency: int,
    budget: float | None,
    cap: float | None,
    max_devices: int,
) -> str:
    """Which limit makes the ask impossible, with the best figure reachable under the others."""
    if not configs:
        return f"memory: no catalog device holds the model with at most {max_devices} devices"
    reachable = [c for c in configs if _rate(c, concurrency) >= target]
    if reachable:
        ok_power = [c for c in configs if cap is None or c.power_w <= cap]
        ok_budget = [c for c in ok_power if budget is None or c.price_usd <= budget]
        if budget is not None and min(c.price_usd for c in reachable) > budget:
            if ok_budget:
                best = max(ok_budget, key=lambda c: _rate(c, concurrency))
                rate = _rate(best, concurrency)
                return f"budget: with ${budget:,.0f} the fastest plan is {rate:.1f} tok/s: {_label(best)}"
            cheapest = min(configs, key=lambda c: c.price_usd)
            return f"budget: nothing that holds the model costs under ${budget:,.0f} (cheapest: {_label(cheapest)})"
        if cap is not None and ok_power:
            best = max(ok_power, key=lambda c: _rate(c, concurrency))
            return f"power: within {cap:g} W the fastest plan is {_rate(best, concurrency):.1f} tok/s: {_label(best)}"
        return "budget and power together: every plan fast enough breaks one of them"
    best = max(configs, key=lambda c: _rate(c, concurrency))
    return (
        f"target: the fastest configuration with at most {max_devices} devices reaches "
        f"{_rate(best, concurrency):.1f} tok/s ({_label(best)})"
    )


class HardwareAsk(BaseModel):
    """A hardware question as written in ``problems/*.yaml`` (``ask: min-hardware`` or ``recommend``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    ask: Literal["min-hardware", "recommend"]
    description: str = ""
    model: str
    quant: str
    runtime: str | None = None
    workload: Workload = Workload()
    target_decode: float | None = None
    budget_usd: float | None = None
    power_cap_w: float | None = None
    goal: Goal = "decode"
    from_devices: list[str] | None = None
    max_devices: int = DEFAULT_MAX_DEVICES
    link: str | None = None
    expect: dict[str, object] | None = None


def answer(ask: HardwareAsk, progress: Callable[[str], None] | None = None) -> HardwareAnswer:
    """Run a hardware question."""
    common = dict(
        runtime=ask.runtime,
        workload=ask.workload,
        from_devices=ask.from_devices,
        power_cap_w=ask.power_cap_w,
        max_devices=ask.max_devices,
        link=ask.link,
        progress=progress,
    )
    if ask.ask == "min-hardware":
        if ask.target_decode is None:
            raise ProblemError("min-hardware needs target_decode (tok/s)")
        return min_hardware(ask.model, ask.quant, ask.target_decode, budget_usd=ask.budget_usd, **common)  # type: ignore[arg-type]
    if ask.budget_usd is None:
        raise ProblemError("recommend needs budget_usd")
    return recommend(ask.model, ask.quant, ask.budget_usd, goal=ask.goal, **common)  # type: ignore[arg-type]
