"""Every bundled problem runs and meets the expectations written in it (a regression suite)."""

from pathlib import Path

import pytest
import yaml

from optimizer.analyze import analyze
from optimizer.problem import load_problem

ALL = sorted((Path(__file__).parents[1] / "problems").glob("*.yaml"))
PROBLEMS = [p for p in ALL if "ask" not in (yaml.safe_load(p.read_text()) or {})]
ASKS = [p for p in ALL if p not in PROBLEMS]


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


@pytest.mark.parametrize("path", ASKS, ids=lambda p: p.stem)
def test_hardware_ask_meets_its_expectations(path):
    from optimizer.solve.hardware import HardwareAsk, answer

    ask = HardwareAsk.model_validate(yaml.safe_load(path.read_text()))
    ans = answer(ask)
    exp = ask.expect or {}
    if "feasible" in exp:
        assert ans.feasible is exp["feasible"]
    if "not_chosen" in exp and ans.chosen:
        assert f"{ans.chosen.count}x {ans.chosen.device}" != exp["not_chosen"]
