"""Step times on one device: a roofline with fitted efficiencies and fixed per-step costs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from catalog.schema import Device, Dtype, Model, Quant
from optimizer.perf.efficiency import Efficiency, combine_limits, effective_bandwidth_gb_s
from optimizer.perf.workload import (
    FULL,
    Shard,
    Slice,
    active_flops_per_token,
    attention_flops,
    attention_score_elements,
    decode_weight_bytes,
    kv_read_bytes,
    routed_expert_decode_bytes,
    routed_expert_flops_per_token,
    tokens_per_expert,
)

Bound = Literal["memory-bandwidth", "compute", "overhead"]

# Without flash attention (llama.cpp before its -fa default turned to auto, PR #15434 of 2025-08, or -fa 0) each
# layer's attention scores make a round trip through DRAM: the K*Q product writes them in F32 (4
# bytes), the fused scale-mask-softmax reads and writes them (8), and the K*Q*V product reads them
# back, converting to F16 for the tensor cores on the way (4 + 2 + 2): about 20 bytes per score.
# The pass streams at a STREAM-like share of the datasheet bandwidth. Checked on the May 2024
# llama-bench rows of calibration.csv (S01): RTX 4090, Llama 3 8B Q4_K_M, pp8192 spends 108 us more
# per token than pp512; 20 bytes x 32 heads x 32 layers x ~3,840 more keys per token at 0.8 x 1,008
# GB/s is 98 us, the rest being the score FLOPs.
UNFUSED_SCORE_BYTES = 20.0
UNFUSED_SCORE_BW_SHARE = 0.8
DEFAULT_UBATCH = 512  # tokens per prefill micro-batch (llama.cpp's default -ub; Problem.ubatch)


# Where a dtype has no published peak, use the next one that the hardware certainly runs.
_DTYPE_FALLBACK: dict[str, tuple[str, ...]] = {
    "fp4": ("fp4", "fp8", "fp16", "bf16", "fp32"),
    "fp8": ("fp8", "fp16", "bf16", "fp32"),
    "int8": ("int8", "fp16", "bf16", "fp32"),
    "bf16": ("bf16", "fp16", "fp32"),
    "fp16": ("fp16", "bf16", "fp32"),
    "fp32": ("fp32", "fp16", "bf16"),
}


# On GA10x/AD10x/GB20x SMs (Ampere, Ada and Blackwell outside the HBM parts) tensor FP16 with FP16
# accumulate runs at 4x the FP32 rate, FP8 at 8x: RTX 4090 330.3 TFLOPS vs 82.6 FP32 (Ada
# whitepaper), RTX 3090 142 vs 35.6 (GA102 whitepaper), RTX 6000 Ada 364 vs 91.1. The catalog's
# fp16/fp8 columns are the FP32-accumulate rate (shared/reference/SPECS.md, convention 3), which is
# half that on GeForce and on some professional cards too (L40: 181 vs 90.5 FP32; RTX PRO 4000/4500
# Blackwell). ggml's CUDA GEMMs accumulate in FP16; PyTorch-based engines (vLLM, SGLang, TensorRT-LLM)
# accumulate in FP32 and get the datasheet figure.
FP16_ACC_FAMILIES = frozenset({"nvidia-ampere", "nvidia-ada", "nvidia-blackwell"})
FP16_ACC_OVER_FP32: dict[str, float] = {"fp16": 4.0, "fp8": 8.0}  # BF16 always accumulates in FP32
FP16_ACCUMULATE_ENGINES = frozenset({"llama.cpp", "ollama", "lm-studio"})
# Apple M5-generation GPUs have a Neural Accelerator (matrix unit) in each core: FP16 matrix
# multiply-accumulate at 1024 FLOPs per core-cycle against 256 for the FP32 SIMD lanes (tzakharko's
# microbenchmark on the A19, https://tzakharko.github.io/apple-neural-accelerators-benchmark).
# llama.cpp's Metal backend drives them through the Metal 4 tensor API (on by default on M5 since
# PR #16634, Oct 2025). MLX is left at the SIMD rate: an M5 Max MLX prefill row (R07) runs at it.
APPLE_MATRIX_FAMILIES = frozenset({"apple-m5"})
APPLE_MATRIX_OVER_FP32 = 4.0
APPLE_MATRIX_ENGINES = FP16_ACCUMULATE_ENGINES


def peak_tflops(device: Device, dtype: Dtype, engine: str | None = None) -> float:
    """Dense peak for ``dtype`` (falling back to a wider dtype when the sheet has none), at the
    accumulate precision the ``engine`` uses."""
    if (
        dtype in FP16_ACC_OVER_FP32
        and engine in FP16_ACCUMULATE_ENGINES
        and device.family in FP16_ACC_FAMILIES
        and device.tflops.fp32
    ):  # the SM's own rate, also where the sheet gives no tensor figure (A10G)
        return max(device.tflops.get(dtype) or 0.0, FP16_ACC_OVER_FP32[dtype] * device.tflops.fp32)  # type: ignore[arg-type]
    if (
        dtype == "fp16"
        and engine in APPLE_MATRIX_ENGINES
        and device.family in APPLE_MATRIX_FAMILIES
        and device.tflops.fp32
    ):
        return APPLE_MATRIX_OVER_FP32 * device.tflops.fp32
    for d in _DTYPE_FALLBACK[dtype]:
        v = device.tflops.get(d)  # type: ignore[arg-type]
        if v:
            return v
    raise ValueError(f"{device.name} has no throughput figure")


def matmul_dtype(quant: Quant, engine: str | None = None) -> Dtype:
    """The dtype ``quant``'s matmuls run at under ``engine``. llama.cpp-family engines run block-quantized
    weights through their own kernels (MMQ's int8 dot products, or dequantization to FP16 for cuBLAS), so a
    BF16 compute dtype meant for PyTorch engines (MXFP4's, whose vLLM kernels take BF16 activations) is FP16
    there; BF16 weights stay BF16."""
    if engine in FP16_ACCUMULATE_ENGINES and quant.compute_dtype == "bf16" and quant.kernel != "fp":
        return "fp16"
    return quant.compute_dtype


def quant_peak_tflops(device: Device, quant: Quant, engine: str | None = None) -> float:
    """Dense peak at the dtype ``quant``'s matmuls run at under ``engine`` (:func:`matmul_dtype`)."""
    return peak_tflops(device, matmul_dtype(quant, engine), engine)


def power_cap_fraction(device: Device, eff: Efficiency, engine: str | None = None) -> float | None:
    """Share of the FP16-class tensor peak the board's rated power sustains (None: no fitted limit).
    The same share applies to other dtypes (an FP8 FLOP costs about half the energy of an FP16 one)."""
    if eff.power_tflops is None:
        return None
    return eff.power_tflops / peak_tflops(device, "fp16", engine)


# Under a power limit the GPU lowers its clock and, with it, its voltage: dynamic power goes as
# f x V^2, and over the DVFS range V rises with f, so power goes about as f^2 and the throughput a
# power budget sustains as its square root, not in proportion (which would hold at fixed voltage).
POWER_CLOCK_EXPONENT = 0.5


def power_bounded_share(kernel_share: float, power_share: float) -> float:
    """Share of peak sustained when the kernels reach ``kernel_share`` at full clocks and the board's
    power sustains ``power_share`` at those clocks: a smooth minimum, below the knee falling with the
    square root of the power budget (POWER_CLOCK_EXPONENT). Shared by the fit and the predictions."""
    b = POWER_CLOCK_EXPONENT
    return combine_limits(kernel_share, kernel_share ** (1 - b) * power_share**b)


def sustained_tflops(device: Device, dtype: Dtype, eff: Efficiency, engine: str | None = None) -> float:
    """Matmul TFLOPS a kernel sustains: the peak at ``eff.compute_eff``, bounded (smoothly) by what
    the board's rated power sustains."""
    peak = peak_tflops(device, dtype, engine)
    cap = power_cap_fraction(device, eff, engine)
    return peak * (eff.compute_eff if cap is None else power_bounded_share(eff.compute_eff, cap))


def power_limit_applies(device: Device, eff: Efficiency, engine: str | None = None) -> bool:
    """True when the board's rated power, not the kernels, is the tighter bound on tensor throughput."""
    cap = power_cap_fraction(device, eff, engine)
    return cap is not None and cap < eff.compute_eff


@dataclass(frozen=True)
class StepTime:
    memory_s: float
    compute_s: float
    overhead_s: float
    # the part of memory_s the decode attention kernels take when their FLOPs, not their cache
    # reads, bound them (absorbed MLA at long context): it runs in series with the weight streaming
    attention_flops_s: float = 0.0

    @property
    def total_s(self) -> float:
        return max(self.memory_s, self.compute_s) + self.overhead_s

    @property
    def bound(self) -> Bound:
        busy = max(self.memory_s, self.compute_s)
        if self.overhead_s > busy:
            return "overhead"
        if self.memory_s < self.compute_s or self.attention_flops_s > self.memory_s - self.attention_flops_s:
            return "compute"
        return "memory-bandwidth"


def decode_step(
    device: Device,
    eff: Efficiency,
    model: Model,
    quant: Quant,
    s: Slice,
    context: float,
    batch: int,
    kv_bytes: float,
    engine: str | None = None,
    shard: Shard = FULL,
) -> StepTime:
    """One decode step of ``batch`` sequences, each with ``context`` tokens already cached, for the
    ``shard`` of slice ``s`` one device holds."""
    bytes_read = decode_weight_bytes(model, quant, s, batch, shard)
    if eff.expert_read_factor:  # gathered expert matvecs stream at their own rate
        bytes_read += (eff.expert_read_factor - 1.0) * routed_expert_decode_bytes(model, quant, s, batch, shard)
    bw = effective_bandwidth_gb_s(device, eff, batch) * 1e9
    peak = sustained_tflops(device, matmul_dtype(quant, engine), eff, engine) * 1e12
    matmul = batch * active_flops_per_token(model, s, shard)
    attn_flops = batch * shard.attention * shard.tokens * attention_flops(model, s, 1, int(context), absorbed=True)
    kv_s = batch * shard.kv * kv_read_bytes(model, s, context, kv_bytes) / bw
    attention_s = decode_attention_s(kv_s, attn_flops / peak, eff)
    overhead = s.layers * eff.decode_layer_overhead_s(model) + eff.token_overhead_s
    compute = matmul / peak + attn_flops / (peak * eff.attention_eff)
    return StepTime(
        memory_s=bytes_read / bw + attention_s,
        compute_s=compute,
        overhead_s=overhead,
        attention_flops_s=attention_s if attention_s > kv_s / eff.kv_eff else 0.0,
    )


def decode_attention_s(kv_s: float, attention_flops_s: float, eff: Efficiency) -> float:
    """Seconds of the decode attention kernels, which run after the weight matvecs and so add to the
    streaming time: the larger of their KV-cache reads (at kv_eff of the weights' streaming rate,
    fitted per runtime) and their FLOPs (at attention_eff of the sustained rate; it binds for
    absorbed MLA, whose heads all score one shared latent cache). ``kv_s`` and ``attention_flops_s``
    are the times at the weights' bandwidth and the sustained matmul rate."""
    return max(kv_s / eff.kv_eff, attention_flops_s / eff.attention_eff)


def prefill_chunk(
    device: Device,
    eff: Efficiency,
    model: Model,
    quant: Quant,
    s: Slice,
    tokens: int,
    past: int,
    kv_bytes: float,
    engine: str | None = None,
    shard: Shard = FULL,
    flash_attention: bool = True,
    ubatch: int = DEFAULT_UBATCH,
) -> StepTime:
    """Process ``tokens`` prompt tokens after ``past`` cached ones, in micro-batches of ``ubatch``.
    Without flash attention the score matrix's DRAM round trip adds to the attention time."""
    matmul = tokens * active_flops_per_token(model, s, shard)
    attn = shard.attention * shard.tokens * attention_flops(model, s, tokens, past)
    bytes_read = (
        decode_weight_bytes(model, quant, s, max(1, tokens), shard)
        + shard.kv * kv_read_bytes(model, s, past + tokens, kv_bytes) / eff.kv_eff
    )
    bw = device.bandwidth_gb_s * 1e9 * eff.bw_eff
    peak = sustained_tflops(device, matmul_dtype(quant, engine), eff, engine) * 1e12
    compute = matmul / peak + attn / (peak * eff.attention_eff)
    if eff.moe_half_tokens:  # an expert's GEMM has few rows: it runs at rows / (rows + half) of the rate
        compute += eff.moe_half_tokens * expert_row_s(model, s, tokens, ubatch, peak, shard)
    if not flash_attention:
        compute += unfused_score_s(device, model, s, tokens, past, ubatch, shard)
    return StepTime(memory_s=bytes_read / bw, compute_s=compute, overhead_s=s.layers * eff.prefill_layer_overhead_s)


def expert_row_s(model: Model, s: Slice, tokens: int, ubatch: int, peak: float, shard: Shard = FULL) -> float:
    """Routed-expert seconds at ``peak`` FLOP/s divided by the rows of each expert's GEMM: times the
    rows at which experts run at half rate, the time few rows add (0 for a dense model)."""
    routed = tokens * routed_expert_flops_per_token(model, s, shard)
    return routed / peak / tokens_per_expert(model, min(tokens, ubatch)) if routed else 0.0


def unfused_score_s(
    device: Device, model: Model, s: Slice, tokens: int, past: int, ubatch: int, shard: Shard = FULL
) -> float:
    """Seconds the attention scores of ``tokens`` new tokens spend going through DRAM when the
    runtime does not fuse attention (no flash attention)."""
    scores = shard.attention * shard.tokens * attention_score_elements(model, s, tokens, past, ubatch)
    return scores * UNFUSED_SCORE_BYTES / (device.bandwidth_gb_s * 1e9 * UNFUSED_SCORE_BW_SHARE)
