"""Pydantic schemas for every catalog entry.

The catalog is data (YAML files under ``catalog/data``) validated by these models. No physics lives
here: the schemas say what a device, link, model, quantization or runtime *is*, with the sources
that back each number. Units are in the field names (``_gb``, ``_gb_s``, ``_w``, ``_usd``, ``_us``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DeviceKind = Literal["gpu", "apple_soc", "apu", "accelerator", "cpu"]
Segment = Literal["consumer", "workstation", "datacenter", "edge", "mac", "desktop", "server"]
Dtype = Literal["fp32", "fp16", "bf16", "fp8", "int8", "fp4"]


class Entry(BaseModel):
    """Common fields: a stable id, a display name, aliases people type, and sources."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._+-]*$")
    name: str
    aliases: tuple[str, ...] = ()
    sources: tuple[str, ...] = Field(min_length=1)
    notes: str = ""

    @field_validator("sources")
    @classmethod
    def _sources_not_blank(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s.strip() for s in v):
            raise ValueError("a source may not be blank")
        return v


class Tflops(BaseModel):
    """Dense peak throughput per dtype in TFLOPS (TOPS for int8); None = not supported or unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fp32: float | None = Field(default=None, gt=0)
    fp16: float | None = Field(default=None, gt=0)
    bf16: float | None = Field(default=None, gt=0)
    fp8: float | None = Field(default=None, gt=0)
    int8: float | None = Field(default=None, gt=0)
    fp4: float | None = Field(default=None, gt=0)

    def get(self, dtype: Dtype) -> float | None:
        return getattr(self, dtype)


class MemoryOption(BaseModel):
    """A purchasable memory configuration of a unified-memory device (Apple, Strix Halo...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory_gb: float = Field(gt=0)
    price_usd: float | None = Field(default=None, gt=0)


class Device(Entry):
    vendor: str
    family: str = Field(description="architecture family, the key for fitted efficiencies")
    kind: DeviceKind
    segment: Segment
    memory_gb: float = Field(gt=0, description="default (documented) memory configuration")
    memory_options: tuple[MemoryOption, ...] = ()
    usable_memory_fraction: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="share of memory the accelerator may use; None = the kind's rule (macOS wired limit)",
    )
    memory_type: str = ""
    bandwidth_gb_s: float = Field(gt=0, description="theoretical peak DRAM bandwidth, decimal GB/s")
    tflops: Tflops
    gpu_cores: int | None = Field(default=None, gt=0)
    sm_count: int | None = Field(
        default=None,
        gt=0,
        description="NVIDIA streaming multiprocessors; bounds the DRAM bandwidth a latency-bound kernel can draw",
    )
    tdp_w: float = Field(gt=0)
    idle_w: float | None = Field(default=None, ge=0)
    price_usd: float | None = Field(default=None, gt=0)
    year: int | None = None
    default_link: str = Field(description="link id used between two of these when none is given")
    nvlink: str | None = Field(default=None, description="link id of the device's NVLink, if any")

    @model_validator(mode="after")
    def _idle_below_tdp(self) -> Device:
        if self.idle_w is not None and self.idle_w >= self.tdp_w and self.kind != "apple_soc":
            raise ValueError(f"idle_w {self.idle_w} must be below tdp_w {self.tdp_w}")
        if self.tflops.fp16 is None and self.tflops.fp32 is None and self.tflops.bf16 is None:
            raise ValueError("a device needs at least one of fp32, fp16 or bf16 throughput")
        return self


LinkKind = Literal[
    "pcie",
    "nvlink",
    "nvlink-bridge",
    "chip-to-chip",
    "thunderbolt",
    "thunderbolt-rdma",
    "usb",
    "ethernet",
    "rdma-ethernet",
    "infiniband",
    "die-to-die",
    "scale-up-fabric",
    "loopback",
]


class Link(Entry):
    kind: LinkKind
    bandwidth_gb_s: float = Field(gt=0, description="per direction, decimal GB/s")
    latency_us: float = Field(ge=0, description="small-message one-way latency used by the model")
    latency_sourced: bool = Field(
        description="False when latency_us is a modelling assumption rather than a sourced figure"
    )
    rdma: bool = False


