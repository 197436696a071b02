"""Behaviours real users know, reproduced by AUTO, and AUTO >= EXO on random heterogeneous clusters."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.problem import DeviceSpec, Problem, ProblemError, Workload, resolve
from optimizer.solve.auto import auto
from optimizer.solve.candidates import exo_candidate
from optimizer.solve.placement import SolverSettings

FAST = SolverSettings(time_limit_s=2.0, workers=2)


def test_model_that_fits_one_gpu_stays_on_one_gpu_for_latency():
    """llama.cpp: one GPU, since a layer split only adds a hop at batch 1. vLLM: tensor parallel
    over PCIe buys little (the all-reduces eat most of the halved weight read), and says so."""
    r = auto(Problem(model="Llama 3 8B", quant="Q4_K_M", devices=["2x RTX 4090"]))
    assert r.chosen == "single device"
    assert "alone" in r.reasoning
    r = auto(Problem(model="Llama 3 8B", quant="Q4_K_M", devices=["2x RTX 4090"], runtime="vLLM"))
    single = next(a for a in r.alternatives if a.strategy == "single device")
    assert r.analysis.system.decode_tok_s < 1.3 * single.decode_tok_s
    if r.chosen.startswith("tensor"):
        assert "all-reduces" in r.reasoning


def test_same_pair_chooses_replicas_or_tp_for_throughput():
    p = Problem(model="Llama 3 8B", quant="FP16", devices=["2x RTX 4090"], runtime="vLLM", workload=Workload(batch=16))
    r = auto(p, "throughput")
    assert r.chosen.startswith(("data", "tensor"))
    one_gpu = auto(
        Problem(model="Llama 3 8B", quant="FP16", devices=["RTX 4090"], runtime="vLLM", workload=Workload(batch=16)),
        "throughput",
    )
    assert r.analysis.system.decode_tok_s_total > 1.1 * one_gpu.analysis.system.decode_tok_s_total
    assert "tok/s total" in r.reasoning


MOE_4X = dict(
    model="Qwen3-235B-A22B",
    quant="MLX 8-bit",
    runtime="EXO",
    devices=["4x M3 Ultra 512GB"],
    workload=Workload(prompt_tokens=128, gen_tokens=256),
)


def test_tp_wins_on_rdma_with_a_realistic_speedup():
    """Jeff Geerling's 4x M3 Ultra (EXO 1.0, RDMA) measured 1.3-1.6x over one node for 235B-1T MoE
    models; EXO claims up to 3.2x on 4 devices. The prediction must sit in that range."""
    r = auto(Problem(**MOE_4X, link="TB5 RDMA"))
    assert r.chosen.startswith("tensor")
    one = auto(Problem(**{**MOE_4X, "devices": ["M3 Ultra 512GB"]})).analysis.system.decode_tok_s
    speedup = r.analysis.system.decode_tok_s / one
    assert 1.2 <= speedup <= 3.2


def test_tp_gains_little_or_loses_over_tcp_ethernet():
    r = auto(Problem(**MOE_4X, link="10GbE"))
    one = auto(Problem(**{**MOE_4X, "devices": ["M3 Ultra 512GB"]})).analysis.system.decode_tok_s
    tp = next(a for a in r.alternatives if a.strategy.startswith("tensor x4"))
    assert tp.decode_tok_s < 1.2 * one


def test_dgx_spark_plus_m3_ultra_split_reproduces_exo():
    """EXO (Oct 2025, secondary per-phase table in shared/reference/exo.md 4.3): Llama 3.1 8B FP16,
    8,192-token prompt, Spark prefill + M3 Ultra decode over 10 GbE: 2.8x end to end vs the M3 Ultra
    alone. The generated length is not stated; 32 tokens here. The two prefill rates are in the fit
    (benchmarks_public.csv P34), so this checks the split's mechanics, not out-of-sample accuracy."""
    w = Workload(prompt_tokens=8192, gen_tokens=32)
    r = auto(
        Problem(
            model="Llama 3.1 8B",
            quant="FP16",
            runtime="EXO",
            devices=["DGX Spark", "M3 Ultra 256GB"],
            link="10GbE",
            workload=w,
        ),
        "latency",
    )
    assert r.chosen == "pd-split"
    alone = auto(Problem(model="Llama 3.1 8B", quant="FP16", runtime="EXO", devices=["M3 Ultra 256GB"], workload=w))
    speedup = alone.analysis.system.request_latency_s / r.analysis.system.request_latency_s
    assert speedup == pytest.approx(2.8, rel=0.30)


DEVICES = [
    "RTX 4090",
    "RTX 3090",
    "RTX 3060",
    "RTX 4060 Ti",
    "M2 Max",
    "M1 Pro",
    "M4 Pro",
    "RX 7900 XTX",
    "A4000",
    "M3 Ultra 256GB",
    "DGX Spark",
    "Arc A770 16GB",
]
LINKS = [None, "10GbE", "1GbE", "TB5", "PCIe 4.0 x16"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(DEVICES), min_size=2, max_size=4),
    st.sampled_from(["Llama 3 8B", "Qwen3-14B", "Llama 3.2 3B", "Qwen3-30B-A3B"]),
    st.sampled_from(["Q4_K_M", "Q8_0", "FP16"]),
    st.sampled_from(LINKS),
)
def test_auto_is_never_worse_than_exo_on_random_clusters(devices, model, quant, link):
    p = Problem(
        model=model,
        quant=quant,
        devices=[DeviceSpec(name=d) for d in devices],
        link=link,
        workload=Workload(prompt_tokens=256, gen_tokens=64),
    )
    try:
        r = auto(p, settings=FAST)
    except ProblemError:  # nothing can hold the model: EXO cannot either
        assert exo_candidate(resolve(p)).spec is None
        return
    exo = next(a for a in r.alternatives if a.strategy == "exo")
    if exo.fits:
        assert r.analysis.fits
        assert r.analysis.system.decode_tok_s >= exo.decode_tok_s * (1 - 1e-6)


def test_auto_strictly_beats_exo_when_memory_share_differs_from_bandwidth_share():
    """A big-memory, low-bandwidth Mac beside a fast GPU: EXO splits by memory, AUTO by speed."""
    r = auto(Problem(model="Llama 3 70B", quant="Q4_K_M", devices=["M2 Max", "RTX 4090", "RTX 3090"], link="10GbE"))
    exo = next(a for a in r.alternatives if a.strategy == "exo")
    assert r.analysis.system.decode_tok_s > 1.05 * exo.decode_tok_s
    assert "EXO" in r.vs_exo
