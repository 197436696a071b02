"""Fit the efficiency constants of the analytic core on measured results.

Library side of ``benchmarks/fit_efficiency.py`` (which writes the committed constants) and of
``mlba validate --cv`` (which refits without one source or family to measure generalisation).

Model (physics first, few constants):
  decode  t = bytes_per_token / min~(peak_bw * eta_bw, sm_count * clock * sm_bw) + layers * c_layer + c_token
              bytes_per_token counts routed-expert bytes r times (r: per runtime with MoE decode rows on
              three device families; the gathered expert matvec's time per byte over the dense matvec's)
              + the attention kernels: the larger of KV bytes / (that bandwidth * kv_eff) and attention
              FLOPs at the prefill fit's sustained attention rate (binds for absorbed MLA)
  prefill t = flops / (peak_flops * min~(eta_c, tdp * flops_per_w / peak_fp16)) + chunks * layers * c_prefill_layer
              + (without flash attention) the score matrix's DRAM round trip (roofline.unfused_score_s, not fitted)
              + (MoE) routed-expert flops / sustained * h / rows per expert GEMM (ubatch * top-k / experts)
  h: per runtime with MoE prefill rows from two sources, the expert GEMM rows at which experts run at half rate.
  eta_bw = eta[runtime, quant kernel] * f[runtime, device family]     (f shrunk toward 1)
  eta_c  = etc[runtime, quant kernel] * g[runtime, device family]     (g shrunk toward 1)
  c_layer, c_token, c_prefill_layer: one each per runtime.
  sm_bw: per runtime, the bytes one NVIDIA SM draws per cycle with the loads the runtime's kernels
  keep in flight (Little's law); flops_per_w: per runtime, the tensor throughput a watt of rated
  board power sustains at full clocks. min~ is efficiency.combine_limits (in prefill below the knee the
  rate falls with the square root of the power budget: roofline.power_bounded_share); both priors are "no limit".
  eta[runtime, kernel] is shrunk toward the runtime's typical eta (KERNEL_SHRINK); in decode each
  source's fixed costs carry a factor shrunk toward 1 (SOURCE_OVERHEAD_SHRINK) that predictions drop.
Loss: squared log error, each source weighted equally (a source's rows share weight 1/sqrt(n)).
Only single-device, batch-1 rows are fitted; multi-device and batched rows are for validation.
Output: the constants (JSON) plus the list of rows used with their residuals (CSV).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.measurements import MappedRow
from optimizer.perf.efficiency import PHYSICS_PRIOR, combine_limits, hardware_limits_fitted_on, sm_ghz
from optimizer.perf.memory import memory_use
from optimizer.perf.roofline import (
    expert_row_s,
    peak_tflops,
    power_bounded_share,
    quant_peak_tflops,
    unfused_score_s,
)
from optimizer.perf.workload import (
    active_flops_per_token,
    attention_flops,
    decode_weight_bytes,
    kv_read_bytes,
    routed_expert_decode_bytes,
    whole_model,
)
from optimizer.problem import resolve
from optimizer.results import Analysis

SECONDARY_WEIGHT = {"S13_LLAMACPP_4167_SECONDARY": 0.5, "P35_LLAMACPP_CUDA_SCOREBOARD_SECONDARY": 0.5}
SHRINK = 1.0  # pull of family multipliers toward 1 (log space), about residual noise / family spread;
# chosen by cross-validation: 0.05 -> LOSO decode 28.0%, 0.5 -> 13.8%, 1.0 -> 12.4% (LOFO 13.9, 13.3, 13.7%)
PRIOR_STRENGTH = 0.05  # pull of the overheads toward the priors below (they are weakly identified)
PRIOR_LAYER_US = {"decode": 15.0, "prefill": 30.0}  # kernel launches per layer, a few us each
PRIOR_TOKEN_US = 300.0  # sampling, graph launch, host sync per token
PRIOR_MOE_HALF_TOKENS = 16.0  # expert GEMM rows at half rate: a tensor-core tile is 16-128 rows
KERNEL_SHRINK = 0.5  # pull of a runtime's kernel efficiencies toward its typical one (log space); by CV, none -> 0.5:
# LOFO decode 11.1% -> 10.5% (within 30% 79.6 -> 83.8%), LOSO 12.2% -> 12.8% (76.1 -> 80.2%), prefill LOSO 23.4 -> 21.2%
SOURCE_OVERHEAD_SHRINK = 0.3  # pull of per-source overhead factors toward 1 (0 = none); by CV: 1.0 -> LOFO
# decode 13.4% (79.5% within 30%); 0.3 -> 11.1% (79.6%); 0.1 -> 10.8% (75.3%) and DeepSeek R1 on M3 Ultra +31%
MIN_LIMIT_DEVICES = 4  # a hardware limit (SMs, power) is fitted only for runtimes measured on this many NVIDIA GPUs
# Per-runtime hardware limits, (fit start, "no limit" prior, floor): decode, bytes per SM cycle (the
# prior is twice the highest datasheet bytes per SM cycle in the catalog, B200's 26; the start binds
# on HBM GPUs so the optimiser can feel it); prefill, FP16-class TFLOPS per rated watt (the prior is
# 4x the highest datasheet ratio, B200's 2.25; the start binds on professional cards).
LIMIT_START_PRIOR_FLOOR = {"decode": (6.0, 60.0, 1.0), "prefill": (0.5, 10.0, 0.05)}
ETA_CAP = 0.92  # achievable share of peak DRAM bandwidth or compute (STREAM-like ceiling)
CAP_PENALTY = 10.0
MIN_ROWS_FOR_OVERHEAD = 4  # fewer multi-device rows than this: keep the prior hop/collective cost
MIN_SOURCES_FOR_OVERHEAD = 2  # ... or rows of one source and one model (its quirks are not the runtime's)
# the MoE decode factor competes with each family's efficiency factor: where a runtime's MoE rows sit on
# one or two device families, those families' factors (and MoE-only kernels such as MXFP4) can stand in
# for it (llama.cpp CUDA, MoE rows mostly on the DGX Spark: 1.3 with it, 2.3 without it)
MIN_FAMILIES_FOR_EXPERT_READS = 3


@dataclass
class Obs:
    row: MappedRow
    phase: str  # decode | prefill
    unit_s: float  # time at efficiency 1 (bytes/peak_bw or matmul flops/peak)
    attn_s: float  # prefill: attention flops / peak (runs at a lower efficiency)
    layers: int
    chunks: int
    measured_s: float
    kernel: str
    weight: float = 1.0
    # the peak per unit of the hardware limit fitted per runtime (None: not an NVIDIA GPU): decode,
    # datasheet GB/s per SM x GHz (the SMs' loads in flight); prefill, FP16 TFLOPS per rated watt
    peak_per_limit: float | None = None
    score_s: float = 0.0  # prefill without flash attention: the score matrix's DRAM round trip (physical)
    expert_s: float = 0.0  # prefill of an MoE: routed-expert time at efficiency 1, per token of expert GEMM rows
    expert_read_s: float = 0.0  # decode of an MoE: the part of unit_s spent reading routed experts
    attn_flops_s: float = 0.0  # decode: attention FLOPs (absorbed MLA) / quant peak
    linear_layers: int = 0  # decode: linear-attention layers (hybrid models)
    attn_compute_s: float = 0.0  # decode: those FLOPs at the prefill fit's sustained attention rate


def observations(rows: list[MappedRow]) -> list[Obs]:
    out: list[Obs] = []
    for r in rows:
        p = r.problem
        if r.flagged or r.held_out:
            continue
        n_devices = sum(d.count for d in p.devices)
        if n_devices != 1 or p.workload.batch != 1 or r.metric not in ("decode_tok_s", "prefill_tok_s"):
            continue
        rp = resolve(p)
        inst = rp.devices[0]
        d, m, q = inst.device, rp.model, rp.quant
        s = whole_model(m)
        w = p.workload
        mem = memory_use(d, inst.memory_gb, inst.runtime, m, q, s, w.context_tokens, 1, rp.kv_bytes_per_element)
        if mem.total_gb > 1.1 * mem.capacity_gb:
            continue  # the stated setup cannot hold this model: the row's model or quant is mislabelled
        if r.metric == "decode_tok_s":
            ctx = w.prompt_tokens + (w.gen_tokens - 1) / 2
            weights = decode_weight_bytes(m, q, s, 1)
            kv = kv_read_bytes(m, s, ctx, rp.kv_bytes_per_element)
            out.append(
                Obs(
                    r,
                    "decode",
                    weights / (d.bandwidth_gb_s * 1e9),
                    kv / (d.bandwidth_gb_s * 1e9),
                    m.layers,
                    1,
                    1.0 / r.measured,
                    q.kernel,
                    peak_per_limit=d.bandwidth_gb_s / cycles if (cycles := sm_ghz(d)) else None,
                    expert_read_s=routed_expert_decode_bytes(m, q, s, 1) / (d.bandwidth_gb_s * 1e9),
                    attn_flops_s=attention_flops(m, s, 1, int(ctx), absorbed=True)
                    / (quant_peak_tflops(d, q, inst.runtime.engine) * 1e12),
                    linear_layers=m.attention.linear_attention_layers,
                )
            )
        else:
            n = w.prompt_tokens
            matmul = n * active_flops_per_token(m, s)
            attn = attention_flops(m, s, n, w.cached_tokens)
            peak = quant_peak_tflops(d, q, inst.runtime.engine) * 1e12
            chunks = max(1, math.ceil(n / p.ubatch))
            score = 0.0 if p.flash_attention else unfused_score_s(d, m, s, n, w.cached_tokens, p.ubatch)
            out.append(
                Obs(
                    r,
                    "prefill",
                    matmul / peak,
                    attn / peak,
                    m.layers,
                    chunks,
                    n / r.measured,
                    q.kernel,
                    # the fitted TFLOPS/W over this gives roofline.power_cap_fraction
                    peak_per_limit=(
                        peak_tflops(d, "fp16", inst.runtime.engine) / d.tdp_w if hardware_limits_fitted_on(d) else None
                    ),
                    score_s=score,
                    expert_s=expert_row_s(m, s, n, p.ubatch, peak),
                )
            )
    counts: dict[str, int] = defaultdict(int)
    for o in out:
        counts[o.row.source_id + o.phase] += 1
    for o in out:
        o.weight = SECONDARY_WEIGHT.get(o.row.source_id, 1.0) / math.sqrt(counts[o.row.source_id + o.phase])
    return out


def _runtimes_with_moe_evidence(obs: list[Obs], sources_needed: int, families_needed: int = 1) -> list[str]:
    """Runtimes with MoE rows (of the phase ``obs`` hold) from ``sources_needed`` sources and
    ``families_needed`` device families, enough to fit how their expert kernels differ from the dense ones."""
    return _runtimes_with_evidence(obs, lambda o: bool(o.expert_s or o.expert_read_s), sources_needed, families_needed)


def _runtimes_with_evidence(
    obs: list[Obs], shows: Callable[[Obs], bool], sources_needed: int, families_needed: int
) -> list[str]:
    """Runtimes whose rows that ``shows`` the effect come from ``sources_needed`` sources and
    ``families_needed`` device families (so no one source's or family's factor can stand in for it)."""
    sources: dict[str, set[str]] = defaultdict(set)
    families: dict[str, set[str]] = defaultdict(set)
    for o in obs:
        if shows(o):
            sources[o.row.runtime_key].add(o.row.source_id)
            families[o.row.runtime_key].add(o.row.device_family)
    return sorted(rk for rk in sources if len(sources[rk]) >= sources_needed and len(families[rk]) >= families_needed)


def _runtimes_with_limit_evidence(obs: list[Obs]) -> list[str]:
    """Runtimes whose single-device rows cover enough NVIDIA GPUs, from enough sources, to tell a
    hardware limit (SMs in decode, power in prefill) from a family's own efficiency."""
    devices: dict[str, set[str]] = defaultdict(set)
    sources: dict[str, set[str]] = defaultdict(set)
    for o in obs:
        if o.peak_per_limit is not None:
            devices[o.row.runtime_key].add(str(o.row.problem.devices[0].name))
            sources[o.row.runtime_key].add(o.row.source_id)
    return sorted(
        rk for rk in devices if len(devices[rk]) >= MIN_LIMIT_DEVICES and len(sources[rk]) >= MIN_SOURCES_FOR_OVERHEAD
    )


