"""Public API: analyze a problem.

>>> from optimizer.analyze import analyze
>>> from optimizer.problem import Problem
>>> a = analyze(Problem(model="Llama 3 8B", quant="Q4_K_M", devices=["RTX 4090"]))
>>> round(a.system.decode_tok_s) > 0
True
"""

from __future__ import annotations

from optimizer.perf.memory import usable_memory_gb
from optimizer.perf.pipeline import evaluate_pipeline
from optimizer.perf.placement import PlacementError, largest_remainder_split
from optimizer.problem import Problem, ProblemError, ResolvedProblem, resolve
from optimizer.results import Analysis


def default_layers(rp: ResolvedProblem) -> list[int]:
    """Layers per device when the problem gives none: one device takes all; several split in
    proportion to usable memory (EXO's rule, exo.md 1.4)."""
    if len(rp.devices) == 1:
        return [rp.model.layers]
    weights = [usable_memory_gb(i.device, i.memory_gb) for i in rp.devices]
    try:
        return largest_remainder_split(rp.model.layers, weights)
    except PlacementError as exc:
        raise ProblemError(f"{exc}; use fewer devices") from None


def analyze_resolved(rp: ResolvedProblem) -> Analysis:
    layers = list(rp.problem.layers) if rp.problem.layers is not None else default_layers(rp)
    if sum(layers) != rp.model.layers:
        raise ProblemError(f"layers sum to {sum(layers)} but {rp.model.name} has {rp.model.layers}")
    return evaluate_pipeline(rp, layers, strategy=rp.problem.strategy)


def analyze(problem: Problem) -> Analysis:
    """Predict rates, memory, bottlenecks, power and cost for ``problem``."""
    return analyze_resolved(resolve(problem))
