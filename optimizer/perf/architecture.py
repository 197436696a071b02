"""Parameter counts, FLOPs and KV-cache geometry derived from a model's architecture.

Everything is computed from the catalog fields; nothing is read from published counts (a test
checks the two agree within 3%).
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.schema import Model


@dataclass(frozen=True)
class ParamBreakdown:
    """Parameter counts (absolute, not billions) by where they live."""

    embedding: float
    output_head: float
    attention_per_layer: float
    dense_ffn_per_layer: float
    moe_routed_per_layer: float  # all routed experts of one MoE layer
    moe_active_routed_per_layer: float  # the top-k routed experts of one MoE layer
    moe_shared_per_layer: float  # shared experts + router of one MoE layer
    dense_layers: int
    moe_layers: int
    extra: float
    vision: float

    @property
    def transformer_total(self) -> float:
        return self.dense_layers * (self.attention_per_layer + self.dense_ffn_per_layer) + self.moe_layers * (
            self.attention_per_layer + self.moe_routed_per_layer + self.moe_shared_per_layer
        )

    @property
    def total(self) -> float:
        return self.embedding + self.output_head + self.transformer_total + self.extra + self.vision

    @property
    def active(self) -> float:
        """Parameters touched per token (embedding lookup excluded only if untied? no: counted)."""
        per_moe_layer = self.attention_per_layer + self.moe_active_routed_per_layer + self.moe_shared_per_layer
        return (
            self.embedding
            + self.output_head
            + self.dense_layers * (self.attention_per_layer + self.dense_ffn_per_layer)
            + self.moe_layers * per_moe_layer
            + self.extra
            + self.vision
        )

    def layer_params(self, layer: int) -> float:
        """All weights of transformer layer ``layer`` (0-based)."""
        if layer < self.dense_layers:
            return self.attention_per_layer + self.dense_ffn_per_layer
        return self.attention_per_layer + self.moe_routed_per_layer + self.moe_shared_per_layer


def attention_params(m: Model) -> float:
    h = m.hidden_size
    a = m.attention
    if a.kind == "mla":
        assert a.qk_rope_head_dim and a.qk_nope_head_dim and a.v_head_dim and a.kv_lora_rank
        qk_dim = a.qk_nope_head_dim + a.qk_rope_head_dim
        q = h * a.q_lora_rank + a.q_lora_rank * m.heads * qk_dim if a.q_lora_rank else h * m.heads * qk_dim
        kv = h * (a.kv_lora_rank + a.qk_rope_head_dim) + a.kv_lora_rank * m.heads * (a.qk_nope_head_dim + a.v_head_dim)
        o = m.heads * a.v_head_dim * h
        return float(q + kv + o)
    q = h * m.heads * m.head_dim
    kv = 2 * h * m.kv_heads * m.head_dim
    o = m.heads * m.head_dim * h
    return float(q + kv + o)


def ffn_params(hidden: int, ffn: int, gated: bool) -> float:
    return float((3 if gated else 2) * hidden * ffn)


def param_breakdown(m: Model) -> ParamBreakdown:
    h = m.hidden_size
    embedding = float(m.vocab_size * h)
    output_head = 0.0 if m.tied_embeddings else float(m.vocab_size * h)
    attn = attention_params(m)
    dense_ffn = ffn_params(h, m.ffn_size, m.ffn_gated)
    if m.moe is None:
        return ParamBreakdown(
            embedding=embedding,
            output_head=output_head,
            attention_per_layer=attn,
            dense_ffn_per_layer=dense_ffn,
            moe_routed_per_layer=0.0,
            moe_active_routed_per_layer=0.0,
            moe_shared_per_layer=0.0,
            dense_layers=m.layers,
            moe_layers=0,
            extra=m.extra_params_b * 1e9,
            vision=(m.vision.params_b * 1e9) if m.vision else 0.0,
        )
    e = m.moe
    expert = ffn_params(h, e.expert_ffn_size, m.ffn_gated)
    shared_ffn = e.shared_expert_ffn_size or e.expert_ffn_size
    shared = e.shared_experts * ffn_params(h, shared_ffn, m.ffn_gated) + h * e.experts  # + router
    return ParamBreakdown(
        embedding=embedding,
        output_head=output_head,
        attention_per_layer=attn,
        dense_ffn_per_layer=dense_ffn,
        moe_routed_per_layer=e.experts * expert,
        moe_active_routed_per_layer=e.active_experts * expert,
        moe_shared_per_layer=shared,
        dense_layers=e.dense_layers,
        moe_layers=m.layers - e.dense_layers,
        extra=m.extra_params_b * 1e9,
        vision=(m.vision.params_b * 1e9) if m.vision else 0.0,
    )


def total_params(m: Model) -> float:
    return param_breakdown(m).total


def active_params(m: Model) -> float:
    return param_breakdown(m).active


def kv_bytes_per_token_per_layer(m: Model, kv_bytes_per_element: float) -> float:
    """KV cache bytes one token adds to one full-attention layer."""
    a = m.attention
    if a.kind == "mla":
        assert a.kv_lora_rank and a.qk_rope_head_dim
        return (a.kv_lora_rank + a.qk_rope_head_dim) * kv_bytes_per_element
    return 2.0 * m.kv_heads * m.head_dim * kv_bytes_per_element


def kv_cache_bytes(m: Model, tokens: int, kv_bytes_per_element: float, layers: int | None = None) -> float:
    """KV cache for ``tokens`` tokens over ``layers`` layers (default all), windows and linear
    attention layers taken into account (spread proportionally over any layer subset)."""
    n = m.layers if layers is None else layers
    a = m.attention
    share = n / m.layers
    per_tok = kv_bytes_per_token_per_layer(m, kv_bytes_per_element)
    full = m.layers - a.sliding_window_layers - a.linear_attention_layers
    window_tokens = min(tokens, a.sliding_window) if a.sliding_window else tokens
    return share * per_tok * (full * tokens + a.sliding_window_layers * window_tokens)
