"""Accuracy against the built-in benchmark database, the fitted SM bandwidth limit, and how
measurements that do not describe a comparable setup are kept out of the comparison."""

import pandas as pd
import pytest

from catalog.loader import load_catalog
from optimizer.measurements import MappedRow, Rejected, map_row
from optimizer.perf import efficiency
from optimizer.problem import Workload
from optimizer.validate import builtin_measurements, validate

CAT = load_catalog()


@pytest.fixture(scope="module")
def report():
    return validate(builtin_measurements())


def test_in_sample_accuracy_holds(report):
    """The committed constants on the rows they were fitted on and the held-out public rows
    (tolerances: the README's in-sample figures with about one point of slack)."""
    s = report.summary
    assert s.decode.n >= 700 and s.prefill.n >= 500
    assert s.decode_batch1.median_ape <= 0.095 and s.decode_batch1.within_30pct >= 0.92
    assert s.decode.median_ape <= 0.10 and s.decode.within_30pct >= 0.90
    assert s.prefill.median_ape <= 0.16
    assert s.multi_device.median_ape <= 0.135


def test_held_out_rows_are_scored_but_never_fitted(report):
    """benchmarks_holdout.csv came after the last fit: validate predicts its rows, the fit skips them."""
    from pathlib import Path

    from optimizer.calibrate import observations
    from optimizer.measurements import HOLDOUT_STEM

    mapped = [
        m for m in (map_row(r) for r in builtin_measurements().to_dict(orient="records")) if isinstance(m, MappedRow)
    ]
    held = [m for m in mapped if m.held_out]
    assert len(held) >= 40 and all(m.row_id.startswith(f"{HOLDOUT_STEM}:") for m in held)
    assert not any(o.row.held_out for o in observations(mapped))
    scored = [r for r in report.rows if r.row_id.startswith(f"{HOLDOUT_STEM}:") and r.ape is not None]
    assert len(scored) == len([m for m in held if not m.flagged])
    assert sum(g.n for g in report.summary.never_fitted.values()) == len(scored)  # validate's own summary
    used = pd.read_csv(Path(__file__).parents[1] / "benchmarks" / "fit_rows_used.csv")
    assert not used.row_id.str.startswith(f"{HOLDOUT_STEM}:").any()


def test_every_nvidia_gpu_has_its_sm_count():
    nvidia = [d for d in CAT.devices.values() if d.vendor == "NVIDIA"]
    assert nvidia and all(d.sm_count for d in nvidia)
    assert CAT.devices["h100-sxm"].sm_count == 132 and CAT.devices["rtx-4090"].sm_count == 128


def test_fitted_sm_limit_is_physical():
    """llama.cpp's batch-1 kernels draw a few bytes per SM cycle; the fitted limit must lie between
    what GeForce cards visibly exceed and what HBM cards visibly miss."""
    per_cycle = efficiency.fitted_metadata()["sm_bandwidth_gb_s"]["llama.cpp-cuda"]
    # a 4090 streams 88% of 1,008 GB/s from 128 SMs at 2.52 GHz: 2.75 bytes per SM cycle, not SM-bound
    assert per_cycle > 4.0
    # an H100 PCIe offers 2,000 GB/s to 114 SMs at 1.755 GHz (10.0 per cycle) and reaches about half
    assert per_cycle < 9.0


def test_sm_clock_comes_from_the_fp32_peak_and_the_lanes_per_sm():
    """NVIDIA quotes FP32 peak = 2 x SMs x FP32 lanes x boost clock (architecture whitepapers)."""
    assert efficiency.sm_ghz(CAT.devices["a100-80gb-sxm"]) / 108 == pytest.approx(1.41, abs=0.01)
    assert efficiency.sm_ghz(CAT.devices["h100-pcie"]) / 114 == pytest.approx(1.755, abs=0.01)
    assert efficiency.sm_ghz(CAT.devices["rtx-4090"]) / 128 == pytest.approx(2.52, abs=0.01)
    assert efficiency.sm_ghz(CAT.devices["quadro-rtx-6000"]) / 72 == pytest.approx(1.77, abs=0.01)
    # GP100 (P100) has 64 FP32 lanes per SM where GP102 (P40) has 128; GV100 (V100) 64
    assert efficiency.sm_ghz(CAT.devices["tesla-p100-pcie-16gb"]) / 56 == pytest.approx(1.30, abs=0.01)
    assert efficiency.sm_ghz(CAT.devices["tesla-v100-pcie-16gb"]) / 80 == pytest.approx(1.37, abs=0.01)
    assert efficiency.sm_ghz(CAT.devices["tesla-p40"]) / 30 == pytest.approx(1.53, abs=0.01)
    assert efficiency.sm_ghz(CAT.devices["m3-max-30c"]) is None


def _bw(runtime: str, device: str, quant: str = "q4_k_m") -> float:
    rt, dev = CAT.runtimes[runtime], CAT.devices[device]
    return efficiency.effective_bandwidth_gb_s(dev, efficiency.lookup(rt, dev, CAT.quants[quant]))


