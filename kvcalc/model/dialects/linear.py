"""Readers for hybrids of attention and linear attention or short convolutions.

Kimi Linear (KDA), MiniMax (lightning attention) and LFM2 (short convolutions); shapes as
transformers 5.23 caches them, defaults as its config classes set them.
"""

from __future__ import annotations

from kvcalc.model.architecture import LayerGroup
from kvcalc.model.dialects.attention import (
    build_attention,
    head_dim,
    mla_attention,
    num_heads,
    num_layers,
)
from kvcalc.model.dialects.fields import ConfigReader
from kvcalc.model.dialects.layers import from_names, layer_names, make_state

ATTENTION_OR_LINEAR = ("full_attention", "linear_attention")


def kimi_linear(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Kimi Linear: MLA layers and KDA layers.

    A KDA layer convolves q, k and v (heads x head dim each: one conv state of 3 x H x D
    channels) and keeps an (H, D, D) state. Layer kinds: `layer_types`, else
    linear_attn_config's 1-based full_attn_layers / kda_layers, else every 4th layer from
    index 4 full (KimiLinearConfig).
    """
    layers = num_layers(cfg)
    attention = mla_attention(cfg)
    linear = cfg.nested("linear_attn_config") if "linear_attn_config" in cfg.raw else None
    source = linear if linear is not None else cfg
    names = ("num_heads", "head_dim", "short_conv_kernel_size") if linear is not None else (
        "linear_num_heads", "linear_head_dim", "linear_conv_kernel_dim")  # fmt: skip
    heads = source.positive_int("KDA heads", names[0], default=32)
    dim = source.positive_int("KDA head dim", names[1], default=128)
    kernel = source.positive_int("conv kernel", names[2], default=4)
    state = make_state(cfg, 3 * heads * dim, kernel, (heads, dim, dim))
    kinds = layer_names(cfg, "layer_types", layers, ATTENTION_OR_LINEAR)
    if kinds is None and linear is not None and "full_attn_layers" in linear.raw:
        kinds = _one_based_kinds(linear, layers)
    if kinds is None:
        cfg.record("layer kinds", f"default for model_type {cfg.model_type!r}: every 4th full")
        kinds = [ATTENTION_OR_LINEAR[not (i and i % 4 == 0)] for i in range(layers)]
    return from_names(kinds, attention, state)


def _one_based_kinds(linear: ConfigReader, layers: int) -> list[str]:
    """full_attn_layers and kda_layers: 1-based layer numbers that must cover every layer once."""
    lists = [linear.raw.get("full_attn_layers"), linear.raw.get("kda_layers")]
    numbers = [n for found in lists if isinstance(found, list) for n in found]
    whole = all(isinstance(found, list) for found in lists)
    if not whole or sorted(n if type(n) is int else 0 for n in numbers) != list(
        range(1, layers + 1)
    ):
        raise linear.error(
            f"{linear.key_name('full_attn_layers')} and {linear.key_name('kda_layers')} must "
            f"number each of the {layers} layers once, from 1"
        )
    linear.record("layer kinds", linear.key_name("full_attn_layers"))
    full = set(numbers[: len(lists[0]) if isinstance(lists[0], list) else 0])
    return [ATTENTION_OR_LINEAR[index + 1 not in full] for index in range(layers)]


def minimax(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """MiniMax-Text-01 (native `minimax`): softmax attention and lightning-attention layers.

    A lightning layer keeps one (heads, head dim, head dim) key-value state and no conv.
    Without layer_types, even-indexed layers are full (MiniMaxConfig).
    """
    layers = num_layers(cfg)
    heads = num_heads(cfg)
    kv_heads = cfg.positive_int("KV heads", "num_key_value_heads", default=8)
    dim = head_dim(cfg, heads)
    if cfg.present("sliding_window"):
        raise cfg.error("sliding_window on MiniMax attention layers is not modelled")
    kinds = layer_names(cfg, "layer_types", layers, ATTENTION_OR_LINEAR)
    if kinds is None:
        cfg.record("layer kinds", f"default for model_type {cfg.model_type!r}: even layers full")
        kinds = [ATTENTION_OR_LINEAR[index % 2] for index in range(layers)]
    state = make_state(cfg, 0, 0, (heads, dim, dim))
    return from_names(kinds, build_attention(cfg, heads, kv_heads, dim), state)


def lfm2(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """LFM2: attention layers and short-convolution layers (a conv state of hidden_size
    channels and conv_L_cache taps, no recurrent state). Kinds from layer_types, else
    full_attn_idxs (Lfm2Config: every layer attention when both are absent)."""
    layers = num_layers(cfg)
    heads = num_heads(cfg)
    kv_heads = cfg.positive_int("KV heads", "num_key_value_heads", default=8)
    attention = build_attention(cfg, heads, kv_heads, head_dim(cfg, heads))
    hidden = cfg.positive_int("hidden size", "hidden_size")
    state = make_state(cfg, hidden, cfg.positive_int("conv kernel", "conv_L_cache", default=3), ())
    names = layer_names(cfg, "layer_types", layers, ("full_attention", "conv"))
    if names is None and cfg.model_type == "lfm2_moe":
        raise cfg.error("layer_types is missing (which layers are attention, which conv)")
    if names is None:
        indices = cfg.raw.get("full_attn_idxs", list(range(layers)))
        if not isinstance(indices, list) or any(
            isinstance(i, bool) or not isinstance(i, int) for i in indices
        ):
            raise cfg.error("full_attn_idxs must list layer indices")
        cfg.record("layer kinds", cfg.key_name("full_attn_idxs"))
        full = set(indices)  # a set: a long hostile list must not make this quadratic
        names = ["full_attention" if i in full else "conv" for i in range(layers)]
    return from_names(names, attention, state)