class _Params:
    """The fit's parameter vector, laid out in named blocks: each block maps its keys to indices and
    records every entry's start value, prior, prior strength and bounds, so no offsets leak out."""

    def __init__(self) -> None:
        self.start: list[float] = []
        self.prior: list[float] = []
        self.strength: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def block(
        self,
        keys: Iterable[Any],
        start: float,
        *,
        prior: float | None = None,
        strength: float = 0.0,
        lower: float = -np.inf,
        upper: float = np.inf,
    ) -> dict[Any, int]:
        """Append one entry per key (log-space values; ``prior`` defaults to ``start``)."""
        at = {}
        for k in keys:
            at[k] = len(self.start)
            self.start.append(start)
            self.prior.append(start if prior is None else prior)
            self.strength.append(strength)
            self.lower.append(lower)
            self.upper.append(upper)
        return at

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.array(v, dtype=float) for v in (self.start, self.prior, self.strength, self.lower, self.upper))


def fit_phase(obs: list[Obs], phase: str) -> dict:
    from scipy.optimize import least_squares  # the fit needs scipy; predictions do not

    decode = phase == "decode"
    obs = [o for o in obs if o.phase == phase]
    rks = sorted({o.row.runtime_key for o in obs})
    rk_fam = sorted({(o.row.runtime_key, o.row.device_family) for o in obs})
    eta0 = math.log(0.6 if decode else 0.4)
    P = _Params()
    # kernel efficiency per runtime x kernel; per-family factors (decode: on bandwidth and on fixed
    # costs; prefill: on compute and on attention), shrunk toward 1
    ik = P.block(sorted({(o.row.runtime_key, o.kernel) for o in obs}), eta0, upper=math.log(0.98) if decode else np.inf)
    jf = P.block(rk_fam, 0.0, strength=SHRINK)
    hf = P.block(rk_fam, 0.0, strength=SHRINK)
    # per runtime: decode, per-layer and per-token costs and the KV-cache read efficiency relative to
    # the weights'; prefill, the per-layer-chunk cost (pinned near its prior) and attention efficiency
    layer = P.block(
        rks,
        math.log(PRIOR_LAYER_US[phase] * 1e-6),
        strength=PRIOR_STRENGTH if decode else 1.0,
        lower=math.log(1e-8),
        upper=math.log(0.05),
    )
    if decode:
        second = P.block(
            rks, math.log(PRIOR_TOKEN_US * 1e-6), strength=PRIOR_STRENGTH, lower=math.log(1e-8), upper=math.log(0.05)
        )
    else:
        second = P.block(rks, math.log(0.2), strength=0.01, lower=math.log(0.05), upper=0.0)
    kv = P.block(rks, 0.0, strength=0.05 if decode else 10.0, lower=math.log(0.05), upper=0.0)
    # per runtime with the evidence: the hardware limit (SM loads in flight / power), weak prior "none"
    lim_start, lim_prior, lim_floor = LIMIT_START_PRIOR_FLOOR[phase]
    limit_at = P.block(
        _runtimes_with_limit_evidence(obs),
        math.log(lim_start),
        prior=math.log(lim_prior),
        strength=PRIOR_STRENGTH,
        lower=math.log(lim_floor),
        upper=math.log(lim_prior),
    )
    # each source ran its own build and harness: a per-source factor on the fixed per-step costs,
    # shrunk toward 1, so the runtime's overheads are those of a typical source, not the largest one
    srcs = sorted({o.row.source_id for o in obs}) if decode and SOURCE_OVERHEAD_SHRINK else []
    src_at = P.block(srcs, 0.0, strength=SOURCE_OVERHEAD_SHRINK, lower=-math.log(20.0), upper=math.log(20.0))
    # each runtime's typical kernel efficiency: its kernels' efficiencies are shrunk toward it, so a
    # kernel seen in two rows of one source cannot swing far
    rb_at = P.block(rks, eta0, upper=math.log(0.98) if decode else np.inf)
    # prefill, per runtime with MoE rows: the expert GEMM rows at which routed experts run at half rate
    moe_at = P.block(
        [] if decode else _runtimes_with_moe_evidence(obs, MIN_SOURCES_FOR_OVERHEAD),
        math.log(PRIOR_MOE_HALF_TOKENS),
        strength=PRIOR_STRENGTH,
        lower=math.log(0.1),
        upper=math.log(4096.0),
    )
    # decode, per runtime with MoE rows on MIN_FAMILIES_FOR_EXPERT_READS families: the routed experts'
    # time per byte over the dense weights'
    expert_at = P.block(
        _runtimes_with_moe_evidence(obs, MIN_SOURCES_FOR_OVERHEAD, MIN_FAMILIES_FOR_EXPERT_READS) if decode else [],
        0.0,
        strength=PRIOR_STRENGTH,
        lower=math.log(0.3),
        upper=math.log(10.0),
    )
    # decode, per runtime with hybrid-model rows on three families: the extra fixed cost of a
    # linear-attention layer
    linear_at = P.block(
        _runtimes_with_evidence(
            obs, lambda o: o.linear_layers > 0, MIN_SOURCES_FOR_OVERHEAD, MIN_FAMILIES_FOR_EXPERT_READS
        )
        if decode
        else [],
        math.log(PRIOR_LAYER_US["decode"] * 1e-6),
        strength=PRIOR_STRENGTH,
        lower=math.log(1e-8),
        upper=math.log(0.05),
    )
    x0, prior, strength, lower, upper = P.arrays()
    combos = sorted({(o.row.runtime_key, o.kernel, o.row.device_family) for o in obs})

    def predict(x: np.ndarray) -> np.ndarray:
        t = np.empty(len(obs))
        for n, o in enumerate(obs):
            rk, fam = o.row.runtime_key, o.row.device_family
            eta = math.exp(x[ik[(rk, o.kernel)]] + x[jf[(rk, fam)]])
            if o.peak_per_limit is not None and rk in limit_at:  # the SMs (decode) or the power (prefill)
                limit = math.exp(x[limit_at[rk]]) / o.peak_per_limit
                eta = combine_limits(eta, limit) if decode else power_bounded_share(eta, limit)
            if decode:
                h = math.exp(x[hf[(rk, fam)]])
                if srcs:
                    h *= math.exp(x[src_at[o.row.source_id]])
                fixed = o.layers * math.exp(x[layer[rk]]) + math.exp(x[second[rk]])
                if rk in linear_at:
                    fixed += o.linear_layers * math.exp(x[linear_at[rk]])
                unit = o.unit_s + (o.expert_read_s * (math.exp(x[expert_at[rk]]) - 1.0) if rk in expert_at else 0.0)
                t[n] = unit / eta + max(o.attn_s / (eta * math.exp(x[kv[rk]])), o.attn_compute_s) + h * fixed
            else:
                attn_eff = min(1.0, math.exp(x[second[rk]] + x[hf[(rk, fam)]]))
                moe = o.expert_s * math.exp(x[moe_at[rk]]) if rk in moe_at else 0.0
                t[n] = (
                    (o.unit_s + moe) / eta
                    + o.attn_s / (eta * attn_eff)
                    + o.score_s
                    + o.chunks * o.layers * math.exp(x[layer[rk]])
                )
        return t

    meas = np.array([o.measured_s for o in obs])
    wts = np.array([o.weight for o in obs])

    def residuals(x: np.ndarray) -> np.ndarray:
        r = wts * (np.log(predict(x)) - np.log(meas))
        kernel_pull = np.array([KERNEL_SHRINK * (x[i] - x[rb_at[rk]]) for (rk, _), i in ik.items()])
        pulls = strength * (x - prior)
        cap = np.array(
            [
                CAP_PENALTY * max(0.0, x[ik[(rk, k)]] + x[jf[(rk, f)]] - math.log(ETA_CAP))
                for rk, k, f in combos
                if decode  # prefill may exceed the FP32-accumulate datasheet peak (GeForce)
            ]
        )
        return np.concatenate([r, pulls, kernel_pull, cap])

    sol = least_squares(residuals, x0, bounds=(lower, upper))
    x = sol.x
    pred = predict(x)
    ape = np.abs(pred / meas - 1)
    result = {
        "eta": {f"{rk}|{k}": math.exp(x[i]) for (rk, k), i in ik.items()},
        "family": {f"{rk}|{f}": math.exp(x[j]) for (rk, f), j in jf.items()},
        "overhead_family": {f"{rk}|{f}": math.exp(x[j]) for (rk, f), j in hf.items()},
        "overheads": {rk: [math.exp(x[block[rk]]) for block in (layer, second, kv)] for rk in rks},
        # kept only where the data pulled it below "no limit"
        "limit": {rk: round(math.exp(x[i]), 3) for rk, i in limit_at.items() if math.exp(x[i]) < 0.9 * lim_prior},
        "source_factor": {sid: round(math.exp(x[i]), 3) for sid, i in src_at.items()},
        "moe_half_tokens": {rk: round(math.exp(x[i]), 2) for rk, i in moe_at.items()},
        "expert_read_factor": {rk: round(math.exp(x[i]), 3) for rk, i in expert_at.items()},
        "linear_layer_us": {rk: round(math.exp(x[i]) * 1e6, 3) for rk, i in linear_at.items()},
        "rows": [
            (o.row.row_id, o.row.source_id, phase, o.row.measured, float(p_), float(a))
            for o, p_, a in zip(obs, pred, ape, strict=True)
        ],
        "median_ape": float(np.median(ape)) if len(ape) else None,
    }
    return result


