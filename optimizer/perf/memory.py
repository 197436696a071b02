"""Memory per device: weights, KV cache, activations, runtime overhead against usable memory."""

from __future__ import annotations

from dataclasses import dataclass

from catalog.schema import Device, Model, Quant, Runtime
from optimizer.perf.workload import FULL, Shard, Slice, kv_read_bytes, weight_bytes

# Memory is marketed in binary units (a "24 GB" card holds 24 GiB); every memory figure here is in
# those units so capacities, weights and KV cache compare like with like.
GB = float(2**30)

# macOS lets the GPU wire only part of unified memory by default (Metal's
# recommendedMaxWorkingSetSize): 2/3 of RAM up to 36 GB, 3/4 above. Sources: exo-explore/exo PR
# #1672 (10.67 GB of 16 GB on an M4), gpustack/gpustack #1375 ("75% of total RAM"). Newer macOS
# measured 107.5 GiB of 128 GiB (antirez/ds4 #893): the rule is conservative; `sudo sysctl
# iogpu.wired_limit_mb=N` raises it.
APPLE_SMALL_FRACTION = 2 / 3
APPLE_LARGE_FRACTION = 3 / 4
APPLE_SMALL_LIMIT_GB = 36.0
# Other unified-memory parts (DGX Spark, Strix Halo, Jetson) share memory with a Linux host: leave
# the OS a fixed reserve. CPU hosts likewise.
HOST_OS_RESERVE_GB = 4.0

# Prefill activations: the runtime processes prompts in micro-batches ("ubatch" in llama.cpp,
# default 512 tokens) and keeps a compute buffer sized for one of them.
PREFILL_UBATCH = 512


def usable_memory_gb(device: Device, memory_gb: float) -> float:
    """Memory the accelerator may use for weights, KV cache and buffers."""
    if device.usable_memory_fraction is not None:
        return memory_gb * device.usable_memory_fraction
    if device.kind == "apple_soc":
        frac = APPLE_SMALL_FRACTION if memory_gb <= APPLE_SMALL_LIMIT_GB else APPLE_LARGE_FRACTION
        return memory_gb * frac
    if device.kind in ("apu", "cpu"):
        return max(0.0, memory_gb - HOST_OS_RESERVE_GB)
    return memory_gb


def activation_bytes(m: Model, s: Slice, batch: int) -> float:
    """Compute buffer for one prefill micro-batch (fp16 hidden/FFN tiles, fp32 logits if last)."""
    tokens = PREFILL_UBATCH * min(batch, 4)
    ffn = m.moe.expert_ffn_size * m.moe.active_experts if m.moe else m.ffn_size
    per_token = 2.0 * (4 * m.hidden_size + 2 * ffn)
    logits = 4.0 * m.vocab_size * PREFILL_UBATCH if s.has_head else 0.0
    return tokens * per_token + logits


@dataclass(frozen=True)
class MemoryUse:
    weights_gb: float
    kv_cache_gb: float
    activations_gb: float
    overhead_gb: float
    capacity_gb: float
    usable_gb: float

    @property
    def total_gb(self) -> float:
        return self.weights_gb + self.kv_cache_gb + self.activations_gb + self.overhead_gb

    @property
    def fits(self) -> bool:
        return self.total_gb <= self.usable_gb + 1e-9

    @property
    def shortfall_gb(self) -> float:
        return max(0.0, self.total_gb - self.usable_gb)


def memory_use(
    device: Device,
    memory_gb: float,
    runtime: Runtime,
    model: Model,
    quant: Quant,
    s: Slice,
    context_tokens: int,
    batch: int,
    kv_bytes: float,
    shard: Shard = FULL,
) -> MemoryUse:
    kv = batch * shard.kv * kv_read_bytes(model, s, context_tokens, kv_bytes)
    return MemoryUse(
        weights_gb=weight_bytes(model, quant, s, shard) / GB,
        kv_cache_gb=kv / GB,
        activations_gb=activation_bytes(model, s, batch) / GB,
        overhead_gb=runtime.memory_overhead_gb,
        capacity_gb=memory_gb,
        usable_gb=usable_memory_gb(device, memory_gb),
    )


def max_context_that_fits(
    device: Device,
    memory_gb: float,
    runtime: Runtime,
    model: Model,
    quant: Quant,
    s: Slice,
    batch: int,
    kv_bytes: float,
    shard: Shard = FULL,
) -> int:
    """Largest context per sequence whose KV cache still fits (0 if the weights alone do not)."""
    base = memory_use(device, memory_gb, runtime, model, quant, s, 0, batch, kv_bytes, shard)
    free = (base.usable_gb - base.total_gb) * GB
    if free <= 0:
        return 0
    lo, hi = 0, max(model.max_context, 1)
    if batch * shard.kv * kv_read_bytes(model, s, hi, kv_bytes) <= free:
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if batch * shard.kv * kv_read_bytes(model, s, mid, kv_bytes) <= free:
            lo = mid
        else:
            hi = mid - 1
    return lo
