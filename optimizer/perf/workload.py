"""Bytes and FLOPs of a slice of a model: what one device must read and compute per step.

A :class:`Slice` is a contiguous layer range on one device, with flags for the embedding (first
stage) and the output head (last stage). Functions here are pure arithmetic on the architecture and
the quantization; no device or efficiency enters.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.schema import Model, Quant
from optimizer.perf.architecture import (
    ParamBreakdown,
    kv_bytes_per_token_per_layer,
    param_breakdown,
)

VISION_BITS = 16.0  # vision towers ship unquantized (GGUF mmproj f16, MLX keeps them bf16)


@dataclass(frozen=True)
class Shard:
    """The share of a slice's work one device does under tensor, expert or context parallelism.

    ``dense``: non-expert weights and their FLOPs (attention, dense FFN, shared experts, embedding and
    head; 1/t under tensor parallel degree t). ``experts``: routed experts (1/t under TP, 1/n under
    expert parallel). ``kv``: KV cache held and read (1/t under TP when the KV heads divide, 1 for
    MLA's shared latent; 1/n of the sequence under context parallel decode). ``tokens``: the share of
    the tokens this device computes (1/n of the prompt under context parallel prefill)."""

    dense: float = 1.0
    experts: float = 1.0
    kv: float = 1.0
    tokens: float = 1.0

    @property
    def attention(self) -> float:
        """Share of the attention FLOPs per token: its query heads (1/t under TP, even where the KV
        heads or MLA's latent are replicated) over its share of the keys (1/n under context parallel)."""
        return min(self.dense, self.kv)


FULL = Shard()


@dataclass(frozen=True)
class Slice:
    start: int
    end: int  # exclusive
    has_embedding: bool
    has_head: bool

    @property
    def layers(self) -> int:
        return self.end - self.start


def whole_model(m: Model) -> Slice:
    return Slice(0, m.layers, True, True)


def _counts(pb: ParamBreakdown, s: Slice) -> tuple[int, int]:
    dense = max(0, min(s.end, pb.dense_layers) - s.start)
    return dense, s.layers - dense


def _bits(quant: Quant) -> tuple[float, float, float]:
    """Bits for the layers, the embedding and the output head. GGUF mixes are catalogued by their
    whole-file average (llama.cpp's published bits per weight), which already includes the
    higher-precision head, so the average applies to every tensor there."""
    body = quant.bits_per_weight
    if quant.format == "gguf":
        return body, body, body
    return body, quant.embedding_bits or body, quant.output_bits or body


def _head_params(pb: ParamBreakdown) -> float:
    return pb.output_head if pb.output_head else pb.embedding  # tied: the head reads the embedding


def _non_expert_params(m: Model, pb: ParamBreakdown, s: Slice) -> float:
    """Parameters of slice ``s`` that every token reads: attention, dense FFNs, shared experts and
    the slice's share of the extra parameters (no embedding, head or routed experts)."""
    dense, moe = _counts(pb, s)
    non_expert = dense * (pb.attention_per_layer + pb.dense_ffn_per_layer) + moe * (
        pb.attention_per_layer + pb.moe_shared_per_layer
    )
    return non_expert + pb.extra * (s.layers / m.layers)


def weight_bytes(m: Model, q: Quant, s: Slice, shard: Shard = FULL) -> float:
    """Bytes of the weights resident on one device holding ``shard`` of slice ``s``."""
    pb = param_breakdown(m)
    body, emb_bits, out_bits = _bits(q)
    moe = _counts(pb, s)[1]
    non_expert = _non_expert_params(m, pb, s)
    total = non_expert * shard.dense * body / 8 + moe * pb.moe_routed_per_layer * shard.experts * body / 8
    if s.has_embedding:
        total += (pb.embedding * emb_bits / 8 + pb.vision * VISION_BITS / 8) * shard.dense
    if s.has_head and pb.output_head:
        total += pb.output_head * out_bits / 8 * shard.dense
    elif s.has_head and not s.has_embedding:
        total += pb.embedding * emb_bits / 8 * shard.dense  # tied head on a later stage: its own copy
    return total


def experts_touched(experts: int, active: int, batch: int) -> float:
    """Expected distinct experts one MoE layer reads for ``batch`` tokens (uniform routing)."""
    return experts * (1.0 - (1.0 - active / experts) ** batch)


def decode_weight_bytes(m: Model, q: Quant, s: Slice, batch: int = 1, shard: Shard = FULL) -> float:
    """Weight bytes one device reads for a decode step of ``batch`` sequences (MoE: the experts the
    batch touches, spread evenly over the devices that hold experts)."""
    pb = param_breakdown(m)
    body, _, out_bits = _bits(q)
    total = _non_expert_params(m, pb, s) * shard.dense * body / 8 + routed_expert_decode_bytes(m, q, s, batch, shard)
    if s.has_head:
        head_bits = out_bits if pb.output_head else _bits(q)[1]
        total += _head_params(pb) * head_bits / 8 * shard.dense
    return total


def routed_expert_decode_bytes(m: Model, q: Quant, s: Slice, batch: int = 1, shard: Shard = FULL) -> float:
    """The part of :func:`decode_weight_bytes` spent on routed experts (0 for a dense model)."""
    if m.moe is None:
        return 0.0
    pb = param_breakdown(m)
    per_expert = pb.moe_routed_per_layer / m.moe.experts
    touched = experts_touched(m.moe.experts, m.moe.active_experts, batch)
    return _counts(pb, s)[1] * per_expert * touched * shard.experts * _bits(q)[0] / 8


def kv_read_bytes(m: Model, s: Slice, context: float, kv_bytes: float) -> float:
    """KV-cache bytes one sequence reads per decode step at ``context`` tokens, for this slice."""
    a = m.attention
    per_tok = kv_bytes_per_token_per_layer(m, kv_bytes)
    share = s.layers / m.layers
    full = m.layers - a.sliding_window_layers - a.linear_attention_layers
    window = min(context, a.sliding_window) if a.sliding_window else context
    return share * per_tok * (full * context + a.sliding_window_layers * window)


def active_flops_per_token(m: Model, s: Slice, shard: Shard = FULL) -> float:
    """2 x active parameters of the slice this device computes (matmul FLOPs per token)."""
    pb = param_breakdown(m)
    moe = _counts(pb, s)[1]
    non_expert = _non_expert_params(m, pb, s)
    if s.has_head:
        non_expert += _head_params(pb)
    return 2.0 * shard.tokens * (non_expert * shard.dense + moe * pb.moe_active_routed_per_layer * shard.experts)


def routed_expert_flops_per_token(m: Model, s: Slice, shard: Shard = FULL) -> float:
    """The part of :func:`active_flops_per_token` spent in routed experts (0 for a dense model)."""
    pb = param_breakdown(m)
    return 2.0 * shard.tokens * _counts(pb, s)[1] * pb.moe_active_routed_per_layer * shard.experts


def tokens_per_expert(m: Model, micro_batch: float) -> float:
    """Tokens each routed expert receives from a micro-batch (uniform routing: tokens x top-k / experts);
    the rows of that expert's GEMM. Infinite for a dense model."""
    if m.moe is None:
        return float("inf")
    return micro_batch * m.moe.active_experts / m.moe.experts


def attention_flops(m: Model, s: Slice, new_tokens: int, past_tokens: int, absorbed: bool = False) -> float:
    """Score and value FLOPs for ``new_tokens`` attending to ``past_tokens`` + themselves (causal).

    ``absorbed``: MLA as runtimes decode it (FlashMLA, llama.cpp, mlx-lm since PR #839): the key and
    value up-projections are folded into the query and output, so each head scores the cached latent
    (kv_lora_rank + rope dims) and sums values over kv_lora_rank dims. Prefill runs the expanded form."""
    a = m.attention
    if a.kind == "mla" and absorbed:
        dim = 2 * (a.kv_lora_rank or 0) + (a.qk_rope_head_dim or 0)
    elif a.kind == "mla":
        qk = (a.qk_nope_head_dim or 0) + (a.qk_rope_head_dim or 0)
        dim = qk + (a.v_head_dim or 0)
    else:
        dim = 2 * m.head_dim
    # average keys seen by each new token: past + (new + 1) / 2
    keys = past_tokens + (new_tokens + 1) / 2
    full = m.layers - a.sliding_window_layers - a.linear_attention_layers
    windowed_keys = min(keys, a.sliding_window) if a.sliding_window else keys
    eff_layers = (full * keys + a.sliding_window_layers * windowed_keys) * (s.layers / m.layers)
    return 2.0 * new_tokens * m.heads * dim * eff_layers


def attention_score_elements(m: Model, s: Slice, new_tokens: int, past_tokens: int, ubatch: int) -> float:
    """Attention scores an unfused (non-flash) kernel writes to memory for ``new_tokens`` after
    ``past_tokens``: one per head, new token and key seen, per layer. The whole score matrix of a
    micro-batch of ``ubatch`` tokens is materialised (the causal mask zeroes entries, it does not skip
    them), so the j-th micro-batch sees every key up to its end."""
    a = m.attention
    keys = past_tokens + (new_tokens + min(new_tokens, ubatch)) / 2
    full = m.layers - a.sliding_window_layers - a.linear_attention_layers
    windowed_keys = min(keys, a.sliding_window) if a.sliding_window else keys
    eff_layers = (full * keys + a.sliding_window_layers * windowed_keys) * (s.layers / m.layers)
    return new_tokens * m.heads * eff_layers


def activation_bytes_per_token(m: Model) -> float:
    """Hidden state passed between pipeline stages per token (fp16)."""
    return 2.0 * m.hidden_size