def geo_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def weighted_geo_mean(pairs: list[tuple[float, int]]) -> float:
    """Geometric mean of values weighted by row counts (each at least 1)."""
    total = sum(max(1, n) for _, n in pairs)
    return math.exp(sum(max(1, n) * math.log(v) for v, n in pairs) / total)


def _classes(families: set[str]) -> dict[str, list[str]]:
    """Measured families grouped by the memory class of their catalog devices."""
    from catalog.loader import load_catalog
    from optimizer.perf.efficiency import memory_class

    by_family: dict[str, str] = {}
    for d in load_catalog().devices.values():
        by_family.setdefault(d.family, memory_class(d))
    out: dict[str, list[str]] = defaultdict(list)
    for f in sorted(families):
        if f in by_family:
            out[by_family[f]].append(f)
    return out


def assemble(dec: dict, pre: dict, row_info: dict[str, tuple[str, str, str]]) -> dict:
    groups: dict[str, dict] = {}
    rks = set(dec["overheads"]) | set(pre["overheads"])

    def etas(fit: dict, rk: str) -> dict[str, float]:
        return {k.split("|", 1)[1]: v for k, v in fit["eta"].items() if k.split("|", 1)[0] == rk}

    def fams(fit: dict, rk: str) -> dict[str, float]:
        return {k.split("|", 1)[1]: v for k, v in fit["family"].items() if k.split("|", 1)[0] == rk}

    kernel_ratios: dict[str, list[float]] = defaultdict(list)
    for rk in rks:
        de, pe = etas(dec, rk), etas(pre, rk)
        df_, pf_ = fams(dec, rk), fams(pre, rk)
        d_all = geo_mean(list(de.values())) if de else None
        p_all = geo_mean(list(pe.values())) if pe else None
        for k, v in de.items():
            if d_all:
                kernel_ratios[k].append(v / d_all)
        d_over = dec["overheads"].get(rk, [15e-6, 1e-3, 1.0])
        p_over = pre["overheads"].get(rk, [50e-6, 0.5])
        kernels = set(de) | set(pe)
        families = set(df_) | set(pf_)

        def count(fit: dict, rk_: str, fam: str | None, kern: str | None) -> int:
            return sum(
                1
                for r in fit["rows"]
                if r[0] in row_info
                and row_info[r[0]][0] == rk_
                and (fam is None or row_info[r[0]][1] == fam)
                and (kern is None or row_info[r[0]][2] == kern)
            )

        hfam = {k.split("|", 1)[1]: v for k, v in dec["overhead_family"].items() if k.split("|", 1)[0] == rk}
        afam = {k.split("|", 1)[1]: v for k, v in pre["overhead_family"].items() if k.split("|", 1)[0] == rk}
        # memory-class pseudo-families: the geometric mean of the measured families of each class,
        # weighted by their rows, so a family seen in two rows cannot drag its whole class along
        for cls, members in _classes(families).items():
            key = f"class:{cls}"
            for table, fit_ in ((df_, dec), (pf_, pre), (hfam, dec), (afam, pre)):
                pairs = [(table[f], count(fit_, rk, f, None)) for f in members if f in table]
                if pairs:
                    table[key] = weighted_geo_mean(pairs)
            families = families | {key}

        def entry(bw: float | None, c: float | None, n_dec: int, n_pre: int, fam: str | None = None) -> dict:
            h = hfam.get(fam, 1.0) if fam else 1.0
            return {
                "bw_eff": round(min(ETA_CAP, bw) if bw else 0.7, 4),
                "compute_eff": round(c if c else 0.45, 4),
                "layer_overhead_us": round(h * d_over[0] * 1e6, 3),
                "token_overhead_us": round(h * d_over[1] * 1e6, 2),
                "prefill_layer_overhead_us": round(p_over[0] * 1e6, 3),
                "kv_eff": round(d_over[2], 4),
                "attention_eff": round(min(1.0, p_over[1] * (afam.get(fam, 1.0) if fam else 1.0)), 4),
                "n_decode": n_dec,
                "n_prefill": n_pre,
            }

        groups[f"{rk}|*|*"] = entry(d_all, p_all, count(dec, rk, None, None), count(pre, rk, None, None))
        for k in kernels:
            groups[f"{rk}|*|{k}"] = entry(
                de.get(k, d_all), pe.get(k, p_all), count(dec, rk, None, k), count(pre, rk, None, k)
            )
        for f in families:
            groups[f"{rk}|{f}|*"] = entry(
                d_all * df_.get(f, 1.0) if d_all else None,
                p_all * pf_.get(f, 1.0) if p_all else None,
                count(dec, rk, f, None),
                count(pre, rk, f, None),
                f,
            )
            for k in kernels:
                groups[f"{rk}|{f}|{k}"] = entry(
                    de.get(k, d_all) * df_.get(f, 1.0) if (de.get(k) or d_all) else None,
                    pe.get(k, p_all) * pf_.get(f, 1.0) if (pe.get(k) or p_all) else None,
                    count(dec, rk, f, k),
                    count(pre, rk, f, k),
                    f,
                )
    kernel_factors = {k: round(geo_mean(v), 4) for k, v in kernel_ratios.items()}
    return {"groups": groups, "kernel_factors": kernel_factors}


