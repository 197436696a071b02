"""Measured results (calibration.csv format) mapped onto problems the engine can predict.

Used by the efficiency fit (``benchmarks/fit_efficiency.py``) and by validation. A row either maps
to a :class:`MappedRow` (a problem plus the metric to compare) or is rejected with a reason; rows
are never dropped silently.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from catalog.resolve import UnknownNameError, resolver
from optimizer.perf.roofline import DEFAULT_UBATCH
from optimizer.problem import DeviceSpec, Problem, ProblemError, Workload, engine_quant

COLUMNS = [
    "source_id",
    "source_url",
    "source_locator",
    "device",
    "device_count",
    "interconnect",
    "model",
    "params_b",
    "active_params_b",
    "quant",
    "backend",
    "batch",
    "prompt_tokens",
    "gen_tokens",
    "metric",
    "value",
    "notes",
]
COMPARABLE_METRICS = ("decode_tok_s", "prefill_tok_s", "ttft_s", "total_throughput_tok_s", "tpot_ms")
# a mean time per output token (TPOT, ITL) of one stream is its decode rate in other units: such rows
# keep the source's milliseconds in the file and are read as 1000 / TPOT tokens/s
PER_TOKEN_LATENCY_METRICS = ("tpot_ms",)
# Words in a row's notes that mark a value the source itself distrusts or has superseded (an older
# runtime version measured for comparison); such rows are shown but neither fitted nor summarised.
FLAG_WORDS = ("anomal", "before the pr", "superseded", "hit oom", "out of memory")
UNSTATED_GEN_TOKENS = 128  # decode rows that state no lengths (chart bars): a short generation
_DEPTH = re.compile(r"@\s*d(\d+)")
# a run under a board power limit below the device's rated power measures another configuration
# ("power limit 300 W", "power-limited to 300 W", "a 300 W power cap", "nvidia-smi -pl 300")
_POWER_LIMITS = (
    re.compile(r"power[- ]?(?:limit|cap)(?:ed)?(?:\s+(?:of|to|at|set to))?\s*[:=]?\s*(\d+(?:\.\d+)?)\s*W\b", re.I),
    re.compile(r"(\d+(?:\.\d+)?)\s*W\s+(?:board\s+)?power[- ]?(?:limit|cap)", re.I),
    re.compile(r"(?:^|\s)(?:nvidia-smi\s+)?-pl\s*=?\s*(\d+(?:\.\d+)?)\b"),
)


def power_limit_w(text: str) -> float | None:
    """The lowest board power limit a row's locator or notes state, in watts, or None."""
    found = [float(m.group(1)) for pattern in _POWER_LIMITS for m in pattern.finditer(text)]
    return min(found) if found else None


# speculative decoding (MTP heads, a draft model, EAGLE) emits several tokens per verified step: a
# plain decode model does not predict its rate, unless the row says it ran without it
_SPEC_WORD = r"(?:MTP|speculative(?: decoding)?|drafter|draft(?: model)?|eagle-?\d*|dflash|medusa)"
_SPECULATIVE = re.compile(
    r"\bMTP\b|speculative|draft(?:er|[-_ ]?model|[-_ ]tokens?)|\beagle-?\d*\b|medusa|nextn|prompt.lookup|dflash",
    re.I,
)
_NOT_SPECULATIVE = re.compile(  # "no MTP/speculative flags", "non-DFlash", "MTP disabled", "nextn...=0"
    rf"\b(?:no|without|non-?)\s*{_SPEC_WORD}(?:\s*/\s*{_SPEC_WORD})*\b"
    rf"|{_SPEC_WORD}\s*(?:disabled|off|=\s*0)|nextn_predict_layers\s*=\s*0|target.only",
    re.I,
)


def speculative(text: str) -> bool:
    """True when a row's text says its decode used speculative decoding: a mention of it that the
    text does not deny in place ("no MTP", "speculative decoding off", "nextn_predict_layers=0")."""
    return bool(_SPECULATIVE.search(_NOT_SPECULATIVE.sub(" ", text)))


