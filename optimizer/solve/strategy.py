"""CP-SAT strategy choice: one boolean per evaluated candidate, exactly one chosen.

Coefficients come from the analytic core's evaluation of each candidate. The objective is
lexicographic, encoded with weights: plans that fit first, then the user's objective, then memory
headroom. (The model is small; CP-SAT keeps the formulation uniform with placement and hardware
selection and reports its status like the others.)
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
UNITS = 1e9  # metric -> integer (nano-units)
FIT_PENALTY = 10**15  # any plan that fits beats any plan that does not
HEADROOM_WEIGHT = 1000  # nano-units per 1% of headroom: a tie-breaker only


def headroom(a: Analysis) -> float:
    """Smallest free share of usable memory over the devices (negative when over)."""
    return min((d.memory_usable_gb - d.memory_used_gb) / d.memory_usable_gb for d in a.devices)


def score(a: Analysis, objective: Objective) -> int:
    return (
        (0 if a.fits else FIT_PENALTY)
        + round(METRICS[objective](a) * UNITS)
        - round(100 * headroom(a) * HEADROOM_WEIGHT)
        + (1 if a.strategy == "exo" else 0)  # on an exact tie, name AUTO's own plan
    )


def choose(analyses: list[Analysis], objective: Objective) -> tuple[int, str, bool, float]:
    """Index of the chosen analysis, solver status, optimality, wall seconds."""
    model = cp_model.CpModel()
    pick = [model.new_bool_var(f"choose_{a.strategy}_{i}") for i, a in enumerate(analyses)]
    model.add_exactly_one(pick)
    model.minimize(sum(score(a, objective) * b for a, b in zip(analyses, pick, strict=True)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    t0 = time.perf_counter()
    status = solver.solve(model)
    wall = time.perf_counter() - t0
    chosen = next(i for i, b in enumerate(pick) if solver.boolean_value(b))
    return chosen, solver.status_name(status), status == cp_model.OPTIMAL, wall