class _Zeros(dict):
    """Every hop/collective key at zero (the trial run of the fit measures what the rows leave)."""

    def get(self, key: object, default: object = None) -> float:  # type: ignore[override]
        return 0.0


def fit_hop_overheads(mapped: list[MappedRow], constants: dict) -> tuple[dict[str, float], list]:
    """Per engine and link class (bus or network): the decode time a multi-device pipeline loses
    per hop beyond the link's own latency and transfer (stream sync, RPC round trips). Median over
    batch-1 rows; the trial run uses no hop overhead at all."""
    from optimizer.perf import efficiency

    per_rk: dict[str, list[float]] = defaultdict(list)
    sources: dict[str, set[str]] = defaultdict(set)
    used = []
    trial = {**constants, "hop_overhead_us": _Zeros()}
    with efficiency.using_constants(trial):
        for r, key, a in _one_link_kind_decode_rows(mapped, "pipeline"):
            hops = len(a.links)
            base = 1.0 / a.system.decode_tok_s - sum(lk.time_per_token_ms for lk in a.links) * 1e-3
            link_only = sum(lk.latency_us * 1e-6 + lk.bytes_per_token / (lk.bandwidth_gb_s * 1e9) for lk in a.links)
            per_rk[key].append((1.0 / r.measured - base - link_only) / hops)
            sources[key].add(f"{r.source_id}|{r.problem.model}")
            used.append((r.row_id, r.source_id, "hop", r.measured, a.system.decode_tok_s, 0.0))
    return _medians(per_rk, sources), used


