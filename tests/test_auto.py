"""AUTO: CP-SAT placement against exhaustive search, solver vs analytic agreement, strategy choice
against evaluating every candidate, EXO as a floor, validity rules."""

import json

import pytest
from click.testing import CliRunner

from optimizer.cli import main
from optimizer.perf.plan import PlanSpec, evaluate_plan
from optimizer.problem import DeviceSpec, Problem, Workload, resolve
from optimizer.solve.auto import auto, auto_resolved
from optimizer.solve.candidates import (
    data_parallel_candidate_names,
    expert_candidate,
    pd_split_candidate,
    tensor_rule,
)
from optimizer.solve.placement import exhaustive_best_decode, exo_layers, solve_placement
from optimizer.solve.strategy import METRICS

SHORT = Workload(prompt_tokens=128, gen_tokens=64)


def brute_force_best_decode(rp):
    return exhaustive_best_decode(rp)


@pytest.mark.parametrize(
    "problem",
    [
        Problem(
            model="Llama 3.2 1B",
            quant="FP16",
            devices=["RTX 4090", "RTX 3060", "M2 Max"],
            link="10GbE",
            workload=SHORT,
        ),
        Problem(model="Llama 3 8B", quant="FP16", devices=["RTX 3060", "RTX 4060 Ti", "RTX 3070"], workload=SHORT),
        Problem(
            model="Llama 3.2 3B",
            quant="Q8_0",
            devices=["RTX 3070", "M1", "RTX 3060"],
            link="1GbE",
            workload=SHORT,
        ),
    ],
    ids=["three-kinds-10gbe", "memory-bound-split", "slow-link"],
)
def test_placement_equals_exhaustive_search(problem):
    rp = resolve(problem)
    pl = solve_placement(rp)
    assert pl.solver.optimal
    a = evaluate_plan(rp.reordered(pl.order), PlanSpec.pipeline(pl.layers))
    assert a.fits
    assert a.system.decode_tok_s == pytest.approx(brute_force_best_decode(rp), rel=1e-3)


@pytest.mark.parametrize(
    "problem",
    [
        Problem(model="Llama 3 70B", quant="Q4_K_M", devices=["2x RTX 3090"]),
        Problem(model="Llama 3.3 70B", quant="Q4_K_M", devices=["M3 Ultra 256GB", "RTX 4090"], link="10GbE"),
        Problem(model="Llama 3 8B", quant="FP16", devices=["RTX 4090", "RTX 3090", "RTX 3060"]),
        Problem(
            model="Qwen3-32B",
            quant="Q4_K_M",
            devices=["RTX 3060", "RTX 3060", "RTX 4060 Ti"],
            workload=Workload(prompt_tokens=4096, gen_tokens=512),
        ),
    ],
)
def test_solver_objective_matches_the_analytic_core(problem):
    rp = resolve(problem)
    pl = solve_placement(rp)
    a = evaluate_plan(rp.reordered(pl.order), PlanSpec.pipeline(pl.layers))
    assert pl.solver.objective_s == pytest.approx(1.0 / a.system.decode_tok_s, rel=0.01)


CASES = [
    Problem(model="Llama 3.3 70B", quant="Q4_K_M", devices=["M3 Ultra 256GB", "RTX 4090"], link="10GbE"),
    Problem(model="Llama 3 70B", quant="FP16", runtime="vLLM", devices=["4x H100 SXM"]),
    Problem(
        model="Qwen3-235B-A22B",
        quant="MLX 8-bit",
        runtime="EXO",
        devices=["4x M3 Ultra 512GB"],
        link="TB5 RDMA",
    ),
    Problem(
        model="Llama 3.1 8B",
        quant="FP16",
        runtime="EXO",
        devices=["DGX Spark", "M3 Ultra 256GB"],
        link="10GbE",
        workload=Workload(prompt_tokens=8192, gen_tokens=64),
    ),
    Problem(model="Qwen3-30B-A3B", quant="FP8", runtime="vLLM", devices=["4x L40S"]),
]