def test_sm_limit_binds_on_hbm_under_llama_cpp_only():
    # an H100 SXM's 3.35 TB/s cannot be drawn by 132 SMs running llama.cpp's matrix-vector kernels
    assert _bw("llama.cpp-cuda", "h100-sxm") < 0.6 * CAT.devices["h100-sxm"].bandwidth_gb_s
    # a GeForce card is DRAM-bound: its SMs are not the limit
    limit = efficiency.lookup(CAT.runtimes["llama.cpp-cuda"], CAT.devices["rtx-4090"], CAT.quants["q4_k_m"])
    assert _bw("llama.cpp-cuda", "rtx-4090") > 0.97 * CAT.devices["rtx-4090"].bandwidth_gb_s * limit.bw_eff
    # the limit is never borrowed by an engine with kernels of its own
    assert efficiency.lookup(CAT.runtimes["vllm"], CAT.devices["h100-sxm"], CAT.quants["fp8"]).sm_bw_gb_s is None


def test_more_sms_or_clock_never_slow_decode_and_enough_leave_dram_as_the_limit():
    dev = CAT.devices["a100-80gb-sxm"]
    rt, q = CAT.runtimes["llama.cpp-cuda"], CAT.quants["q4_k_m"]
    rates = []
    for scale in (0.5, 1, 2, 4, 100):  # SMs (or clock) x scale: the FP32 peak scales with them
        tflops = dev.tflops.model_copy(update={"fp32": dev.tflops.fp32 * scale})
        d = dev.model_copy(update={"sm_count": max(1, round(dev.sm_count * scale)), "tflops": tflops})
        rates.append(efficiency.effective_bandwidth_gb_s(d, efficiency.lookup(rt, d, q)))
    assert rates == sorted(rates) and rates[0] < 0.6 * rates[-1]
    dram = dev.bandwidth_gb_s * efficiency.lookup(rt, dev, q).bw_eff
    assert rates[-1] == pytest.approx(dram, rel=0.01)


def test_the_sm_limit_applies_to_matrix_vector_decode_only(run):
    """Fitted on batch-1 decode; from 9 sequences llama.cpp runs matrix-matrix kernels."""
    small = run(model="Llama 3 8B", quant="Q4_K_M", devices=["H100 SXM"], runtime="llama.cpp")
    big = run(
        model="Llama 3 8B",
        quant="Q4_K_M",
        devices=["H100 SXM"],
        runtime="llama.cpp",
        workload={"batch": 16, "gen_tokens": 128},
    )
    assert "SMs" in small.system.bottleneck_detail and "SMs" not in big.system.bottleneck_detail


def _row(**kw) -> dict:
    base = {
        "row_id": "t:1",
        "source_id": "T",
        "device": "RTX PRO 6000 Blackwell",
        "device_count": 1,
        "model": "Llama 2 7B",
        "quant": "Q4_0",
        "backend": "llama.cpp (CUDA)",
        "batch": 1,
        "prompt_tokens": 0,
        "gen_tokens": 128,
        "metric": "decode_tok_s",
        "value": 250.0,
        "notes": "",
        "source_locator": "",
    }
    return {**base, **kw}


def test_a_run_under_a_reduced_power_limit_is_not_compared():
    r = map_row(_row(notes="board power limit 300 W (section heading)"))
    assert isinstance(r, Rejected) and "300 W power limit" in r.reason
    assert isinstance(map_row(_row(notes="board power limit 600 W")), MappedRow)


def test_decode_after_a_long_prompt_of_unstated_length_is_not_compared():
    r = map_row(_row(prompt_tokens=None, gen_tokens=None, notes="decode after a long prompt: printed as '21K'"))
    assert isinstance(r, Rejected) and "long prompt" in r.reason
    assert isinstance(map_row(_row(prompt_tokens=None, gen_tokens=None)), MappedRow)


def test_rejected_rows_are_listed_with_reasons():
    df = pd.DataFrame([_row(notes="power limit 200 W"), _row()])
    rows = validate(df).rows
    assert [r.status for r in rows] == ["not-comparable", "ok"]
    assert "power limit" in rows[0].reason and rows[0].predicted is None


def test_the_bottleneck_says_when_the_sms_limit_bandwidth(run):
    h100 = run(model="Llama 3 8B", quant="Q4_K_M", devices=["H100 SXM"], runtime="llama.cpp")
    assert h100.system.bottleneck == "memory-bandwidth" and "SMs" in h100.system.bottleneck_detail
    rtx = run(model="Llama 3 8B", quant="Q4_K_M", devices=["RTX 4090"], runtime="llama.cpp")
    assert rtx.system.bottleneck == "memory-bandwidth" and "SMs" not in rtx.system.bottleneck_detail


def test_a_held_out_family_is_predicted_from_the_others(run):
    """Refit without any DGX Spark (GB10) row, then predict gpt-oss-20b MXFP4 on it with llama.cpp:
    ggml-org benches/dgx-spark.md (S02) measured tg32 at 84.1 tok/s. MXFP4 under llama.cpp CUDA is
    otherwise seen in two Ollama rows, which must not set its efficiency on their own."""
    from optimizer.calibrate import fit
    from optimizer.problem import Workload

    rows = [map_row(r) for r in builtin_measurements().to_dict(orient="records")]
    constants = fit([m for m in rows if isinstance(m, MappedRow) and m.device_family != "nvidia-gb10"])
    with efficiency.using_constants(constants):
        a = run(
            model="gpt-oss-20b",
            quant="MXFP4",
            runtime="llama.cpp",
            devices=["DGX Spark"],
            workload=Workload(prompt_tokens=0, gen_tokens=32),
        )
    assert a.system.decode_tok_s == pytest.approx(84.1, rel=0.30)