def _one_link_kind_decode_rows(mapped: list[MappedRow], strategy: str) -> Iterator[tuple[MappedRow, str, Analysis]]:
    """Batch-1 decode rows of several devices run with ``strategy`` over one kind of link, with
    their overhead key (engine and link class) and their analysis under the current constants."""
    from optimizer.analyze import analyze
    from optimizer.perf import efficiency

    for r in mapped:
        n = sum(d.count for d in r.problem.devices)
        if r.metric != "decode_tok_s" or n < 2 or r.problem.workload.batch != 1 or r.flagged or r.held_out:
            continue
        if r.problem.strategy != strategy:
            continue
        rp = resolve(r.problem)
        kinds = {lk.kind for lk in rp.hops}
        if len(kinds) != 1:
            continue
        try:
            a = analyze(r.problem, evidence=False)
        except ValueError:
            continue
        if a.fits:
            yield r, efficiency.hop_key(rp.runtime, kinds.pop(), rp.devices[0].device), a


def _medians(per_rk: dict[str, list[float]], sources: dict[str, set[str]]) -> dict[str, float]:
    """Median per key, kept only with enough rows over at least two (source, model) pairs (else the
    prior applies)."""
    return {
        rk: round(max(0.0, float(np.median(v))) * 1e6, 2)
        for rk, v in per_rk.items()
        if len(v) >= MIN_ROWS_FOR_OVERHEAD and len(sources[rk]) >= MIN_SOURCES_FOR_OVERHEAD
    }