@pytest.mark.parametrize("problem", CASES)
@pytest.mark.parametrize("objective", ["decode", "ttft", "throughput"])
def test_choice_equals_the_best_evaluated_candidate(problem, objective):
    r = auto(problem, objective)
    fitting = [alt for alt in r.alternatives if alt.fits]
    metric = {
        "decode": lambda x: -x.decode_tok_s,
        "ttft": lambda x: x.ttft_s,
        "throughput": lambda x: -x.decode_tok_s_total,
    }[objective]
    best = min(metric(alt) for alt in fitting)
    chosen = next(alt for alt in r.alternatives if alt.strategy == r.chosen)
    assert metric(chosen) == pytest.approx(best, rel=1e-6)


@pytest.mark.parametrize("problem", CASES)
def test_auto_is_never_worse_than_exo(problem):
    r = auto(problem)
    exo = next(alt for alt in r.alternatives if alt.strategy == "exo")
    if exo.fits:
        assert r.analysis.system.decode_tok_s >= exo.decode_tok_s * (1 - 1e-9)
    assert r.vs_exo


@pytest.mark.parametrize(
    ("base", "extra"),
    [(["RTX 3090"], "RTX 3060"), (["M2 Max", "RTX 4090"], "RTX 3060"), (["2x RTX 3090"], "M1")],
)
def test_adding_a_device_never_makes_auto_worse(base, extra):
    p = Problem(model="Llama 3 8B", quant="Q8_0", devices=base, link="10GbE")
    before = auto(p).analysis.system.decode_tok_s
    more = Problem(model=p.model, quant=p.quant, devices=[*p.devices, DeviceSpec(name=extra)], link=p.link)
    after = auto(more).analysis.system.decode_tok_s
    assert after >= before * (1 - 1e-6)


def test_exo_layers_follow_memory_share():
    rp = resolve(Problem(model="Llama 3 70B", quant="Q4_K_M", devices=["M3 Ultra 256GB", "RTX 4090"]))
    assert exo_layers(rp) == [73, 7]  # 80 layers split 256:24 by largest remainder


def test_validity_rules_are_reported():
    rp = resolve(Problem(model="Llama 3 8B", quant="Q4_K_M", devices=["3x RTX 3090"]))
    assert "does not split layers" in tensor_rule(rp, 3)
    rp = resolve(Problem(model="Llama 3 8B", quant="FP16", runtime="vLLM", devices=["3x RTX 3090"]))
    assert "heads do not divide by 3" in tensor_rule(rp, 3)
    rp = resolve(Problem(model="Llama 3 8B", quant="FP16", runtime="EXO", devices=["3x M2 Ultra"]))
    assert "do not divide by 3" in tensor_rule(rp, 3)
    assert tensor_rule(rp, 2) is None  # 32 heads, 8 KV heads, 4096 hidden: all divide by 2
    assert expert_candidate(rp).invalid_reason == "not a mixture-of-experts model"
    assert "two kinds" in pd_split_candidate(rp).invalid_reason
    assert "data x3" in data_parallel_candidate_names(rp)


def test_auto_json_schema():
    r = CliRunner().invoke(
        main,
        [
            "auto",
            "--model",
            "Llama 3 70B",
            "--quant",
            "FP16",
            "--device",
            "4x H100 SXM",
            "--runtime",
            "vLLM",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["chosen"] and d["reasoning"]
    for key in ("strategy", "fits", "decode_tok_s", "prefill_tok_s", "ttft_s", "invalid_reason"):
        assert key in d["alternatives"][0]
    for key in ("device", "layers", "layer_range", "tp_group", "role"):
        assert key in d["placement"][0]
    for key in ("status", "optimal", "wall_s", "gap"):
        assert key in d["solver"]


def test_auto_table_and_analyze_strategy_flag():
    r = CliRunner().invoke(
        main,
        [
            "auto",
            "--model",
            "Llama 3.3 70B",
            "--quant",
            "Q4_K_M",
            "--device",
            "M3 Ultra 256GB",
            "--device",
            "RTX 4090",
            "--link",
            "10GbE",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "[AUTO] Selected:" in r.output and "Why:" in r.output and "Tried:" in r.output
    r = CliRunner().invoke(
        main,
        [
            "analyze",
            "--model",
            "Llama 3 8B",
            "--quant",
            "Q4_K_M",
            "--device",
            "2x RTX 3090",
            "--strategy",
            "tensor",
        ],
    )
    assert r.exit_code == 2 and "not possible" in r.output


def test_metrics_cover_every_objective():
    rp = resolve(CASES[0])
    a = auto_resolved(rp).analysis
    for name, fn in METRICS.items():
        assert fn(a) > 0, name
