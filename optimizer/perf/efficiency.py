"""Fitted efficiencies: the one place calibration constants live.

The constants are the output of ``benchmarks/fit_efficiency.py`` and are stored beside this module in
``fitted_efficiency.json`` together with the rows they were fitted on. A group is keyed by
``runtime key | device family | quant kernel``; lookups fall back from the most specific group to
broader ones, and finally to :data:`PHYSICS_PRIOR`, so an unseen device still gets an answer from
its datasheet.

Model (per device, per token step):
    decode_s  = bytes_read / effective_bandwidth + attention_s + layers * layer_overhead_s
                + linear-attention layers * linear_layer_overhead_s + token_overhead_s
                (linear_layer_overhead_s fitted per runtime with hybrid-model rows on three device families)
    bytes_read = dense weights + routed-expert weights * expert_read_factor; expert_read_factor is
                fitted per runtime on MoE decode rows (gathered expert matvecs)
    attention_s = the larger of KV cache / (effective_bandwidth * kv_eff) and attention FLOPs (MLA
                absorbed) / (sustained * attention_eff): its kernels run after the matvecs
    effective_bandwidth = the lower of bandwidth * bw_eff (DRAM) and SM count * clock * sm_bw (what
                the SMs can keep in flight: Little's law, fitted per runtime), joined smoothly
    prefill_s = matmul_flops / sustained + attention_flops / (sustained * attention_eff)
                + routed_expert_flops / sustained * moe_half_tokens / tokens_per_expert
                + chunks * layers * prefill_layer_overhead_s
    sustained = the lower of peak * compute_eff and TDP * TFLOPS per watt at full clocks (fitted per
                runtime; below it the rate falls with the square root of the power budget), joined
                smoothly (roofline.sustained_tflops)
    tokens_per_expert = ubatch * top-k / experts (the rows of one expert's GEMM); moe_half_tokens is
                fitted per runtime on MoE prefill rows
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources

from catalog.schema import Device, Model, Quant, Runtime

# Family fallbacks: when a family has no fitted group, borrow from the closest one measured.
FAMILY_FALLBACK: dict[str, str] = {
    "nvidia-pascal": "nvidia-turing",
    "nvidia-pascal-hbm": "nvidia-volta",
    "nvidia-volta": "nvidia-ampere-hbm",
    "nvidia-turing": "nvidia-ampere",
    "nvidia-blackwell": "nvidia-ada",
    "nvidia-blackwell-hbm": "nvidia-hopper",
    "nvidia-ampere-hbm": "nvidia-hopper",
    "nvidia-jetson": "nvidia-gb10",
    "apple-m5": "apple-m4",
    "amd-rdna4": "amd-rdna3",
    "amd-rdna3.5": "amd-rdna3",
    "amd-cdna2": "amd-cdna3",
    "intel-arc-battlemage": "intel-arc-alchemist",
}

# Runtime fallbacks: an engine with no data borrows the closest engine's constants.
RUNTIME_FALLBACK: dict[str, str] = {
    "sglang-cuda": "vllm-cuda",
    "tensorrt-llm-cuda": "vllm-cuda",
    "vllm-rocm": "vllm-cuda",
    "mlc-cuda": "llama.cpp-cuda",
    "mlc-metal": "mlx-metal",
    "llama.cpp-vulkan": "llama.cpp-cuda",
    "llama.cpp-rocm": "llama.cpp-cuda",
    "llama.cpp-sycl": "llama.cpp-vulkan",
    "vllm-cuda": "llama.cpp-cuda",
    "mlx-metal": "llama.cpp-metal",
    "mlx-cuda": "llama.cpp-cuda",
}

ENGINE_ALIASES = {"exo": "mlx", "ollama": "llama.cpp", "lm-studio": "llama.cpp"}

# Serving engines replay each decode step as a captured CUDA graph, so they do not pay llama.cpp's
# per-kernel launch costs. When such an engine borrows another runtime's fitted efficiencies (it has
# no rows of its own), it keeps the borrowed bandwidth and compute efficiencies but these per-step
# costs instead (modelling assumptions, checked against the NIM TP2 rows of benchmarks_public P09).
GRAPH_ENGINE_OVERHEAD_US = {"layer": 5.0, "token": 500.0}
GRAPH_ENGINES = frozenset({"vllm", "sglang", "tensorrt-llm"})


@dataclass(frozen=True)
class Efficiency:
    """Fractions of datasheet peaks a runtime achieves, and fixed per-step costs."""

    bw_eff: float
    compute_eff: float
    layer_overhead_s: float
    token_overhead_s: float
    prefill_layer_overhead_s: float
    attention_eff: float  # attention kernels run at this fraction of compute_eff
    hop_overhead_s: float  # runtime cost of handing activations to the next pipeline stage
    kv_eff: float  # KV-cache reads run at this fraction of the weights' bandwidth efficiency
    collective_overhead_s: float  # fixed runtime cost of one all-reduce / all-to-all call
    group: str  # which fitted group supplied the numbers
    exact: bool  # True when the group matched runtime, family and kernel
    sm_bw_gb_s: float | None = None  # DRAM bandwidth all the SMs sustain with this runtime (None: no limit)
    power_tflops: float | None = None  # FP16-class TFLOPS the board's power limit sustains (None: no limit)
    # prefill: rows (tokens) per expert GEMM at which routed experts run at half the dense rate (None: no loss)
    moe_half_tokens: float | None = None
    # decode: time per byte of routed-expert weights over that of dense weights (gathered expert
    # matvecs: llama.cpp's mul_mat_id, MLX's gather_qmm; None: the same)
    expert_read_factor: float | None = None
    # decode: the extra fixed cost of a linear-attention layer (Gated DeltaNet, Mamba: their conv,
    # gating and recurrence run as more, smaller kernels than an attention layer's), per layer. One
    # value per runtime: the fit scales it by each row's family and source overhead factors like the
    # other fixed costs, but predictions use it as is (those factors stay near 1 under MLX)
    linear_layer_overhead_s: float = 0.0

    def decode_layer_overhead_s(self, model: Model) -> float:
        """Fixed decode cost per layer of ``model``, averaged over its attention and linear-attention layers."""
        linear = model.attention.linear_attention_layers / model.layers
        return self.layer_overhead_s + linear * self.linear_layer_overhead_s


# Used only when no group at all matches: datasheet physics with typical losses. Documented in
# the README; the validation report shows how far such answers are from measurements.
PHYSICS_PRIOR = Efficiency(
    bw_eff=0.70,
    compute_eff=0.45,
    layer_overhead_s=15e-6,
    token_overhead_s=1.0e-3,
    prefill_layer_overhead_s=50e-6,
    attention_eff=0.5,
    hop_overhead_s=0.0,  # per-hop cost now depends on the link class: see hop_overhead_s()
    kv_eff=1.0,
    collective_overhead_s=20e-6,
    group="physics-prior",
    exact=False,
)


@cache
def _committed() -> dict:
    text = resources.files("optimizer.perf").joinpath("fitted_efficiency.json").read_text("utf-8")
    return json.loads(text)


_OVERRIDE: list[dict] = []


def _fitted() -> dict:
    return _OVERRIDE[-1] if _OVERRIDE else _committed()


@contextmanager
def using_constants(constants: dict) -> Iterator[None]:
    """Evaluate with other fitted constants (cross-validation refits), then restore."""
    _OVERRIDE.append(constants)
    try:
        yield
    finally:
        _OVERRIDE.pop()


def runtime_key(runtime: Runtime, device: Device) -> str:
    engine = ENGINE_ALIASES.get(runtime.engine, runtime.engine)
    backend = runtime.backend
    if backend == "metal" and device.vendor != "Apple":
        backend = "any"  # e.g. EXO's MLX runs with its CUDA backend on NVIDIA nodes
    if backend == "any":
        backend = {"Apple": "metal", "NVIDIA": "cuda", "AMD": "rocm"}.get(device.vendor, "vulkan")
        if device.kind == "cpu":
            backend = "cpu"
    return f"{engine}-{backend}"


def memory_class(device: Device) -> str:
    """HBM, GDDR or LPDDR (unified memory): families of one class behave alike (bus width, clocks,
    latency), so an unmeasured family borrows its class's fitted factors before the global ones."""
    t = device.memory_type.upper()
    if "HBM" in t:
        return "hbm"
    if "GDDR" in t:
        return "gddr"
    if "LPDDR" in t or device.kind in ("apple_soc", "apu"):
        return "lpddr"
    return "ddr"