def fit_collective_overheads(mapped: list[MappedRow], constants: dict) -> tuple[dict[str, float], list]:
    """Per runtime: the fixed cost of one tensor-parallel all-reduce beyond the link's latency and
    transfer (kernel launches, synchronisation), from batch-1 tensor-parallel decode rows."""
    from optimizer.perf import efficiency
    from optimizer.perf.plan import ALLREDUCES_PER_LAYER

    per_rk: dict[str, list[float]] = defaultdict(list)
    sources: dict[str, set[str]] = defaultdict(set)
    used = []
    trial = {**constants, "collective_overhead_us": _Zeros()}
    with efficiency.using_constants(trial):
        for r, key, a in _one_link_kind_decode_rows(mapped, "tensor"):
            # the trial ran with no per-call overhead: attribute the residual to the calls
            ops = ALLREDUCES_PER_LAYER * a.devices[0].layers
            per_rk[key].append((1.0 / r.measured - 1.0 / a.system.decode_tok_s) / ops)
            sources[key].add(f"{r.source_id}|{r.problem.model}")
            used.append((r.row_id, r.source_id, "collective", r.measured, a.system.decode_tok_s, 0.0))
    return _medians(per_rk, sources), used


def _attach_decode_attention(obs: list[Obs], pre: dict) -> None:
    """Give each decode row its attention kernels' compute time at the rate the prefill fit found for
    its runtime, family and kernel (roofline.decode_attention_s: it binds for absorbed MLA at long
    context); runtimes without prefill rows take the physics prior."""
    etas: dict[str, list[float]] = defaultdict(list)
    for key, v in pre["eta"].items():
        etas[key.split("|", 1)[0]].append(v)
    typical = {rk: geo_mean(v) for rk, v in etas.items()}
    for o in obs:
        if o.phase != "decode" or not o.attn_flops_s:
            continue
        rk, fam = o.row.runtime_key, o.row.device_family
        if rk not in typical:
            o.attn_compute_s = o.attn_flops_s / (PHYSICS_PRIOR.compute_eff * PHYSICS_PRIOR.attention_eff)
            continue
        eta_c = pre["eta"].get(f"{rk}|{o.kernel}", typical[rk]) * pre["family"].get(f"{rk}|{fam}", 1.0)
        attn_eff = min(1.0, pre["overheads"][rk][1] * pre["overhead_family"].get(f"{rk}|{fam}", 1.0))
        o.attn_compute_s = o.attn_flops_s / (eta_c * attn_eff)