def test_cross_validation_from_the_cli(tmp_path):
    """`mlba validate --cv` on a small file: each source held out in turn, the batch-1 summary in
    both the table and the JSON."""
    import json

    from click.testing import CliRunner

    from optimizer.cli import main

    df = builtin_measurements()
    small = df[df["source_id"].isin(["P36_LLMTRACKER_RTXPRO6000_WS", "P17_MLC_LLM"])]
    f = tmp_path / "small.csv"
    small.to_csv(f, index=False)
    r = CliRunner().invoke(main, ["validate", "--measurements", str(f), "--cv", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert {c["scheme"] for c in data["cv"]} == {"leave-one-source-out", "leave-one-family-out"}
    assert data["summary"]["decode_batch1"]["n"] >= 1
    table = CliRunner().invoke(main, ["validate", "--measurements", str(f), "--cv"])
    assert table.exit_code == 0 and "batch 1:" in table.output


def test_hop_costs_inside_a_box_are_kept_per_backend():
    """A GPU-to-GPU hand-off is a peer copy under CUDA and staged through the host under Vulkan, so
    dual-GPU Vulkan rows cannot set CUDA's hop cost; Ollama on NVIDIA is llama.cpp CUDA and gets
    its cost; between boxes the network stack dominates and the key is the engine's."""
    rts, gpu = CAT.runtimes, CAT.devices["rtx-4090"]
    fitted = {**efficiency.fitted_metadata(), "groups": {}, "hop_overhead_us": {"llama.cpp-cuda|local": 123.0}}
    with efficiency.using_constants(fitted):
        assert efficiency.hop_overhead_s(rts["ollama"], "pcie", gpu) == pytest.approx(123e-6)
        assert efficiency.hop_overhead_s(rts["llama.cpp-cuda"], "pcie", gpu) == pytest.approx(123e-6)
        vulkan = efficiency.hop_overhead_s(rts["llama.cpp-vulkan"], "pcie", gpu)
        assert vulkan == pytest.approx(efficiency.HOP_PRIOR_US["local"] * 1e-6)
    assert efficiency.hop_key(rts["llama.cpp-cuda"], "ethernet", gpu) == efficiency.hop_key(
        rts["llama.cpp-vulkan"], "ethernet", gpu
    )


@pytest.mark.parametrize(
    ("device", "llama_cpp", "vllm"),
    [
        ("rtx-4090", 330.3, 165.2),  # GeForce: FP32 accumulate at half the FP16-accumulate rate
        ("l40", 362.0, 181.05),  # so is the L40 (181 dense FP16 on the sheet, 90.5 FP32)
        ("rtx-pro-4000", 187.6, 93.8),  # and the RTX PRO 4000 Blackwell
        ("rtx-6000-ada", 364.2, 364.2),  # full-rate FP32 accumulate: both figures coincide
        ("h100-sxm", 989.0, 989.0),  # not a GA10x/AD10x/GB20x SM: the sheet's figure for everyone
        ("a10g", 126.1, 31.52),  # no tensor figure on the sheet: the SM's FP16-accumulate rate still holds
    ],
)
def test_fp16_accumulate_peak_is_four_times_fp32_on_ga10x_ad10x_gb20x(device, llama_cpp, vllm):
    """ggml's CUDA GEMMs accumulate in FP16, which these SMs run at 4x their FP32 rate."""
    from optimizer.perf.roofline import peak_tflops

    dev = CAT.devices[device]
    assert peak_tflops(dev, "fp16", "llama.cpp") == pytest.approx(llama_cpp, rel=0.01)
    assert peak_tflops(dev, "fp16", "vllm") == pytest.approx(vllm, rel=0.01)
    # BF16 tensor instructions accumulate in FP32 only: the sheet's rate for every engine
    assert peak_tflops(dev, "bf16", "llama.cpp") == peak_tflops(dev, "bf16", "vllm")


def test_the_max_q_name_resolves_to_the_300_w_card():
    from catalog.resolve import resolver

    assert resolver().device("NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition").entry.tdp_w == 300
    assert resolver().device("RTX PRO 6000").entry.tdp_w == 600


def test_fitted_power_limit_is_physical():
    """llama.cpp prefill on boards with a high FP16 peak per rated watt (RTX 6000 Ada 1.2, H100 PCIe
    2.2 TFLOPS/W) falls short of what the same kernels reach on a 4090 (0.73): the board's power
    limit binds. The fitted sustained rate must lie between those ratios."""
    per_watt = efficiency.fitted_metadata()["tflops_per_watt"]["llama.cpp-cuda"]
    assert 0.25 < per_watt < 0.73


def _prefill_tflops(runtime: str, device: str, tdp_w: float | None = None) -> float:
    from optimizer.perf.roofline import sustained_tflops

    rt, dev = CAT.runtimes[runtime], CAT.devices[device]
    if tdp_w is not None:
        dev = dev.model_copy(update={"tdp_w": tdp_w})
    return sustained_tflops(dev, "fp16", efficiency.lookup(rt, dev, CAT.quants["q4_0"]), rt.engine)


def test_power_limit_binds_on_dense_low_power_boards_under_llama_cpp_only():
    from optimizer.perf.roofline import power_limit_applies

    # Q4_0: the kernel that, in the 2025 builds measured, keeps the tensor cores busiest
    rt, q = CAT.runtimes["llama.cpp-cuda"], CAT.quants["q4_0"]
    for device, binds in (("rtx-6000-ada", True), ("h100-pcie", True), ("rtx-3060-12gb", False)):
        dev = CAT.devices[device]
        assert power_limit_applies(dev, efficiency.lookup(rt, dev, q), rt.engine) is binds, device
    # the same AD102 chip at 450 W outruns its 300 W professional sibling despite fewer SMs
    assert _prefill_tflops("llama.cpp-cuda", "rtx-4090") > _prefill_tflops("llama.cpp-cuda", "rtx-6000-ada")
    # an engine with its own kernels and no NVIDIA prefill data of its own does not borrow the limit
    assert efficiency.lookup(CAT.runtimes["vllm"], CAT.devices["h100-pcie"], CAT.quants["fp8"]).power_tflops is None


def test_more_power_never_slows_prefill_and_enough_leaves_the_kernels_as_the_limit():
    rates = [_prefill_tflops("llama.cpp-cuda", "rtx-6000-ada", w) for w in (75, 150, 300, 600, 100_000)]
    assert rates == sorted(rates) and rates[0] < 0.5 * rates[-1]
    dev = CAT.devices["rtx-6000-ada"]
    eff = efficiency.lookup(CAT.runtimes["llama.cpp-cuda"], dev, CAT.quants["q4_0"])
    assert rates[-1] == pytest.approx(364.2 * eff.compute_eff, rel=0.01)


def test_power_limit_follows_a_measured_power_sweep_it_was_not_fitted_on():
    """P36 ran llama-bench pp512 (Llama 2 7B Q4_0) on one RTX PRO 6000 at board limits of 600 down to
    200 W. The reduced-limit rows are kept out of the fit (they are not the catalog's card), so they
    test the physics: prefill relative to 600 W, predicted from TDP x the fitted TFLOPS per watt,
    below the knee falling with the square root of the power budget (lower clocks run at lower
    voltage). Measured: 0.55 of the 600 W rate at 200 W; a linear model predicted 0.44 (-20%)."""
    from optimizer.measurements import power_limit_w
    from optimizer.perf.roofline import sustained_tflops

    df = builtin_measurements()
    sweep = df[
        (df.source_id == "P36_LLMTRACKER_RTXPRO6000_WS") & (df.metric == "prefill_tok_s") & (df.model == "Llama 2 7B")
    ]
    measured = {int(power_limit_w(n)): float(v) for n, v in zip(sweep.notes, sweep.value, strict=True)}
    assert sorted(measured) == [200, 250, 300, 350, 400, 450, 500, 600]
    rt, dev, q = CAT.runtimes["llama.cpp-cuda"], CAT.devices["rtx-pro-6000"], CAT.quants["q4_0"]

    def tflops(watts: int) -> float:
        d = dev.model_copy(update={"tdp_w": float(watts)})
        return sustained_tflops(d, "fp16", efficiency.lookup(rt, d, q), rt.engine)

    predicted = [tflops(w) / tflops(600) for w in sorted(measured)]
    observed = [measured[w] / measured[600] for w in sorted(measured)]
    assert predicted == sorted(predicted)
    for w, p, o in zip(sorted(measured), predicted, observed, strict=True):
        assert p / o - 1 == pytest.approx(0, abs=0.16), w


@pytest.mark.parametrize(
    ("text", "watts"),
    [
        ("llama-bench pp512; board power limit 300 W (section heading; 600 W is the card's rated TBP)", 300),
        ("power-limited to 250W for the run", 250),
        ("ran with a 280 W power cap", 280),
        ("sudo nvidia-smi -pl 320 before the bench", 320),
        ("power limit: 450 W, then power limit 350 W", 350),  # several limits: the lowest counts
        ("600 W card at stock settings", None),
        ("-fa 1 -ngl 99 -p 512", None),
    ],
)
def test_power_limit_is_read_in_the_forms_publishers_write_it(text, watts):
    from optimizer.measurements import power_limit_w

    assert power_limit_w(text) == watts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TensorRT-LLM PyTorch workflow (TP8, EP2, MTP num_nextn_predict_layers=3)", True),
        ("SGLang with EAGLE-3 speculative decoding, 3 draft tokens", True),
        ("vLLM with a draft model (Llama 3.2 1B)", True),
        ("llama-server timings after a 731-token prompt (baseline, no MTP)", False),
        ("prompt_n 731 (no speculative decoding, baseline mode)", False),
        ("EXO (single node, no drafter); target-only median", False),
        ("Rapid-MLX (MLX), baseline (non-DFlash) rate", False),
        ("launch --tp 8 with no MTP/speculative flags", False),
        ("llama-bench tg128, -fa 1", False),
        ("SGLang --speculative-algorithm EAGLE3, accept length 2.6", True),
        ("ds4 with DFlash drafting", True),
        ("3 draft tokens per step", True),
        ("MTP disabled for this run", False),
        ("TensorRT-LLM, num_nextn_predict_layers=0", False),
        ("speculative decoding off", False),
        ("EAGLE-3 run: 70 tok/s; second run (no speculative decoding): 45 tok/s", True),
    ],
)
def test_speculative_decoding_is_recognised_unless_the_row_denies_it(text, expected):
    from optimizer.measurements import speculative

    assert speculative(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("llama-bench pp512; llama-bench, fa 1, mmap 0, ngl 99", True),
        ("flags: fa=1; pre-production Framework Desktop", True),
        ("llama-bench pp512 (llama-2-7b.Q4_0.gguf, -ngl 99 -fa 0), single GPU", False),
        ('scoreboard entry "RTX 5090", pp512, flash attention off', False),
        ("build 2f68ce7cf (6918); ngl 99, n_ubatch 2048, flash-attn on, mmap off", True),
        ("LM Studio (llama.cpp Metal engine, with flash attention)", True),
        ("FA-off tg128/pp512 values", False),
        ("DeepSeek-V4-Flash-IQ2XXS imatrix GGUF", None),  # a model name, not the setting
        ("table 'Recorded Flash Q2 baseline'", None),
        ("llama-bench pp512; ngl 99", None),
    ],
)
def test_flash_attention_is_read_in_the_forms_publishers_write_it(text, expected):
    from optimizer.measurements import stated_flash_attention

    assert stated_flash_attention(text) is expected


