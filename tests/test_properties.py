"""Physics invariants, checked over many random problems (hypothesis)."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.resolve import resolver
from optimizer.analyze import analyze_resolved
from optimizer.problem import Problem, Workload, resolve

R = resolver()
DEVICES = [
    "RTX 4090",
    "RTX 3090",
    "H100 SXM",
    "M2 Ultra",
    "M4 Max",
    "RX 7900 XTX",
    "DGX Spark",
    "L40S",
]
MODELS = ["Llama 3 8B", "Qwen3-30B-A3B", "Llama 3.2 3B", "Qwen3-8B", "gpt-oss-20b"]
QUANTS = ["Q4_K_M", "Q8_0", "FP16", "Q4_0", "Q6_K"]

problems = st.builds(
    lambda d, m, q, p, g: Problem(model=m, quant=q, devices=[d], workload=Workload(prompt_tokens=p, gen_tokens=g)),
    st.sampled_from(DEVICES),
    st.sampled_from(MODELS),
    st.sampled_from(QUANTS),
    st.integers(min_value=1, max_value=8192),
    st.integers(min_value=1, max_value=2048),
)


def with_device(rp, **changes):
    inst = rp.devices[0]
    dev = inst.device.model_copy(update=changes)
    return replace(rp, devices=(replace(inst, device=dev),))


@settings(max_examples=40, deadline=None)
@given(problems, st.floats(min_value=1.05, max_value=4.0))
def test_more_bandwidth_never_slows_decode(p, factor):
    rp = resolve(p)
    base = analyze_resolved(rp).system.decode_tok_s
    faster = analyze_resolved(with_device(rp, bandwidth_gb_s=rp.devices[0].device.bandwidth_gb_s * factor))
    assert faster.system.decode_tok_s >= base * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(problems, st.floats(min_value=1.05, max_value=4.0))
def test_more_flops_never_slows_prefill(p, factor):
    rp = resolve(p)
    base = analyze_resolved(rp).system.prefill_tok_s
    tf = rp.devices[0].device.tflops
    scaled = tf.model_copy(update={k: (v * factor if v else v) for k, v in tf.model_dump().items()})
    faster = analyze_resolved(with_device(rp, tflops=scaled))
    assert faster.system.prefill_tok_s >= base * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(problems, st.floats(min_value=1.05, max_value=4.0))
def test_more_bandwidth_never_slows_prefill_without_flash_attention(p, factor):
    """Without flash attention the score matrix goes through DRAM: bandwidth then speeds prefill too."""
    rp = resolve(p.model_copy(update={"flash_attention": False}))
    base = analyze_resolved(rp).system.prefill_tok_s
    faster = analyze_resolved(with_device(rp, bandwidth_gb_s=rp.devices[0].device.bandwidth_gb_s * factor))
    assert faster.system.prefill_tok_s >= base * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(problems)
def test_flash_attention_never_slows_prefill_and_leaves_decode_alone(p):
    fused = analyze_resolved(resolve(p)).system
    unfused = analyze_resolved(resolve(p.model_copy(update={"flash_attention": False}))).system
    assert fused.prefill_tok_s >= unfused.prefill_tok_s * (1 - 1e-9)
    assert fused.decode_tok_s == pytest.approx(unfused.decode_tok_s)


@settings(max_examples=40, deadline=None)
@given(problems, st.floats(min_value=0.5, max_value=8.0))
def test_more_bits_never_speed_decode(p, extra_bits):
    rp = resolve(p)
    base = analyze_resolved(rp).system.decode_tok_s
    q = rp.quant
    heavier = q.model_copy(
        update={
            "bits_per_weight": min(32.0, q.bits_per_weight + extra_bits),
            "embedding_bits": min(32.0, (q.embedding_bits or q.bits_per_weight) + extra_bits),
            "output_bits": min(32.0, (q.output_bits or q.bits_per_weight) + extra_bits),
        }
    )
    assert analyze_resolved(replace(rp, quant=heavier)).system.decode_tok_s <= base * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(problems, st.integers(min_value=1, max_value=32768))
def test_longer_context_never_speeds_decode(p, more):
    rp = resolve(p)
    base = analyze_resolved(rp).system.decode_tok_s
    w = p.workload
    longer = p.model_copy(update={"workload": w.model_copy(update={"prompt_tokens": w.prompt_tokens + more})})
    assert analyze_resolved(resolve(longer)).system.decode_tok_s <= base * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(problems)
def test_memory_parts_sum_to_total(p):
    a = analyze_resolved(resolve(p))
    for d in a.devices:
        parts = d.weights_gb + d.kv_cache_gb + d.activations_gb + d.overhead_gb
        assert abs(parts - d.memory_used_gb) < 0.01
    assert abs(sum(d.memory_used_gb for d in a.devices) - a.system.memory_used_gb) < 0.01


def test_memory_parts_match_hand_computation():
    """Llama 3 8B FP16 on one GPU, 8,192 tokens: weights = 8.03e9 params x 2 bytes; KV = 2 (K, V)
    x 32 layers x 8 KV heads x 128 dims x 2 bytes x 8,192 tokens; both in GiB."""
    a = analyze_resolved(
        resolve(
            Problem(
                model="Llama 3 8B",
                quant="FP16",
                devices=["H100 SXM"],
                workload=Workload(prompt_tokens=8064, gen_tokens=128),
            )
        )
    )
    d = a.devices[0]
    assert d.weights_gb == pytest.approx(8.03e9 * 2 / 2**30, rel=0.01)
    assert d.kv_cache_gb == pytest.approx(2 * 32 * 8 * 128 * 2 * 8192 / 2**30, rel=1e-3)


def test_mla_kv_cache_is_the_latent():
    """DeepSeek V3/R1 MLA: (kv_lora_rank 512 + rope 64) x 61 layers x 2 bytes per token, not per head."""
    a = analyze_resolved(
        resolve(
            Problem(
                model="DeepSeek R1",
                quant="MLX 4-bit",
                devices=["M3 Ultra 512GB"],
                workload=Workload(prompt_tokens=16384 - 128, gen_tokens=128),
            )
        )
    )
    assert a.devices[0].kv_cache_gb == pytest.approx(576 * 61 * 2 * 16384 / 2**30, rel=1e-3)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["1GbE", "10GbE", "25GbE", "100GbE"]), st.sampled_from(["10GbE", "25GbE", "100GbE", "400GbE"]))
def test_faster_link_never_slows_tensor_parallel(slow, fast):
    from optimizer.perf.plan import PlanSpec, StageSpec, evaluate_plan

    def rate(link):
        rp = resolve(Problem(model="Llama 3 8B", quant="FP16", runtime="vLLM", devices=["2x RTX 4090"], link=link))
        spec = PlanSpec("tensor x2", (StageSpec((0, 1), 32),))
        return evaluate_plan(rp, spec).system.decode_tok_s

    r_slow, r_fast = rate(slow), rate(fast)
    bw = {"1GbE": 1, "10GbE": 10, "25GbE": 25, "100GbE": 100, "400GbE": 400}
    if bw[fast] >= bw[slow]:
        assert r_fast >= r_slow * (1 - 1e-9)


@settings(max_examples=30, deadline=None)
@given(problems)
def test_rates_are_positive_and_finite(p):
    s = analyze_resolved(resolve(p)).system
    assert 0 < s.decode_tok_s < 1e6
    assert 0 < s.prefill_tok_s < 1e8
    assert s.ttft_s > 0
