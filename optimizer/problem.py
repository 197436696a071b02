"""The question a user asks: a declarative, validated problem and its resolution against the catalog.

A :class:`Problem` holds *names* (as typed in a YAML file or on the command line). :func:`resolve`
turns it into a :class:`ResolvedProblem` holding catalog entries; that is the only input the
performance core sees. Bad input raises :class:`ProblemError` with a one-line cause and a hint.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from catalog.resolve import UnknownNameError, resolver
from catalog.schema import Device, Link, Model, Quant, Runtime
from optimizer.perf.roofline import DEFAULT_UBATCH

Strategy = Literal["pipeline", "auto", "exo", "tensor", "tp-pp", "data", "expert", "context", "pd-split"]
KvQuant = Literal["fp16", "bf16", "fp8", "q8_0", "q4_0"]

KV_BYTES_PER_ELEMENT: dict[str, float] = {
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "q8_0": 34 / 32,  # ggml block: 32 int8 + one fp16 scale
    "q4_0": 18 / 32,  # ggml block: 32 nibbles + one fp16 scale
}


class ProblemError(ValueError):
    """User input that cannot be answered; the message is one line with a hint."""


_COUNT_PREFIX = re.compile(r"^\s*(-?\d+)\s*[x×*]\s*(.+)$", re.IGNORECASE)
_COUNT_SUFFIX = re.compile(r"^(.+?)\s+[x×*]\s*(-?\d+)\s*$", re.IGNORECASE)


class DeviceSpec(BaseModel):
    """A device name and how many of it ("2x RTX 4090" parses to count 2)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1)
    count: int = Field(default=1, ge=1, le=256)

    @classmethod
    def parse(cls, text: str) -> DeviceSpec:
        m = _COUNT_PREFIX.match(text)
        if m:
            return cls(name=m.group(2).strip(), count=int(m.group(1)))
        m = _COUNT_SUFFIX.match(text)
        if m:
            return cls(name=m.group(1).strip(), count=int(m.group(2)))
        return cls(name=text.strip())