def _per_runtime(name: str, runtime: Runtime, device: Device) -> float | None:
    """A constant fitted for exactly this runtime key (never borrowed: it describes the runtime's own
    kernels), or None."""
    return _fitted().get(name, {}).get(runtime_key(runtime, device))


def _chain(first: str, fallback: dict[str, str]) -> list[str]:
    out = [first]
    while out[-1] in fallback and fallback[out[-1]] not in out:
        out.append(fallback[out[-1]])
    return out


def lookup(runtime: Runtime, device: Device, quant: Quant) -> Efficiency:
    """The most specific fitted efficiency for this runtime, device family and quant kernel."""
    groups: dict[str, dict] = _fitted()["groups"]
    rkeys = _chain(runtime_key(runtime, device), RUNTIME_FALLBACK)
    fams = _chain(device.family, FAMILY_FALLBACK)
    candidates: list[str] = []
    cls = f"class:{memory_class(device)}"
    for rk in rkeys:
        for fam in fams:
            candidates += [f"{rk}|{fam}|{quant.kernel}", f"{rk}|{fam}|*"]
        candidates += [f"{rk}|{cls}|{quant.kernel}", f"{rk}|{cls}|*", f"{rk}|*|{quant.kernel}", f"{rk}|*|*"]
    for i, key in enumerate(candidates):
        rk = key.split("|", 1)[0]
        g = groups.get(key)
        if g is None:
            continue
        kernel_factor = 1.0
        if key.endswith("|*"):
            kernel_factor = _fitted().get("kernel_factors", {}).get(quant.kernel, 1.0)
        layer_us, token_us = g["layer_overhead_us"], g["token_overhead_us"]
        borrowed = rk != rkeys[0]
        if borrowed and ENGINE_ALIASES.get(runtime.engine, runtime.engine) in GRAPH_ENGINES:
            layer_us, token_us = GRAPH_ENGINE_OVERHEAD_US["layer"], GRAPH_ENGINE_OVERHEAD_US["token"]
        return Efficiency(
            bw_eff=min(0.98, g["bw_eff"] * kernel_factor),
            compute_eff=g["compute_eff"],
            layer_overhead_s=layer_us * 1e-6,
            token_overhead_s=token_us * 1e-6,
            prefill_layer_overhead_s=g.get("prefill_layer_overhead_us", 50.0) * 1e-6,
            attention_eff=g.get("attention_eff", PHYSICS_PRIOR.attention_eff),
            kv_eff=g.get("kv_eff", PHYSICS_PRIOR.kv_eff),
            collective_overhead_s=0.0,  # by link class: see collective_overhead_s()
            hop_overhead_s=0.0,
            group=key,
            exact=i == 0,
            sm_bw_gb_s=sm_bandwidth_gb_s(runtime, device),
            power_tflops=power_limited_tflops(runtime, device),
            moe_half_tokens=_per_runtime("moe_prefill_half_tokens", runtime, device),
            expert_read_factor=_per_runtime("moe_decode_read_factor", runtime, device),
            linear_layer_overhead_s=(_per_runtime("linear_layer_overhead_us", runtime, device) or 0.0) * 1e-6,
        )
    return PHYSICS_PRIOR