class Attention(BaseModel):
    """Attention geometry. MLA fields are set only for multi-head latent attention."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["mha", "gqa", "mqa", "mla"]
    kv_lora_rank: int | None = Field(default=None, gt=0)
    q_lora_rank: int | None = Field(default=None, gt=0)
    qk_rope_head_dim: int | None = Field(default=None, gt=0)
    qk_nope_head_dim: int | None = Field(default=None, gt=0)
    v_head_dim: int | None = Field(default=None, gt=0)
    sliding_window: int | None = Field(default=None, gt=0)
    sliding_window_layers: int = Field(default=0, ge=0, description="layers using the window")
    linear_attention_layers: int = Field(
        default=0, ge=0, description="layers with a fixed-size recurrent state (no growing KV)"
    )

    @model_validator(mode="after")
    def _mla_complete(self) -> Attention:
        if self.kind == "mla":
            missing = [
                f
                for f in ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")
                if getattr(self, f) is None
            ]
            if missing:
                raise ValueError(f"MLA attention needs {', '.join(missing)}")
        if self.sliding_window_layers and self.sliding_window is None:
            raise ValueError("sliding_window_layers given without sliding_window")
        return self


class Moe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    experts: int = Field(gt=1)
    active_experts: int = Field(gt=0)
    shared_experts: int = Field(default=0, ge=0)
    expert_ffn_size: int = Field(gt=0)
    shared_expert_ffn_size: int | None = Field(default=None, gt=0)
    dense_layers: int = Field(default=0, ge=0, description="leading layers with a dense FFN")

    @model_validator(mode="after")
    def _k_le_e(self) -> Moe:
        if self.active_experts > self.experts:
            raise ValueError("active_experts exceeds experts")
        return self


class Vision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    params_b: float = Field(gt=0)
    tokens_per_image: int = Field(gt=0)


class Model(Entry):
    family: str
    hf_id: str
    layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    heads: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    ffn_size: int = Field(gt=0, description="dense FFN intermediate size")
    ffn_gated: bool = Field(default=True, description="SwiGLU/GeGLU (3 matrices) vs plain (2)")
    vocab_size: int = Field(gt=0)
    tied_embeddings: bool = False
    attention: Attention
    moe: Moe | None = None
    vision: Vision | None = None
    extra_params_b: float = Field(
        default=0.0,
        ge=0,
        description="parameters outside the transformer formula (e.g. MTP layers, linear-attention "
        "projections), with the reason in notes",
    )
    max_context: int = Field(gt=0)
    published_params_b: float = Field(gt=0, description="total parameters as published")
    published_active_params_b: float | None = Field(default=None, gt=0)
    supports_tensor_exo: bool = True

    @model_validator(mode="after")
    def _heads_divide(self) -> Model:
        if self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} not a multiple of kv_heads {self.kv_heads}")
        if self.moe and self.moe.dense_layers > self.layers:
            raise ValueError("moe.dense_layers exceeds layers")
        special = self.attention.sliding_window_layers + self.attention.linear_attention_layers
        if special > self.layers:
            raise ValueError("sliding + linear attention layers exceed layers")
        return self


class Quant(Entry):
    bits_per_weight: float = Field(gt=0, le=32, description="effective, scales and zero points included")
    embedding_bits: float | None = Field(default=None, gt=0, le=32, description="token embedding bits if different")
    output_bits: float | None = Field(default=None, gt=0, le=32, description="output head bits")
    compute_dtype: Dtype = Field(description="dtype the matmuls run in")
    kernel: str = Field(description="kernel class, a key for fitted efficiencies")
    format: str = Field(description="gguf, mlx, safetensors, ...")


class Runtime(Entry):
    engine: Literal["llama.cpp", "mlx", "vllm", "tensorrt-llm", "sglang", "mlc", "exo"]
    backend: Literal["cuda", "metal", "vulkan", "rocm", "cpu", "sycl", "any"]
    distributed: bool = False
    base: str | None = Field(default=None, description="runtime this one wraps (Ollama -> llama.cpp)")
    memory_overhead_gb: float = Field(ge=0, description="context + allocator reserve per device")