def test_unstated_flash_attention_follows_llama_cpp_default_at_the_build_date():
    """llama.cpp turned -fa on by default in 2025-08 (PR #15434): S01 (May 2024) and S13 (2023) ran
    without it, S02 states it on, a user's file of unknown date gets today's default, and engines
    that always fuse attention are on."""
    from optimizer.measurements import row_flash_attention

    assert row_flash_attention("llama-bench pp 512", "llama.cpp", "S01_XIONGJIE") is False
    assert row_flash_attention("llama-bench pp512", "llama.cpp", "S13_LLAMACPP_4167_SECONDARY") is False
    assert row_flash_attention("n_ubatch 2048, flash-attn on", "llama.cpp", "S02_LLAMACPP_DGXSPARK") is True
    assert row_flash_attention("llama-bench pp512", "llama.cpp", "MY_OWN_RUNS") is True
    assert row_flash_attention("-fa 0", "llama.cpp", "MY_OWN_RUNS") is False
    assert row_flash_attention("vLLM 0.6", "vllm", "S01_XIONGJIE") is True


def test_prefill_without_flash_attention_falls_with_prompt_length_as_measured(run):
    """S01 (llama-bench of May 2024, -fa off by default), RTX 4090, Llama 3 8B Q4_K_M: pp512 7,138.99
    and pp8192 4,039.68 tok/s, a 1.77x fall. The score matrix's DRAM round trip predicts that fall
    within 15%; with flash attention the fall is much smaller."""
    measured = 7138.99 / 4039.68

    def fall(flash: bool) -> float:
        rates = [
            run(
                model="Llama 3 8B",
                quant="Q4_K_M",
                devices=["RTX 4090"],
                flash_attention=flash,
                workload=Workload(prompt_tokens=n, gen_tokens=1),
            ).system.prefill_tok_s
            for n in (512, 8192)
        ]
        return rates[0] / rates[1]

    assert fall(False) == pytest.approx(measured, rel=0.15)
    assert fall(True) < 1 + (measured - 1) / 2


