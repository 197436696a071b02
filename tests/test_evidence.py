"""Evidence beside predictions: the benchmark index, uncertainty bands, nearest measurements."""

import csv
from pathlib import Path

import pytest

from optimizer.problem import Workload

ROOT = Path(__file__).parents[1]


def test_benchmark_index_is_current():
    """The committed index equals a fresh resolution of the benchmark files
    (rebuild with `python benchmarks/build_evidence.py`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_evidence", ROOT / "benchmarks/build_evidence.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fresh = [{k: str(v) for k, v in r.items()} for r in mod.index_rows()]
    with (ROOT / "catalog/data/benchmarks_index.csv").open() as f:
        committed = list(csv.DictReader(f))
    assert len(committed) == len(fresh)
    assert [r["row_id"] for r in committed] == [r["row_id"] for r in fresh]
    assert [r["device_id"] + r["model_id"] + r["quant_id"] for r in committed] == [
        r["device_id"] + r["model_id"] + r["quant_id"] for r in fresh
    ]


def test_known_setup_shows_its_measurements(run):
    a = run(
        model="Llama 3 8B",
        quant="Q4_K_M",
        runtime="llama.cpp (CUDA)",
        devices=["RTX 4090"],
        workload=Workload(prompt_tokens=512, gen_tokens=512),
    )
    decode = [m for m in a.benchmarks if m.metric == "decode_tok_s"]
    assert decode and decode[0].source_id.startswith("S01")
    assert decode[0].measured == pytest.approx(130.58)
    assert abs(decode[0].error) < 0.2


@pytest.mark.parametrize("metric", ["decode_tok_s", "prefill_tok_s", "ttft_s"])
def test_band_contains_the_prediction(run, metric):
    a = run(model="Qwen3-30B-A3B", quant="MLX 4-bit", devices=["M4 Max 128GB"])
    b = a.uncertainty[metric]
    value = getattr(a.system, metric)
    assert b.low <= value <= b.high
    assert b.basis


def test_unseen_setup_has_a_band_but_no_benchmarks(run):
    a = run(model="Llama 3.1 8B", quant="Q6_K", devices=["RX 7900 XT"])
    assert a.benchmarks == []
    assert a.uncertainty["decode_tok_s"].high > a.system.decode_tok_s


def test_a_benchmark_is_predicted_with_the_settings_it_ran_with(run):
    """S01 ran llama-bench in May 2024, without flash attention: beside a default (flash attention
    on) analysis, its pp512 row is predicted as it ran, not as the user's setup would run."""
    from optimizer.analyze import analyze
    from optimizer.problem import Problem

    setup = dict(model="Llama 3 8B", quant="Q4_K_M", runtime="llama.cpp-cuda", devices=["RTX 4090"])
    a = run(**setup, workload=Workload(prompt_tokens=512, gen_tokens=128))
    row = next(m for m in a.benchmarks if m.metric == "prefill_tok_s" and m.prompt_tokens == 512)
    assert row.source_id == "S01_XIONGJIE" and row.flash_attention is False
    as_ran = analyze(Problem(**setup, flash_attention=False, workload=Workload(prompt_tokens=512, gen_tokens=1)))
    assert row.predicted == pytest.approx(as_ran.system.prefill_tok_s, rel=1e-3)
    assert row.predicted < a.system.prefill_tok_s
