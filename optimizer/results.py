"""What an analysis returns: pydantic models that are also the documented JSON schema."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

BottleneckKind = Literal["compute", "memory-bandwidth", "interconnect", "capacity", "overhead"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class DeviceResult(_Out):
    index: int
    name: str
    device_id: str
    runtime: str
    layers: int
    layer_range: tuple[int, int]  # [start, end)
    memory_used_gb: float
    memory_capacity_gb: float
    memory_usable_gb: float
    weights_gb: float
    kv_cache_gb: float
    activations_gb: float
    overhead_gb: float
    fits: bool
    decode_step_ms: float
    prefill_s: float
    bandwidth_utilization: float
    compute_utilization: float
    bottleneck: BottleneckKind
    power_w: float
    idle_power_assumed: bool
    efficiency_group: str
    stage: int = 0  # position in the pipeline chain
    tp_group: int | None = None  # size of its tensor/expert/context group, if any
    role: str = "prefill+decode"  # prefill, decode, prefill+decode, replica k


class LinkResult(_Out):
    between: tuple[int, int]
    kind: str
    link_id: str
    inferred: bool
    bandwidth_gb_s: float
    latency_us: float
    traffic: str = "pipeline"  # pipeline, tensor group, expert group, context group, kv handoff
    bytes_per_token: float  # one device's traffic per decode token on this link
    messages_per_token: int = 1  # sends (pipeline) or collective calls (groups) per decode token
    time_per_token_ms: float
    share_of_step: float = 0.0  # this link's time over the decode step
    utilization: float
    bottleneck: bool


class SystemResult(_Out):
    decode_tok_s: float  # per sequence, averaged over the generation
    decode_tok_s_total: float  # all sequences of the batch
    first_token_decode_tok_s: float
    prefill_tok_s: float
    ttft_s: float
    request_latency_s: float
    memory_used_gb: float
    memory_capacity_gb: float
    memory_percent: float
    power_w: float
    power_decode_w: float
    power_prefill_w: float
    energy_kwh_per_day: float
    cost_per_day_usd: float
    cost_per_month_usd: float
    tokens_per_usd: float
    tokens_per_kwh: float
    price_usd: float | None
    bottleneck: BottleneckKind
    bottleneck_detail: str


class Band(_Out):
    """Where the true figure likely lies: covers 80% of cross-validated errors of the closest group."""

    low: float
    high: float
    ape_p80: float
    basis: str


class Measurement(_Out):
    """A known measurement of the same setup, beside the engine's prediction for its workload."""

    source_id: str
    source_url: str
    row_id: str
    metric: str
    batch: int
    prompt_tokens: int
    gen_tokens: int
    flash_attention: bool  # the run's setting; the prediction uses it too
    ubatch: int
    measured: float
    predicted: float
    error: float  # predicted / measured - 1


class WorkloadEcho(_Out):
    prompt_tokens: int
    gen_tokens: int
    batch: int
    context_tokens: int
    kv_quant: str
    flash_attention: bool
    ubatch: int


class Analysis(_Out):
    """The answer of ``mlba analyze``."""

    model: str
    model_id: str
    quant: str
    runtime: str
    strategy: str
    fits: bool
    workload: WorkloadEcho
    system: SystemResult
    devices: list[DeviceResult]
    links: list[LinkResult]
    warnings: list[str]
    notes: list[str]
    max_context_fits: int | None
    uncertainty: dict[str, Band] = {}
    benchmarks: list[Measurement] = []
    link_upgrade: str | None = None  # what a faster link would buy, when links cost time