def test_speculative_decode_rows_are_listed_as_not_comparable():
    """A decode rate from MTP/EAGLE verifies several tokens per step; a one-token-per-step model must
    not be scored against it (P39: DeepSeek-R1 min-latency runs on 8x B200 and 8x H200)."""
    from optimizer.validate import builtin_measurements, validate

    report = validate(builtin_measurements(), source="P39_TRTLLM_DSR1_MINLAT_DOC")
    assert report.rows and all(r.status == "not-comparable" and "speculative" in r.reason for r in report.rows)


def test_vllm_and_sglang_borrow_each_others_collective_cost_but_not_tensorrt_llm():
    """SGLang's custom all-reduce is adapted from vLLM's: with no fitted cost of its own, one engine
    uses the other's (same backend, same link class); an own fitted value wins; TensorRT-LLM keeps
    the prior."""
    h100 = CAT.devices["h100-sxm"]

    def cost(runtime: str) -> float:
        return efficiency.collective_overhead_s(CAT.runtimes[runtime], "nvlink", h100) * 1e6

    with efficiency.using_constants({"collective_overhead_us": {"sglang-cuda|local": 44.0}}):
        assert cost("vllm") == pytest.approx(44.0) and cost("sglang") == pytest.approx(44.0)
        assert cost("tensorrt-llm") == pytest.approx(efficiency.COLLECTIVE_PRIOR_US["local"])
    with efficiency.using_constants({"collective_overhead_us": {"sglang-cuda|local": 44.0, "vllm-cuda|local": 30.0}}):
        assert cost("vllm") == pytest.approx(30.0)


def _with_overheads(**extra_us: float) -> dict:
    """The committed constants with ``extra_us`` added to every group's fixed costs (microseconds)."""
    constants = efficiency.fitted_constants()
    for g in constants["groups"].values():
        for key, us in extra_us.items():
            g[key] = g.get(key, 0.0) + us
    return constants


def test_a_pipeline_pays_the_per_token_cost_once_not_once_per_stage(run):
    """Graph launch, sampling and synchronisation run once per token; a later stage adds only its
    layers and the hand-off. One more millisecond of per-token cost slows a four-GPU pipeline by one
    millisecond per token, not four."""
    setup = dict(
        model="llama-3-70b", quant="q4_k_m", runtime="llama.cpp-cuda", devices=[{"name": "rtx-4090", "count": 4}]
    )
    base = 1.0 / run(**setup, strategy="pipeline").system.decode_tok_s
    with efficiency.using_constants(_with_overheads(token_overhead_us=1000.0)):
        slower = 1.0 / run(**setup, strategy="pipeline").system.decode_tok_s
    assert slower - base == pytest.approx(1e-3, rel=0.02)