# How sharply a hardware limit (the SMs' loads in flight, the board's power) takes over from the
# kernel's own rate: a p-norm of the two times (p = 6: within 1% of the harder limit when the two
# differ by 2x; 12% slower where they are equal).
LIMIT_SHARPNESS = 6.0


def combine_limits(rate: float, limit: float | None) -> float:
    """The rate sustained when a hardware limit also bounds it (a smooth minimum; None: no limit).
    Serves bandwidth against the SMs' loads in flight and tensor throughput against rated power."""
    if limit is None:
        return rate
    p = LIMIT_SHARPNESS
    return (rate**-p + limit**-p) ** (-1.0 / p)


def hardware_limits_fitted_on(device: Device) -> bool:
    """The SM and power limits are fitted on NVIDIA GPUs (those with an SM count) and apply to them only."""
    return device.sm_count is not None


# FP32 lanes per SM, from NVIDIA's architecture whitepapers: GP100, GV100, TU10x and GA100 have 64;
# GP102, GA10x, AD10x, GH100, GB10x/GB20x have 128. With the datasheet FP32 peak it gives the boost
# clock the peak was quoted at: fp32 = 2 * SMs * lanes * clock.
FP32_LANES_PER_SM: dict[str, int] = {
    "nvidia-pascal": 128,
    "nvidia-pascal-hbm": 64,
    "nvidia-volta": 64,
    "nvidia-turing": 64,
    "nvidia-ampere": 128,
    "nvidia-ampere-hbm": 64,
    "nvidia-jetson": 128,
    "nvidia-ada": 128,
    "nvidia-hopper": 128,
    "nvidia-blackwell": 128,
    "nvidia-blackwell-hbm": 128,
    "nvidia-gb10": 128,
}