# llama.cpp's flash attention as rows state it: "-fa 1", "fa=1", "flash-attn on", "with flash attention";
# "-fa 0", "FA-off", "flash attention off". ("DeepSeek-V4-Flash" is a model name, not the setting.)
_FA_SETTING = re.compile(
    r"(?:^|[\s;,(])-?fa\s*[=:]?\s*(?P<flag>[01]|on|off)\b"
    r"|flash[- _]?att(?:n|ention)\s*[=:]?\s*(?P<word>on|off|enabled|disabled|[01])\b"
    r"|\bFA[- ](?P<fa>on|off)\b"
    r"|(?P<neg>without|no)\s+flash[- _]?att(?:n|ention)|(?P<pos>with)\s+flash[- _]?att(?:n|ention)",
    re.I,
)
# llama.cpp turned flash attention on by default ("auto") with PR #15434, merged 2025-08-30; before
# that -fa defaulted to off. A source built earlier that does not state -fa ran without it.
LLAMA_CPP_FLASH_ATTENTION_DEFAULT_SINCE = "2025-09"


def stated_flash_attention(text: str) -> bool | None:
    """Whether a row's text says flash attention was on (True) or off (False); None if it does not."""
    m = _FA_SETTING.search(text)
    if m is None:
        return None
    value = (m.group("flag") or m.group("word") or m.group("fa") or "").lower()
    return not (m.group("neg") or value in ("0", "off", "disabled"))


_UBATCH = re.compile(r"n_ubatch\s*[=:]?\s*(\d+)|(?:^|[\s;,(])-ub\s*[=:]?\s*(\d+)|\bubatch\s*[=:]?\s*(\d+)", re.I)


def stated_ubatch(text: str) -> int | None:
    """The prefill micro-batch a row states ("n_ubatch 2048", "-ub 1024"), or None."""
    m = _UBATCH.search(text)
    return int(next(g for g in m.groups() if g)) if m else None


@cache
def source_dates() -> dict[str, str]:
    """Build dates (YYYY-MM) of the built-in benchmark sources (catalog/data/benchmark_source_dates.csv)."""
    path = resources.files("catalog").joinpath("data", "benchmark_source_dates.csv")
    with resources.as_file(path) as p:
        frame = pd.read_csv(p, dtype=str)
    return dict(zip(frame["source_id"], frame["date"], strict=True))


def row_flash_attention(text: str, engine: str, source_id: str) -> bool:
    """Flash attention as the row ran it: stated, else llama.cpp's default at the source's build date
    (on for a source of unknown date: today's default), else on (MLX, vLLM, SGLang, TensorRT-LLM
    always fuse attention)."""
    stated = stated_flash_attention(text)
    if stated is not None:
        return stated
    if engine != "llama.cpp":
        return True
    built = source_dates().get(source_id)
    return built is None or built >= LLAMA_CPP_FLASH_ATTENTION_DEFAULT_SINCE


# a decode row whose source says it followed a long prompt of unstated length: its context is unknown
_LONG_UNSTATED_CONTEXT = re.compile(r"decode after a long prompt|not read as a short-context decode", re.I)
_CLUSTER = re.compile(r"(\d+)\s*x\s*(\d+)\s*GB", re.IGNORECASE)
# Engines whose multi-GPU default is tensor parallel; others split by layer unless the row says so.
_TP_DEFAULT_ENGINES = ("vllm", "sglang", "tensorrt-llm")


def row_strategy(text: str, engine: str, count: int) -> str:
    """The parallel strategy a multi-device measurement used, as its source describes it."""
    t = text.lower()
    if count < 2:
        return "pipeline"
    if "pipeline" in t or "rpc" in t or "layer split" in t:
        return "pipeline"
    if "tensor" in t or re.search(r"\btp\s*=?\s*\d", t) or "(tp" in t:
        return "tensor"
    return "tensor" if engine in _TP_DEFAULT_ENGINES else "pipeline"


def cluster_devices(device: str) -> list[tuple[str, int]] | None:
    """'M3 Ultra Mac Studio (cluster: 2x 512GB + 2x 256GB)' -> [('M3 Ultra Mac Studio 512GB', 2), ...]."""
    if "cluster" not in device.lower():
        return None
    parts = _CLUSTER.findall(device)
    if not parts:
        return None
    base = device.split("(")[0].strip()
    return [(f"{base} {mem}GB", int(n)) for n, mem in parts]