def _with_moe_half_tokens(rows: float) -> dict:
    constants = efficiency.fitted_constants()
    constants["moe_prefill_half_tokens"] = {"llama.cpp-cuda": rows}
    return constants


def test_expert_gemms_with_few_rows_slow_moe_prefill_by_the_stated_share(run):
    """Qwen3-30B-A3B routes a 512-token micro-batch to 8 of 128 experts: 32 rows per expert GEMM.
    With the half-rate point at 32 rows its routed-expert FLOPs take twice as long; a dense model's
    prefill does not move."""
    from catalog.resolve import resolver
    from optimizer.perf.workload import active_flops_per_token, routed_expert_flops_per_token, whole_model

    moe = dict(model="Qwen3-30B-A3B", quant="Q4_K_M", runtime="llama.cpp-cuda", devices=["RTX 4090"])
    dense = dict(model="Llama 3 8B", quant="Q4_K_M", runtime="llama.cpp-cuda", devices=["RTX 4090"])
    w = Workload(prompt_tokens=512, gen_tokens=1)

    def prefill_s(setup: dict, rows: float) -> float:
        with efficiency.using_constants(_with_moe_half_tokens(rows)):
            return 512 / run(**setup, workload=w).system.prefill_tok_s

    m = resolver().model("Qwen3-30B-A3B").entry
    assert 512 * m.moe.active_experts / m.moe.experts == 32
    fast, slow = prefill_s(moe, 1e-6), prefill_s(moe, 32.0)
    routed_share = routed_expert_flops_per_token(m, whole_model(m)) / active_flops_per_token(m, whole_model(m))
    # the routed experts' share of the matmul time doubles (attention and overheads do not move)
    assert slow / fast == pytest.approx(1 + routed_share, rel=0.15)
    assert prefill_s(dense, 32.0) == pytest.approx(prefill_s(dense, 1e-6))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("build 2f68ce7cf (6918); ngl 99, n_ubatch 2048, flash-attn on, mmap off", 2048),
        ("llama-bench tg256; ngl 63, n_batch 4096, n_ubatch 1024, fa 1", 1024),
        ("llama-server -ub 256 -b 2048", 256),
        ("llama-bench pp512; fa 1, ngl 99", None),
    ],
)
def test_prefill_micro_batch_is_read_from_the_row(text, expected):
    from optimizer.measurements import stated_ubatch

    assert stated_ubatch(text) == expected


def test_a_larger_micro_batch_feeds_expert_gemms_more_rows(run):
    """Four times the micro-batch gives each expert GEMM four times the rows: an MoE prefills faster
    (S02 runs llama-bench with -ub 2048), a dense model with flash attention the same up to the
    per-chunk cost."""
    w = Workload(prompt_tokens=4096, gen_tokens=1)

    def rate(model: str, ubatch: int) -> float:
        with efficiency.using_constants(_with_moe_half_tokens(64.0)):
            return run(
                model=model, quant="Q4_K_M", devices=["DGX Spark"], ubatch=ubatch, workload=w
            ).system.prefill_tok_s

    assert rate("Qwen3-30B-A3B", 2048) > 1.3 * rate("Qwen3-30B-A3B", 512)
    assert rate("Llama 3 8B", 2048) == pytest.approx(rate("Llama 3 8B", 512), rel=0.05)


def test_llama_cpp_runs_mxfp4_matmuls_at_the_fp16_rate_and_pytorch_engines_at_bf16():
    """ggml runs block-quantized weights through its own kernels (MMQ int8, or dequantization to FP16),
    so MXFP4's BF16 compute dtype (vLLM's kernels take BF16 activations) is FP16 under llama.cpp: on an
    RTX 4090 that is 4x the FP32 rate (330 TFLOPS) against BF16's FP32-accumulate 165. BF16 weights stay BF16."""
    from catalog.resolve import resolver
    from optimizer.perf.roofline import matmul_dtype, peak_tflops

    r = resolver()
    mxfp4, bf16 = r.quant("MXFP4"), r.quant("BF16")
    assert matmul_dtype(mxfp4, "llama.cpp") == "fp16"
    assert matmul_dtype(mxfp4, "vllm") == "bf16"
    assert matmul_dtype(bf16, "llama.cpp") == "bf16"
    rtx4090 = r.device("RTX 4090").entry
    assert peak_tflops(rtx4090, matmul_dtype(mxfp4, "llama.cpp"), "llama.cpp") == pytest.approx(
        2 * peak_tflops(rtx4090, matmul_dtype(mxfp4, "vllm"), "vllm"), rel=0.02
    )