def sm_ghz(device: Device) -> float | None:
    """SM count x boost clock, in SM-GHz (billions of SM cycles per second): the rate at which the
    GPU's SMs issue loads. From the FP32 peak (= 2 x SMs x lanes x clock), so the SM count cancels;
    None when the catalog lacks the SM count, the FP32 peak or the architecture's lanes per SM."""
    lanes = FP32_LANES_PER_SM.get(device.family)
    if not hardware_limits_fitted_on(device) or lanes is None or not device.tflops.fp32:
        return None
    return device.tflops.fp32 * 1e3 / (2 * lanes)


def sm_bandwidth_gb_s(runtime: Runtime, device: Device) -> float | None:
    """SM bandwidth limit (bytes per SM cycle, fitted for exactly this runtime, times SMs x clock),
    or None. Never borrowed: it is a property of the runtime's own kernels."""
    cycles = sm_ghz(device)
    if cycles is None:
        return None
    per_cycle = _per_runtime("sm_bandwidth_gb_s", runtime, device)
    return None if per_cycle is None else per_cycle * cycles


def power_limited_tflops(runtime: Runtime, device: Device) -> float | None:
    """FP16-class tensor TFLOPS the board sustains at its rated power (fitted TFLOPS per watt for
    exactly this runtime, times TDP), or None."""
    if not hardware_limits_fitted_on(device):
        return None
    per_watt = _per_runtime("tflops_per_watt", runtime, device)
    return None if per_watt is None else per_watt * device.tdp_w


# llama.cpp's matrix-vector kernels serve up to 8 sequences (MMVQ_MAX_BATCH_SIZE in
# ggml/src/ggml-cuda/mmvq.cuh); beyond that it switches to matrix-matrix kernels, whose loads the
# fitted SM limit (batch-1 rows) does not describe.
SM_LIMIT_MAX_BATCH = 8


def sm_limit_applies(device: Device, eff: Efficiency, batch: int = 1) -> bool:
    """True when the SMs' loads in flight, not DRAM, are the tighter bandwidth limit of a decode
    step of ``batch`` sequences."""
    return (
        batch <= SM_LIMIT_MAX_BATCH
        and eff.sm_bw_gb_s is not None
        and eff.sm_bw_gb_s < device.bandwidth_gb_s * eff.bw_eff
    )


