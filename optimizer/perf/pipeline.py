"""Pipeline (layer split) evaluation: the plan evaluator with one device per stage."""

from __future__ import annotations

from optimizer.perf.plan import PlanSpec, evaluate_plan
from optimizer.problem import ResolvedProblem
from optimizer.results import Analysis

__all__ = ["evaluate_pipeline"]


def evaluate_pipeline(rp: ResolvedProblem, layers: list[int], strategy: str = "pipeline") -> Analysis:
    """Full analysis of a layer split (``layers[i]`` layers on ``rp.devices[i]``, in chain order)."""
    return evaluate_plan(rp, PlanSpec.pipeline(layers, strategy))
