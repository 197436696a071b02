"""CP-SAT strategy choice: one boolean per evaluated candidate, exactly one chosen.

Coefficients come from the analytic core's evaluation of each candidate. The order is
lexicographic: when any plan fits, the plans that do not are forbidden outright (no big-M weight
that a huge metric could overflow); then the user's objective; then memory headroom as a
tie-breaker worth less than one unit of the objective. (The model is small; CP-SAT keeps the
formulation uniform with placement and hardware selection and reports its status like them.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from ortools.sat.python import cp_model

from optimizer.results import Analysis

Objective = Literal["decode", "prefill", "ttft", "latency", "throughput", "tokens-per-watt", "cost"]

# Seconds (or joules, or USD) per unit of the objective; smaller is better for all of them.
METRICS: dict[str, Callable[[Analysis], float]] = {
    "decode": lambda a: 1.0 / max(a.system.decode_tok_s, 1e-12),
    "prefill": lambda a: 1.0 / max(a.system.prefill_tok_s, 1e-12) if a.system.prefill_tok_s > 0 else a.system.ttft_s,
    "ttft": lambda a: a.system.ttft_s,
    "latency": lambda a: a.system.request_latency_s,
    "throughput": lambda a: 1.0 / max(a.system.decode_tok_s_total, 1e-12),
    "tokens-per-watt": lambda a: a.system.power_w / max(a.system.decode_tok_s_total, 1e-12),
    "cost": lambda a: 1.0 / max(a.system.tokens_per_usd, 1e-12),
}
UNITS = 1e6  # metric -> integer (micro-units)
MAX_METRIC = 1e6  # clamp: a million seconds (or joules, or USD) per unit is already hopeless
TIE_RESOLUTION = 1000  # sub-units per objective unit, for the headroom tie-breaker


def headroom(a: Analysis) -> float:
    """Smallest free share of usable memory over the devices (negative when over)."""
    return min((d.memory_usable_gb - d.memory_used_gb) / d.memory_usable_gb for d in a.devices)


def score(a: Analysis, objective: Objective) -> int:
    """Objective in nano-units, minus a headroom bonus below one unit of resolution."""
    return (
        round(min(METRICS[objective](a), MAX_METRIC) * UNITS) * TIE_RESOLUTION
        - round(max(-1.0, min(1.0, headroom(a))) * (TIE_RESOLUTION // 4))
        + (1 if a.strategy == "exo" else 0)  # on an exact tie, name AUTO's own plan
    )


def choose(analyses: list[Analysis], objective: Objective) -> tuple[int, str, bool, float]:
    """Index of the chosen analysis, solver status, optimality, wall seconds."""
    model = cp_model.CpModel()
    pick = [model.new_bool_var(f"choose_{a.strategy}_{i}") for i, a in enumerate(analyses)]
    model.add_exactly_one(pick)
    if any(a.fits for a in analyses):
        for a, b in zip(analyses, pick, strict=True):
            if not a.fits:
                model.add(b == 0)
    model.minimize(sum(score(a, objective) * b for a, b in zip(analyses, pick, strict=True)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    t0 = time.perf_counter()
    status = solver.solve(model)
    wall = time.perf_counter() - t0
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):  # pragma: no cover - exactly-one is always feasible
        raise RuntimeError(f"strategy choice failed: {solver.status_name(status)}")
    chosen = next(i for i, b in enumerate(pick) if solver.boolean_value(b))
    return chosen, solver.status_name(status), status == cp_model.OPTIMAL, wall