def test_gathered_expert_reads_slow_moe_decode_by_the_routed_experts_bytes():
    """At batch 1 a gathered expert matvec that takes twice as long per byte adds the time of the
    routed experts' bytes once more, and nothing else: Qwen3-30B-A3B (8 of 128 experts in 48
    layers, about 60% of its active bytes) slows down; a dense model's decode does not move."""
    from dataclasses import replace

    from catalog.resolve import resolver
    from optimizer.perf.roofline import decode_step
    from optimizer.perf.workload import decode_weight_bytes, routed_expert_decode_bytes, whole_model

    r = resolver()
    dev, q, rt = r.device("RTX 4090").entry, r.quant("Q4_K_M"), r.runtime("llama.cpp-cuda")
    eff = efficiency.lookup(rt, dev, q)

    def memory_s(model: str, factor: float | None) -> float:
        m = r.model(model).entry
        return decode_step(dev, replace(eff, expert_read_factor=factor), m, q, whole_model(m), 512, 1, 2.0).memory_s

    m = r.model("Qwen3-30B-A3B").entry
    expert = routed_expert_decode_bytes(m, q, whole_model(m))
    assert 0.55 < expert / decode_weight_bytes(m, q, whole_model(m)) < 0.65  # 1.8B of 3.3B active parameters
    bw = efficiency.effective_bandwidth_gb_s(dev, eff, 1) * 1e9
    assert memory_s("Qwen3-30B-A3B", 2.0) - memory_s("Qwen3-30B-A3B", None) == pytest.approx(expert / bw)
    assert memory_s("Llama 3 8B", 2.0) == memory_s("Llama 3 8B", None)


def test_moe_decode_factor_is_fitted_only_where_moe_rows_span_three_device_families():
    """Each family has its own efficiency factor, so where a runtime's MoE rows sit on one or two
    families those factors can stand in for an MoE one (llama.cpp CUDA, MoE rows mostly on the DGX
    Spark): the factor is fitted only from MoE decode rows on three families. MLX, with MoE rows on
    M3, M4 and M5 chips, runs its gathered experts slower per byte than its dense matvecs."""
    factors = efficiency.fitted_metadata()["moe_decode_read_factor"]
    assert 1.2 < factors["mlx-metal"] < 3.0
    assert "llama.cpp-cuda" not in factors and "llama.cpp-metal" not in factors


def test_absorbed_mla_decode_scores_the_latent_cache_and_its_flops_set_the_long_context_slope(run):
    """Runtimes decode MLA in absorbed form: each of DeepSeek V3's 128 heads scores the 512 + 64 dim
    latent and sums 512 dim values, 3.4x the expanded form's FLOPs per key, on one shared cache of
    only 1,152 bytes per token and layer, so the attention kernels are compute-bound. P19 (mlx-lm PR
    #839, after the absorbed-MLA change, M3 Ultra): 20.647 tok/s at 4k context, 16.772 at 16k, 11.2 ms
    more per token. The attention FLOPs predict that slope within 25%."""
    from catalog.resolve import resolver
    from optimizer.perf.workload import attention_flops, whole_model

    m = resolver().model("DeepSeek V3").entry
    s = whole_model(m)
    per_key = 2.0 * m.heads * m.layers
    assert attention_flops(m, s, 1, 10_000, absorbed=True) / per_key / 10_000 == pytest.approx(2 * 512 + 64, rel=1e-3)
    assert attention_flops(m, s, 1, 10_000) / per_key / 10_000 == pytest.approx(192 + 128, rel=1e-3)

    def step_s(context: int) -> float:
        a = run(
            model="DeepSeek V3",
            quant="mlx-4bit",
            devices=["m3-ultra-80c:512"],
            runtime="mlx",
            workload=Workload(prompt_tokens=context, gen_tokens=1),
        )
        return 1.0 / a.system.decode_tok_s

    measured = 1 / 16.772 - 1 / 20.647
    assert step_s(16384) - step_s(4096) == pytest.approx(measured, rel=0.25)


def test_decode_attention_is_the_larger_of_its_cache_reads_and_its_flops():
    """A GQA model's decode attention reads far more bytes than its FLOPs can use (Llama 3 8B: 8
    FLOPs per byte of fp16 cache), so its time is the cache reads at kv_eff; MLA's is its FLOPs."""
    from catalog.resolve import resolver
    from optimizer.perf.roofline import decode_attention_s, decode_step
    from optimizer.perf.workload import decode_weight_bytes, kv_read_bytes, whole_model

    r = resolver()
    dev, q, rt = r.device("RTX 4090").entry, r.quant("Q4_K_M"), r.runtime("llama.cpp-cuda")
    eff = efficiency.lookup(rt, dev, q)
    bw = efficiency.effective_bandwidth_gb_s(dev, eff, 1) * 1e9
    m = r.model("Llama 3 8B").entry
    s = whole_model(m)
    step = decode_step(dev, eff, m, q, s, 8192, 1, 2.0)
    kv_s = kv_read_bytes(m, s, 8192, 2.0) / bw
    assert step.memory_s == pytest.approx(decode_weight_bytes(m, q, s, 1) / bw + kv_s / eff.kv_eff)
    assert decode_attention_s(kv_s, 1e-9, eff) == pytest.approx(kv_s / eff.kv_eff)
    assert decode_attention_s(1e-9, 1.0, eff) == pytest.approx(1.0 / eff.attention_eff)


