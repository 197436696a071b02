"""Hardware selection: CP-SAT against exhaustive search on a restricted catalog, monotonicity,
limits never exceeded, infeasible asks name the binding limit, the bundled example."""

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from optimizer.cli import main
from optimizer.problem import Workload
from optimizer.solve.hardware import (
    HardwareAsk,
    _priced_devices,
    answer,
    configurations,
    min_hardware,
    recommend,
)

FROM = ["RTX 4090", "RTX 3090", "RTX 3060", "M2 Ultra"]
W = Workload(prompt_tokens=256, gen_tokens=64)


def exhaustive(model, quant, runtime, target=None, budget=None, cap=None, max_devices=4):
    configs = [c for c, _ in configurations(model, quant, runtime, W, _priced_devices(FROM), max_devices, None)]
    ok = [
        c
        for c in configs
        if (target is None or c.decode_tok_s >= target)
        and (budget is None or c.price_usd <= budget)
        and (cap is None or c.power_w <= cap)
    ]
    return ok


@pytest.mark.parametrize("target", [5, 15, 30, 60])
def test_min_hardware_equals_exhaustive_search(target):
    ok = exhaustive("Llama 3 70B", "Q4_K_M", None, target=target)
    ans = min_hardware("Llama 3 70B", "Q4_K_M", target, workload=W, from_devices=FROM, max_devices=4)
    if not ok:
        assert not ans.feasible and ans.binding_limit
        return
    assert ans.feasible and ans.solver["optimal"]
    assert ans.chosen.price_usd == min(c.price_usd for c in ok)
    assert ans.chosen.decode_tok_s >= target  # re-analysed plan meets the target
    assert ans.analysis is not None and ans.analysis.system.decode_tok_s == ans.chosen.decode_tok_s


@pytest.mark.parametrize("budget", [1000, 2500, 5000, 20000])
def test_recommend_equals_exhaustive_search(budget):
    ok = exhaustive("Llama 3 8B", "Q8_0", None, budget=budget)
    ans = recommend("Llama 3 8B", "Q8_0", budget, workload=W, from_devices=FROM, max_devices=4)
    assert ans.feasible == bool(ok)
    if ok:
        assert ans.chosen.decode_tok_s == pytest.approx(max(c.decode_tok_s for c in ok))
        assert ans.chosen.price_usd <= budget


def test_higher_target_is_never_cheaper():
    prices = []
    for target in (5, 10, 15, 20):
        ans = min_hardware("Llama 3 70B", "Q4_K_M", target, workload=W, from_devices=FROM, max_devices=4)
        prices.append(ans.chosen.price_usd if ans.feasible else float("inf"))
    assert prices == sorted(prices)


def test_bigger_budget_is_never_slower():
    rates = [
        recommend("Llama 3 8B", "Q8_0", b, workload=W, from_devices=FROM, max_devices=4).chosen.decode_tok_s
        for b in (700, 1600, 3000, 8000)
    ]
    assert rates == sorted(rates)


def test_adding_a_device_type_never_makes_the_answer_worse():
    small = min_hardware("Llama 3 70B", "Q4_K_M", 15, workload=W, from_devices=["RTX 3090", "M2 Ultra"], max_devices=4)
    big = min_hardware(
        "Llama 3 70B",
        "Q4_K_M",
        15,
        workload=W,
        from_devices=["RTX 3090", "M2 Ultra", "RTX 4090"],
        max_devices=4,
    )
    assert big.chosen.price_usd <= small.chosen.price_usd


@pytest.mark.parametrize("cap", [300, 500, 800])
def test_power_cap_is_never_exceeded(cap):
    ans = recommend("Llama 3 8B", "Q8_0", 10000, workload=W, from_devices=FROM, power_cap_w=cap, max_devices=4)
    if ans.feasible:
        assert ans.chosen.power_w <= cap
        assert all(p.power_w <= cap for p in ans.pareto)


def test_infeasible_ask_names_the_binding_limit():
    ans = min_hardware("Llama 3 70B", "Q4_K_M", 17, workload=W, from_devices=FROM, budget_usd=3000, max_devices=4)
    assert not ans.feasible
    assert ans.binding_limit.startswith("budget: with $3,000 the fastest plan is")
    ans = min_hardware("Llama 3 70B", "Q4_K_M", 500, workload=W, from_devices=FROM, max_devices=4)
    assert not ans.feasible and ans.binding_limit.startswith("target: the fastest configuration")


def test_pareto_front_is_non_dominated():
    ans = recommend("Llama 3 70B", "Q4_K_M", 50000, workload=W, from_devices=FROM, max_devices=4)
    front = ans.pareto
    for a in front:
        for b in front:
            assert not (b.price_usd < a.price_usd and b.decode_tok_s > a.decode_tok_s)


def test_bundled_example_rejects_the_old_plan():
    path = Path(__file__).parents[1] / "problems/min-hardware-llama3-70b-50toks.yaml"
    ask = HardwareAsk.model_validate(yaml.safe_load(path.read_text()))
    ans = answer(ask)
    assert ans.feasible
    assert f"{ans.chosen.count}x {ans.chosen.device}" != "2x GeForce RTX 4090"
    assert ans.chosen.decode_tok_s >= 50
    two_4090 = [c for c in ans.pareto if c.device_id == "rtx-4090" and c.count == 2]
    assert not two_4090 or two_4090[0].decode_tok_s < 50


def test_cli_min_hardware_json_and_plot(tmp_path):
    svg = tmp_path / "front.svg"
    r = CliRunner().invoke(
        main,
        [
            "min-hardware",
            "--model",
            "Llama 3 8B",
            "--quant",
            "Q4_K_M",
            "--target-decode",
            "60",
            "--from",
            "RTX 4090,RTX 3060",
            "--json",
            "--plot",
            str(svg),
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["feasible"] and d["chosen"]["decode_tok_s"] >= 60
    assert "RTX" in svg.read_text()


def test_cli_hardware_bad_input():
    r = CliRunner().invoke(main, ["recommend", "--model", "Llama 3 8B", "--quant", "Q4_K_M"])
    assert r.exit_code == 2 and "budget" in r.output
    r = CliRunner().invoke(
        main,
        [
            "min-hardware",
            "--model",
            "Llama 3 8B",
            "--quant",
            "Q4_K_M",
            "--target-decode",
            "10",
            "--from",
            "RTX 4099",
        ],
    )
    assert r.exit_code == 2 and "did you mean" in r.output