class Workload(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prompt_tokens: int = Field(default=512, ge=0, le=10_000_000)
    gen_tokens: int = Field(default=128, ge=1, le=10_000_000)
    batch: int = Field(default=1, ge=1, le=4096, description="concurrent sequences")
    cached_tokens: int = Field(
        default=0,
        ge=0,
        le=10_000_000,
        description="tokens already in the KV cache before the prompt",
    )
    context: int | None = Field(default=None, ge=1, description="KV cache reserved per sequence; default prompt + gen")

    @model_validator(mode="after")
    def _context_holds_the_request(self) -> Workload:
        need = self.cached_tokens + self.prompt_tokens + self.gen_tokens
        if self.context is not None and self.context < need:
            raise ValueError(
                f"context {self.context} is shorter than cached + prompt + generated tokens ({need}); "
                "raise --context or drop it"
            )
        return self

    @property
    def context_tokens(self) -> int:
        if self.context is not None:
            return self.context
        return self.cached_tokens + self.prompt_tokens + self.gen_tokens


class CostSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    price_kwh: float = Field(default=0.15, ge=0, le=10, description="USD per kWh")
    hours_per_day: float = Field(default=24.0, gt=0, le=24, description="hours a day under load")


class LinkSpec(BaseModel):
    """An explicit link between two devices (0-based positions in the expanded device list)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    between: tuple[int, int]
    kind: str = Field(min_length=1)


class Expectation(BaseModel):
    """What a bundled problem must answer (each problem file is also a regression test)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    fits: bool | None = None
    decode_tok_s: tuple[float, float] | None = Field(default=None, description="[low, high]")
    prefill_tok_s: tuple[float, float] | None = None
    ttft_s: tuple[float, float] | None = None
    bottleneck: str | None = None
    source: str = Field(default="", description="where the expected figures come from")


class Problem(BaseModel):
    """A declarative problem, as written in ``problems/*.yaml``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    description: str = ""
    model: str
    quant: str
    runtime: str | None = None
    devices: list[DeviceSpec] = Field(min_length=1)
    link: str | None = Field(default=None, description="link kind for every edge")
    links: list[LinkSpec] = Field(default_factory=list, description="explicit links between device pairs")
    topology: Literal["chain", "ring", "mesh", "star", "explicit"] | None = Field(
        default=None,
        description="link preset; 'explicit' = only the listed links; default: links inferred from the device kinds",
    )
    rdma: bool = Field(default=False, description="Macs on Thunderbolt 5 use RDMA (macOS 26.2+, rdma_ctl)")
    strategy: Strategy = "pipeline"
    layers: list[int] | None = Field(default=None, description="explicit layers per device")
    kv_quant: KvQuant = "fp16"
    flash_attention: bool = Field(
        default=True,
        description="fused attention kernels (llama.cpp -fa, on by default since late 2025; always on in MLX, "
        "vLLM, SGLang, TensorRT-LLM); off: prefill writes and reads the whole score matrix",
    )
    ubatch: int = Field(
        default=DEFAULT_UBATCH,
        ge=1,
        le=65_536,
        description="prompt tokens per prefill micro-batch (llama.cpp -ub / n_ubatch, default 512)",
    )
    workload: Workload = Workload()
    cost: CostSpec = CostSpec()
    expect: Expectation | None = None

    @field_validator("devices", mode="before")
    @classmethod
    def _parse_device_strings(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [DeviceSpec.parse(x) if isinstance(x, str) else x for x in v]
        return v

    @model_validator(mode="after")
    def _links_in_range(self) -> Problem:
        n = sum(d.count for d in self.devices)
        for lk in self.links:
            a, b = lk.between
            if not (0 <= a < n and 0 <= b < n) or a == b:
                raise ValueError(f"links: between {list(lk.between)} must name two different devices 0..{n - 1}")
        return self

    @model_validator(mode="after")
    def _layers_match(self) -> Problem:
        if self.layers is not None:
            n = sum(d.count for d in self.devices)
            if len(self.layers) != n:
                raise ValueError(f"layers lists {len(self.layers)} entries for {n} devices")
            if any(x < 0 for x in self.layers):
                raise ValueError("layers per device must be >= 0")
        return self


def validation_one_line(exc: ValidationError, root: str = "problem", limit: int = 3) -> str:
    """The first ``limit`` pydantic errors as ``field.path: message`` on one line (``root`` when
    the error is about the whole input)."""
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(x) for x in err["loc"]) or root
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def problem_from_dict(data: Any, origin: str = "problem") -> Problem:
    if not isinstance(data, dict):
        raise ProblemError(f"{origin}: expected a mapping with model, quant and devices, got {type(data).__name__}")
    try:
        return Problem.model_validate(data)
    except ValidationError as exc:
        raise ProblemError(f"{origin}: {validation_one_line(exc)}") from None


def load_problem(path: str | Path) -> Problem:
    """Read a YAML (or JSON) problem file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProblemError(f"cannot read problem file {p}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ProblemError(f"{p}: malformed YAML{where}; check indentation and quoting") from None
    return problem_from_dict(data, str(p))


# ---------------------------------------------------------------------------------------------
# Resolution


@dataclass(frozen=True)
class DeviceInstance:
    """One physical device of the problem, resolved."""

    index: int
    label: str
    device: Device
    memory_gb: float
    price_usd: float | None
    runtime: Runtime
    node: int = -1  # node of the link graph (the device's position in the problem as written)


@dataclass(frozen=True)
class ResolvedProblem:
    problem: Problem
    model: Model
    quant: Quant
    runtime: Runtime
    devices: tuple[DeviceInstance, ...]
    hops: tuple[Link, ...]  # hops[i] joins devices[i] and devices[i + 1]
    hops_inferred: tuple[bool, ...]
    notes: tuple[str, ...] = field(default=())
    explicit_link: Link | None = None
    topology: Any = None  # optimizer.topology.Topology

    def link_between(self, a: DeviceInstance, b: DeviceInstance) -> Link:
        """The link joining two devices of this problem in any order (through the link graph)."""
        return self.topology.link_between(a.node, b.node)[0]

    def link_inferred(self, a: DeviceInstance, b: DeviceInstance) -> bool:
        return self.topology.link_between(a.node, b.node)[1]

    def reordered(self, order: list[int]) -> ResolvedProblem:
        """The same problem with its devices chained in ``order`` (indices into ``devices``)."""
        from dataclasses import replace

        devs = tuple(replace(self.devices[i], index=k) for k, i in enumerate(order))
        hops = tuple(self.link_between(a, b) for a, b in itertools.pairwise(devs))
        inferred = tuple(self.link_inferred(a, b) for a, b in itertools.pairwise(devs))
        return replace(self, devices=devs, hops=hops, hops_inferred=inferred)

    @property
    def kv_bytes_per_element(self) -> float:
        return KV_BYTES_PER_ELEMENT[self.problem.kv_quant]


_BACKEND_BY_VENDOR = {"NVIDIA": "cuda", "AMD": "rocm", "Apple": "metal", "Intel": "vulkan"}


def device_backend(d: Device) -> str:
    if d.kind == "cpu":
        return "cpu"
    return _BACKEND_BY_VENDOR.get(d.vendor, "vulkan")


def default_runtime_id(quant: Quant, d: Device) -> str:
    """The runtime people use for this quant format on this device."""
    backend = device_backend(d)
    if quant.format == "mlx":
        return "mlx"
    if quant.format == "mlc":
        return "mlc"
    if quant.format == "gguf" or quant.kernel == "fp":
        return "llama.cpp-cpu" if backend == "cpu" else f"llama.cpp-{backend}"
    if backend == "metal":
        return "mlx"
    if backend == "rocm":
        return "vllm-rocm"
    return "vllm"


def _runtime_for_device(runtime: Runtime, d: Device, runtimes: dict[str, Runtime]) -> Runtime:
    """Same engine, the backend of this device (llama.cpp-cuda on a Mac becomes llama.cpp-metal)."""
    backend = device_backend(d)
    if runtime.backend in ("any", backend):
        return runtime
    for r in runtimes.values():
        if r.engine == runtime.engine and r.backend == backend and r.base is None:
            return r
    return runtime


_GENERIC_BITS = re.compile(r"^\s*(\d)[\s-]?bits?\s*$", re.IGNORECASE)


def engine_quant(name: str, engine: str | None) -> Quant:
    """Resolve a quant name; a bare bit width ("8-bit", "4bit") means the engine's own format
    (MLX affine under MLX/EXO) rather than a GGUF type."""
    r = resolver()
    m = _GENERIC_BITS.match(name)
    if m and engine in ("mlx", "exo"):
        mlx_id = f"mlx-{m.group(1)}bit"
        if mlx_id in r.catalog.quants:
            return r.catalog.quants[mlx_id]
    return r.quant(name)


def resolve(problem: Problem) -> ResolvedProblem:
    """Resolve every name in ``problem``; raise ProblemError on anything unknown or invalid."""
    r = resolver()
    notes: list[str] = []
    try:
        model_r = r.model(problem.model)
        requested_runtime = r.runtime(problem.runtime) if problem.runtime else None
        quant = engine_quant(problem.quant, requested_runtime.engine if requested_runtime else None)
        resolved_devices = [(spec, r.device(spec.name)) for spec in problem.devices]
        explicit_link = r.link(problem.link) if problem.link else None
        pair_links = {(min(lk.between), max(lk.between)): r.link(lk.kind) for lk in problem.links}
    except UnknownNameError as exc:
        raise ProblemError(str(exc)) from None
    if model_r.note:
        notes.append(model_r.note)
    instances: list[DeviceInstance] = []
    box_of: list[int] = []
    runtimes = r.catalog.runtimes
    first = resolved_devices[0][1].entry
    runtime = requested_runtime or runtimes[default_runtime_id(quant, first)]
    for box, (spec, rd) in enumerate(resolved_devices):  # devices listed together share a box
        if rd.note:
            notes.append(rd.note)
        for k in range(spec.count):
            idx = len(instances)
            label = rd.entry.name if spec.count == 1 else f"{rd.entry.name} #{k + 1}"
            if rd.memory_gb != rd.entry.memory_gb:
                label = f"{label} ({rd.memory_gb:g} GB)"
            instances.append(
                DeviceInstance(
                    index=idx,
                    label=label,
                    device=rd.entry,
                    memory_gb=rd.memory_gb,
                    price_usd=rd.price_usd,
                    runtime=_runtime_for_device(runtime, rd.entry, runtimes),
                    node=idx,
                )
            )
            box_of.append(box)
    if len(instances) > 64:
        raise ProblemError(f"{len(instances)} devices: at most 64 per problem")
    topo = None
    hops: list[Link] = []
    inferred: list[bool] = []
    if len(instances) > 1:  # one device needs no link graph (and no networkx import)
        from optimizer.topology import DisconnectedError, build_topology  # builds on DeviceInstance

        topo = build_topology(
            instances, box_of, r.catalog.links, explicit_link, pair_links, problem.topology, problem.rdma
        )
        try:
            hops = [topo.link_between(a.node, b.node)[0] for a, b in itertools.pairwise(instances)]
            inferred = [topo.link_between(a.node, b.node)[1] for a, b in itertools.pairwise(instances)]
        except DisconnectedError as exc:
            raise ProblemError(f"{exc}; add a link between them") from None
    if problem.layers is not None and sum(problem.layers) != model_r.entry.layers:
        raise ProblemError(f"layers sum to {sum(problem.layers)} but {model_r.entry.name} has {model_r.entry.layers}")
    return ResolvedProblem(
        problem=problem,
        model=model_r.entry,
        quant=quant,
        runtime=runtime,
        devices=tuple(instances),
        hops=tuple(hops),
        hops_inferred=tuple(inferred),
        notes=tuple(notes),
        explicit_link=explicit_link,
        topology=topo,
    )