def fit(mapped: list[MappedRow]) -> dict:
    """Fit every group on the usable rows of ``mapped``; returns the constants and the rows used."""
    obs = observations(mapped)
    row_info = {o.row.row_id: (o.row.runtime_key, o.row.device_family, o.kernel) for o in obs}
    pre = fit_phase(obs, "prefill")
    _attach_decode_attention(obs, pre)
    dec = fit_phase(obs, "decode")
    out = assemble(dec, pre, row_info)
    out["sm_bandwidth_gb_s"] = dec["limit"]
    out["tflops_per_watt"] = pre["limit"]
    out["moe_prefill_half_tokens"] = pre["moe_half_tokens"]
    out["moe_decode_read_factor"] = dec["expert_read_factor"]
    out["linear_layer_overhead_us"] = dec["linear_layer_us"]
    # diagnostics only (predictions use a typical source's overheads): each source's factor on them
    out["source_overhead_factor"] = dec["source_factor"]
    out["hop_overhead_us"], hop_rows = fit_hop_overheads(mapped, out)
    out["collective_overhead_us"], coll_rows = fit_collective_overheads(mapped, out)
    out["rows"] = dec["rows"] + pre["rows"] + hop_rows + coll_rows
    out["in_sample_median_ape"] = {"decode": dec["median_ape"], "prefill": pre["median_ape"]}
    return out