def effective_bandwidth_gb_s(device: Device, eff: Efficiency, batch: int = 1) -> float:
    """The DRAM bandwidth a decode step of ``batch`` sequences sustains: datasheet x efficiency,
    bounded by the SMs while the runtime runs matrix-vector kernels."""
    dram = device.bandwidth_gb_s * eff.bw_eff
    return combine_limits(dram, eff.sm_bw_gb_s) if batch <= SM_LIMIT_MAX_BATCH else dram


def fitted_constants() -> dict:
    """A deep copy of the constants in force, to edit for a what-if run under ``using_constants``."""
    return copy.deepcopy(_fitted())


def fitted_metadata() -> dict:
    """What the constants were fitted on (sources, row counts, residuals)."""
    return {k: v for k, v in _fitted().items() if k != "groups"}


# Link classes: a bus inside a box, RDMA between boxes (kernel bypass), or a kernel network stack
# (TCP: llama.cpp RPC, MLX ring). Software costs per hand-off and per collective differ by class.
RDMA_LINK_KINDS = frozenset({"rdma-ethernet", "infiniband", "thunderbolt-rdma"})
TCP_LINK_KINDS = frozenset({"ethernet", "thunderbolt", "usb"})
# Priors when no multi-device rows calibrate a class: a device-to-device copy plus a stream sync on
# a bus; a verbs round trip over RDMA; a framework round trip through the kernel TCP stack.
HOP_PRIOR_US = {"local": 20.0, "rdma": 50.0, "network": 200.0}
COLLECTIVE_PRIOR_US = {"local": 20.0, "rdma": 50.0, "network": 200.0}


def link_class(kind: str) -> str:
    if kind in RDMA_LINK_KINDS:
        return "rdma"
    return "network" if kind in TCP_LINK_KINDS else "local"


def hop_key(runtime: Runtime, link_kind: str, device: Device | None = None) -> str:
    """Engine and link class; inside a box the runtime key (engine and the backend it runs on this
    device), since a hand-off between two GPUs is a peer copy under CUDA but is staged through host
    memory under Vulkan."""
    engine = ENGINE_ALIASES.get(runtime.engine, runtime.engine)
    cls = link_class(link_kind)
    if cls == "local" and device is not None:
        return f"{runtime_key(runtime, device)}|{cls}"
    if cls == "local" and runtime.backend != "any":
        return f"{engine}-{runtime.backend}|{cls}"
    return f"{engine}|{cls}"


def hop_overhead_s(runtime: Runtime, link_kind: str, device: Device | None = None) -> float:
    """Runtime cost of handing one step's activations to the next pipeline stage over a link of
    this kind, beyond the link's latency and transfer time (fitted per engine and link class)."""
    fitted = _fitted().get("hop_overhead_us", {})
    return fitted.get(hop_key(runtime, link_kind, device), HOP_PRIOR_US[link_class(link_kind)]) * 1e-6


# SGLang's custom all-reduce is adapted from vLLM's (sglang python/sglang/srt/distributed/
# device_communicators/custom_all_reduce.py: "Adapted from .../vllm/blob/v0.6.4.post1/vllm/distributed/
# device_communicators/custom_all_reduce.py"): an engine with no fitted collective cost borrows its
# peer's for the same backend and link class before falling back to the prior.
COLLECTIVE_PEER_ENGINE = {"vllm": "sglang", "sglang": "vllm"}


def collective_overhead_s(runtime: Runtime, link_kind: str, device: Device | None = None) -> float:
    """Fixed software cost of one all-reduce / all-to-all call over a link of this kind (kernel
    launches, synchronisation, the network stack), fitted per engine and link class; vLLM and
    SGLang borrow each other's (inside a box both run the same custom all-reduce, across boxes both
    call NCCL)."""
    fitted = _fitted().get("collective_overhead_us", {})
    key = hop_key(runtime, link_kind, device)
    engine = ENGINE_ALIASES.get(runtime.engine, runtime.engine)
    peer = COLLECTIVE_PEER_ENGINE.get(engine)
    if key not in fitted and peer is not None and key.startswith(engine):
        key = peer + key[len(engine) :]
    return fitted.get(key, COLLECTIVE_PRIOR_US[link_class(link_kind)]) * 1e-6
