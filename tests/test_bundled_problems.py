"""Every bundled problem runs and meets the expectations written in it (a regression suite)."""

from pathlib import Path

import pytest

from optimizer.analyze import analyze
from optimizer.problem import load_problem

PROBLEMS = sorted((Path(__file__).parents[1] / "problems").glob("*.yaml"))


def test_there_are_enough_problems():
    assert len(PROBLEMS) >= 8


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_problem_meets_its_expectations(path):
    problem = load_problem(path)
    a = analyze(problem)
    exp = problem.expect
    assert exp is not None, f"{path.name} has no expect block"
    if exp.fits is not None:
        assert a.fits is exp.fits, a.warnings
    if exp.decode_tok_s:
        lo, hi = exp.decode_tok_s
        assert lo <= a.system.decode_tok_s <= hi
    if exp.prefill_tok_s:
        lo, hi = exp.prefill_tok_s
        assert lo <= a.system.prefill_tok_s <= hi
    if exp.ttft_s:
        lo, hi = exp.ttft_s
        assert lo <= a.system.ttft_s <= hi
    if exp.bottleneck:
        assert a.system.bottleneck == exp.bottleneck