def test_linear_attention_layers_cost_their_own_fixed_time_where_hybrid_rows_span_three_families():
    """A Gated DeltaNet layer decodes through more, smaller kernels (projections, conv, gating,
    recurrence) than an attention layer. Under MLX, hybrid Qwen3.5/3.6 rows on M2, M3, M4 and M5
    chips show it, so MLX gets a fitted cost per linear-attention layer; llama.cpp, whose hybrid rows
    sit on one or two families, does not. A dense model's decode does not move."""
    from dataclasses import replace

    from catalog.resolve import resolver
    from optimizer.perf.roofline import decode_step
    from optimizer.perf.workload import whole_model

    fitted = efficiency.fitted_metadata()["linear_layer_overhead_us"]
    assert 5.0 < fitted["mlx-metal"] < 500.0
    assert "llama.cpp-cuda" not in fitted and "llama.cpp-metal" not in fitted

    r = resolver()
    dev, q, rt = r.device("M4 Max").entry, r.quant("MLX 4-bit"), r.runtime("mlx")
    eff = efficiency.lookup(rt, dev, q)
    assert eff.linear_layer_overhead_s == pytest.approx(fitted["mlx-metal"] * 1e-6)

    def overhead_s(model: str, linear_s: float) -> float:
        m = r.model(model).entry
        return decode_step(
            dev, replace(eff, linear_layer_overhead_s=linear_s), m, q, whole_model(m), 512, 1, 2.0
        ).overhead_s

    hybrid = r.model("Qwen3.6-35B-A3B").entry
    assert overhead_s("Qwen3.6-35B-A3B", 1e-4) - overhead_s("Qwen3.6-35B-A3B", 0.0) == pytest.approx(
        hybrid.attention.linear_attention_layers * 1e-4
    )
    assert overhead_s("Llama 3 8B", 1e-4) == overhead_s("Llama 3 8B", 0.0)


def test_m5_matrix_units_quadruple_the_fp16_matmul_peak_under_llama_cpp_only():
    """Each M5 GPU core has a Neural Accelerator doing 1024 FP16 matrix FLOPs per cycle against 256
    for its SIMD lanes; llama.cpp's Metal tensor API uses them, so its M5 prefill peak is 4x the FP32
    sheet. MLX (an M5 Max row at the SIMD rate), FP32 and an M4 Max stay as they were."""
    from catalog.resolve import resolver
    from optimizer.perf.roofline import peak_tflops

    r = resolver()
    m5, m4 = r.device("M5 Max").entry, r.device("M4 Max").entry
    assert peak_tflops(m5, "fp16", "llama.cpp") == pytest.approx(4 * m5.tflops.fp32)
    assert peak_tflops(m5, "fp16", "mlx") == pytest.approx(m5.tflops.fp32)
    assert peak_tflops(m5, "fp32", "llama.cpp") == pytest.approx(m5.tflops.fp32)
    assert peak_tflops(m4, "fp16", "llama.cpp") == peak_tflops(m4, "fp16", "mlx")


def test_flop_bound_mla_attention_is_reported_as_compute_at_long_context(run):
    """Absorbed-MLA attention is FLOP-bound and runs in series with the weight streaming: at 4k of
    context DeepSeek V3 on an M3 Ultra is memory-bound, at 120k its attention FLOPs take over the
    step, and the bottleneck says so (the rates do not depend on the label)."""

    def analysis(prompt: int):
        return run(
            model="DeepSeek V3",
            quant="mlx-4bit",
            devices=["m3-ultra-80c:512"],
            runtime="mlx",
            workload=Workload(prompt_tokens=prompt, gen_tokens=1, context=131072),
        )

    short, long = analysis(4096), analysis(120_000)
    assert short.system.bottleneck == "memory-bandwidth" and short.devices[0].bottleneck == "memory-bandwidth"
    assert long.system.bottleneck == "compute" and long.devices[0].bottleneck == "compute"
    assert "attention FLOPs" in long.system.bottleneck_detail


def test_tensor_parallel_splits_attention_flops_by_heads_even_where_the_cache_is_replicated():
    """Under tensor parallel each rank computes 1/t of the query heads. MLA's latent cache (and GQA's
    KV heads beyond their count) is replicated on every rank, so each rank reads all of it, but its
    attention FLOPs are still 1/t: DeepSeek V3 on 8 ranks at 120k of context pays the larger of the
    whole latent's reads and an eighth of the FLOPs."""
    from catalog.resolve import resolver
    from optimizer.perf.roofline import decode_step
    from optimizer.perf.workload import (
        Shard,
        decode_weight_bytes,
        kv_read_bytes,
        routed_expert_decode_bytes,
        whole_model,
    )

    assert Shard(dense=1 / 8, experts=1 / 8, kv=1.0).attention == 1 / 8
    assert Shard(kv=1 / 4).attention == 1 / 4  # context parallel decode: a quarter of the keys

    r = resolver()
    dev, q, rt = r.device("m3-ultra-80c:512").entry, r.quant("mlx-4bit"), r.runtime("mlx")
    eff = efficiency.lookup(rt, dev, q)
    m = r.model("DeepSeek V3").entry
    s, ctx, tp = whole_model(m), 120_000, Shard(dense=1 / 8, experts=1 / 8, kv=1.0)
    full = decode_step(dev, eff, m, q, s, ctx, 1, 2.0)
    assert full.attention_flops_s > 0  # FLOP-bound on one device
    bw = efficiency.effective_bandwidth_gb_s(dev, eff, 1) * 1e9
    weights = decode_weight_bytes(m, q, s, 1, tp) + (eff.expert_read_factor - 1.0) * routed_expert_decode_bytes(
        m, q, s, 1, tp
    )
    attention = max(kv_read_bytes(m, s, ctx, 2.0) / bw / eff.kv_eff, full.attention_flops_s / 8)
    assert decode_step(dev, eff, m, q, s, ctx, 1, 2.0, shard=tp).memory_s == pytest.approx(weights / bw + attention)