# Measurements added after the constants were last fitted (benchmarks_holdout.csv): predicted and scored
# like every other row, never fitted on, so they measure how the model does on data it has not seen.
HOLDOUT_STEM = "benchmarks_holdout"


def is_held_out(row_id: str) -> bool:
    """A row id (``file stem:line``) of the held-out file: compared, never fitted."""
    return row_id.startswith(f"{HOLDOUT_STEM}:")


@dataclass(frozen=True)
class MappedRow:
    row_id: str
    source_id: str
    metric: str
    measured: float
    problem: Problem
    depth: int  # tokens already in the KV cache (prefill depth runs)
    device_family: str
    runtime_key: str
    flagged: bool = False  # the source file marks the value as a possible anomaly

    @property
    def held_out(self) -> bool:
        """A row of the held-out file: compared, never fitted."""
        return is_held_out(self.row_id)


@dataclass(frozen=True)
class Rejected:
    row_id: str
    source_id: str
    metric: str
    reason: str


def _num(v: Any) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def load_measurements(path: str | Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype={"batch": str})
    missing = [c for c in ("device", "model", "quant", "backend", "metric", "value") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not in the calibration column format (missing {', '.join(missing)})")
    if "row_id" not in df.columns:
        stem = Path(path).stem
        df["row_id"] = [f"{stem}:{i + 2}" for i in range(len(df))]  # +2: header and 1-based lines
    return df


def map_row(row: dict[str, Any]) -> MappedRow | Rejected:
    """Map one measurement row to a problem, or say why it cannot be compared (never raises)."""
    try:
        return _map_row(row)
    except (ValueError, TypeError, KeyError, ProblemError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Rejected(
            str(row.get("row_id", "?")),
            str(row.get("source_id", "?")),
            str(row.get("metric", "")),
            f"cannot read this row: {first}",
        )


def _map_row(row: dict[str, Any]) -> MappedRow | Rejected:
    rid = str(row.get("row_id", "?"))
    src = str(row.get("source_id", "?"))
    metric = str(row.get("metric", ""))
    if metric not in COMPARABLE_METRICS:
        return Rejected(rid, src, metric, f"metric {metric!r} is not one the engine predicts")
    batch_raw = str(row.get("batch", "1")).strip()
    if metric == "total_throughput_tok_s" and (
        batch_raw != "1" or _num(row.get("prompt_tokens")) is None or _num(row.get("gen_tokens")) is None
    ):
        return Rejected(rid, src, metric, f"metric {metric!r} is throughput at an unstated load; not comparable")
    if not batch_raw.isdigit():
        return Rejected(rid, src, metric, f"batch {batch_raw!r} is not a number (load not stated)")
    value = _num(row.get("value"))
    if value is None or value <= 0:
        return Rejected(rid, src, metric, "no positive measured value")
    r = resolver()
    cluster = cluster_devices(str(row["device"]))
    try:
        dev = r.device(cluster[0][0] if cluster else str(row["device"]))
        model = r.model(str(row["model"])).entry
        runtime = r.runtime(str(row["backend"]))
        quant = engine_quant(str(row["quant"]), runtime.engine)
    except UnknownNameError as exc:
        return Rejected(rid, src, metric, str(exc))
    count_raw = _num(row.get("device_count"))
    count = 1 if count_raw is None else int(count_raw)
    if count < 1:
        return Rejected(rid, src, metric, f"device_count {count_raw:g} is not a positive number")
    prompt = int(_num(row.get("prompt_tokens")) or 0)
    gen = _num(row.get("gen_tokens"))
    text = f"{row.get('source_locator', '')} {row.get('notes', '')}"
    depth_m = _DEPTH.search(text)
    depth = int(depth_m.group(1)) if depth_m else 0
    limit = power_limit_w(text)
    if limit is not None and limit < 0.95 * dev.entry.tdp_w:
        return Rejected(
            rid, src, metric, f"run at a {limit:g} W power limit (rated {dev.entry.tdp_w:g} W); not comparable"
        )
    if metric in PER_TOKEN_LATENCY_METRICS:  # one stream's time per token; a batch runs that many streams
        metric, value = "decode_tok_s", 1000.0 / value * max(1, int(_num(batch_raw) or 1))
    if metric in ("decode_tok_s", "total_throughput_tok_s") and speculative(
        f"{row.get('backend', '')} {row.get('notes', '')}"  # not the locator: file paths like .../mtp/REPORT.md
    ):
        return Rejected(rid, src, metric, "decoded with speculative decoding (several tokens per step); not comparable")
    if metric == "decode_tok_s":
        if _num(row.get("prompt_tokens")) is None and _LONG_UNSTATED_CONTEXT.search(text):
            return Rejected(rid, src, metric, "decode after a long prompt of unstated length; not comparable")
        # lengths not stated: read the rate as measured at the stated context (or a short one)
        gen_default = 1 if _num(row.get("prompt_tokens")) is not None else UNSTATED_GEN_TOKENS
        workload = Workload(prompt_tokens=prompt, gen_tokens=max(1, int(gen or gen_default)), batch=int(batch_raw))
    elif metric == "prefill_tok_s":
        if prompt <= 0:
            return Rejected(rid, src, metric, "prefill row without prompt length")
        workload = Workload(prompt_tokens=prompt, gen_tokens=1, batch=int(batch_raw), cached_tokens=depth)
    elif metric == "ttft_s":
        if prompt <= 0:
            return Rejected(rid, src, metric, "TTFT row without prompt length")
        workload = Workload(prompt_tokens=prompt, gen_tokens=1, batch=int(batch_raw))
    else:  # one request's output tokens over its whole time (TTFT included), stated lengths
        workload = Workload(prompt_tokens=prompt, gen_tokens=max(1, int(gen or 1)), batch=1)
    if cluster:
        # the cluster string lists every node; the row used the first ``count`` of them
        names = [name for name, n in cluster for _ in range(n)][:count]
        specs = [DeviceSpec(name=f"{dev.entry.id} {name.rsplit(' ', 1)[1]}") for name in names]
    else:
        name = f"{dev.entry.id} {dev.memory_gb:g}GB" if dev.memory_gb != dev.entry.memory_gb else dev.entry.id
        specs = [DeviceSpec(name=name, count=count)]
    described = f"{row.get('backend', '')} {row.get('interconnect', '')} {row.get('notes', '')}"
    link = None
    if count > 1:
        low = described.lower()
        if "rdma" in low and ("thunderbolt" in low or "tb5" in low):
            link = "tb5-rdma"
        elif "thunderbolt" in low or "tb5" in low:
            link = "tb5"
    try:
        problem = Problem(
            model=model.id,
            quant=quant.id,
            runtime=runtime.id,
            devices=specs,
            link=link,
            strategy=row_strategy(described, runtime.engine, count),  # type: ignore[arg-type]
            flash_attention=row_flash_attention(f"{described} {row.get('source_locator', '')}", runtime.engine, src),
            ubatch=stated_ubatch(described) or DEFAULT_UBATCH,
            workload=workload,
        )
    except (ValueError, ProblemError) as exc:
        return Rejected(rid, src, metric, f"cannot build problem: {exc}")
    from optimizer.perf.efficiency import runtime_key

    return MappedRow(
        row_id=rid,
        source_id=src,
        metric=metric,
        measured=value,
        problem=problem,
        depth=depth,
        device_family=dev.entry.family,
        runtime_key=runtime_key(runtime, dev.entry),
        flagged=any(word in f"{row.get('notes', '')} {row.get('backend', '')}".lower() for word in FLAG_WORDS),
    )


def map_frame(df: pd.DataFrame) -> tuple[list[MappedRow], list[Rejected]]:
    mapped: list[MappedRow] = []
    rejected: list[Rejected] = []
    for row in df.to_dict(orient="records"):
        res = map_row(row)
        (mapped if isinstance(res, MappedRow) else rejected).append(res)  # type: ignore[arg-type]
    return mapped, rejected
