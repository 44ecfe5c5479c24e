"""Readers beyond plain decoder attention: hybrids, per-layer blocks, encoder-decoder."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from kvcalc.architecture import Attention, LayerGroup, LayerKind, RecurrentState
from kvcalc.dialects.attention import (
    build_attention,
    head_dim,
    kv_heads_or_heads,
    num_heads,
    num_layers,
)
from kvcalc.dialects.fields import ConfigReader
from kvcalc.dialects.patterns import group_layers, kinds_from_layer_types

STATE, NONE, FULL = LayerKind.STATE, LayerKind.NONE, LayerKind.FULL


def _state(cfg: ConfigReader, channels: int, kernel: int, shape: tuple[int, ...]) -> RecurrentState:
    try:
        return RecurrentState(channels, kernel, shape)
    except ValueError as error:
        raise cfg.error(str(error)) from None


def _counted(kinds: list[LayerKind], attention: Attention, state: RecurrentState | None,
             window: int | None = None) -> tuple[LayerGroup, ...]:  # fmt: skip
    """Groups in a fixed order (attention first) from a per-layer list of kinds."""
    counts = Counter(kinds)
    groups = []
    for kind in (FULL, LayerKind.SLIDING, STATE, NONE):
        if counts[kind]:
            groups.append(
                LayerGroup(
                    kind, counts[kind],
                    attention=attention if kind in (FULL, LayerKind.SLIDING) else None,
                    window_tokens=window if kind is LayerKind.SLIDING else None,
                    state=state if kind is STATE else None,
                )
            )  # fmt: skip
    return tuple(groups)


def qwen3_next(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Qwen3-Next: gated DeltaNet layers, every `full_attention_interval`-th layer full."""
    layers = num_layers(cfg)
    heads = num_heads(cfg)
    attention = build_attention(cfg, heads, kv_heads_or_heads(cfg, heads), head_dim(cfg, heads))
    key_heads = cfg.positive_int("linear key heads", "linear_num_key_heads")
    key_dim = cfg.positive_int("linear key head dim", "linear_key_head_dim")
    value_heads = cfg.positive_int("linear value heads", "linear_num_value_heads")
    value_dim = cfg.positive_int("linear value head dim", "linear_value_head_dim")
    kernel = cfg.positive_int("conv kernel", "linear_conv_kernel_dim")
    state = _state(cfg, 2 * key_heads * key_dim + value_heads * value_dim, kernel,
                   (value_heads, key_dim, value_dim))  # fmt: skip
    names = cfg.string_list("layer_types")
    if names is None:
        interval = cfg.positive_int("full attention interval", "full_attention_interval")
        kinds = [FULL if (i + 1) % interval == 0 else STATE for i in range(layers)]
    else:
        if len(names) != layers or set(names) - {"full_attention", "linear_attention"}:
            raise cfg.error("layer_types must list full_attention or linear_attention per layer")
        cfg.record("layer kinds", cfg.key_name("layer_types"))
        kinds = [FULL if name == "full_attention" else STATE for name in names]
    return _counted(kinds, attention, state)


def nemotron_h(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Nemotron-H: `hybrid_override_pattern`, M = Mamba2, * = attention, - and E = no cache."""
    pattern = cfg.string("hybrid_override_pattern")
    layers = num_layers(cfg)
    if pattern is None or len(pattern) != layers or set(pattern) - set("M*-E"):
        raise cfg.error(
            f"hybrid_override_pattern must give one of M * - E for each of the {layers} layers"
        )
    cfg.record("layer kinds", cfg.key_name("hybrid_override_pattern"))
    heads = num_heads(cfg)
    attention = build_attention(cfg, heads, kv_heads_or_heads(cfg, heads), head_dim(cfg, heads))
    mamba_heads = cfg.positive_int("Mamba heads", "mamba_num_heads")
    mamba_dim = cfg.positive_int("Mamba head dim", "mamba_head_dim")
    groups = cfg.positive_int("Mamba groups", "n_groups")
    state_size = cfg.positive_int("SSM state size", "ssm_state_size")
    kernel = cfg.positive_int("conv kernel", "conv_kernel")
    state = _state(cfg, mamba_heads * mamba_dim + 2 * groups * state_size, kernel,
                   (mamba_heads, mamba_dim, state_size))  # fmt: skip
    by_symbol = {"M": STATE, "*": FULL, "-": NONE, "E": NONE}
    return _counted([by_symbol[symbol] for symbol in pattern], attention, state)


def nemotron_nas(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Nemotron-NAS (DeciLM): `block_configs` per layer; no-op or linear attention has no cache."""
    blocks = cfg.raw.get("block_configs")
    layers = num_layers(cfg)
    if not isinstance(blocks, list) or len(blocks) != layers:
        raise cfg.error(f"block_configs must list a block for each of the {layers} layers")
    cfg.record("layer kinds", cfg.key_name("block_configs"))
    heads = num_heads(cfg)
    dim = head_dim(cfg, heads)
    kv_per_layer: list[int | None] = []
    for index, block in enumerate(blocks):
        attention = block.get("attention") if isinstance(block, dict) else None
        if not isinstance(attention, dict):
            raise cfg.error(f"block_configs[{index}].attention must be an object")
        inner = ConfigReader(attention, cfg.model_type, f"block_configs[{index}].attention.")
        if inner.flag("no_op", default=False) or inner.flag("replace_with_linear", default=False):
            kv_per_layer.append(None)
            continue
        group = inner.positive_int("heads per KV head", "n_heads_in_group")
        if heads % group:
            raise inner.error(f"n_heads_in_group {group} does not divide {heads} heads")
        kv_per_layer.append(heads // group)
    counts = Counter(kv_per_layer)
    groups = [
        LayerGroup(FULL, count, build_attention(cfg, heads, kv, dim))
        for kv, count in sorted(counts.items(), key=lambda item: -(item[0] or 0))
        if kv is not None
    ]
    if counts[None]:
        groups.append(LayerGroup(NONE, counts[None]))
    return tuple(groups)


def gemma4(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Gemma 4: sliding layers with head_dim/KV heads, full layers with their global ones."""
    layers = num_layers(cfg)
    heads = num_heads(cfg)
    if cfg.raw.get("num_kv_shared_layers") not in (None, 0):
        raise cfg.error("num_kv_shared_layers > 0 (KV-sharing layers) is not modelled yet")
    cfg.record("KV-shared layers", cfg.key_name("num_kv_shared_layers"))
    sliding = build_attention(cfg, heads, kv_heads_or_heads(cfg, heads), head_dim(cfg, heads))
    global_kv = cfg.positive_int("global KV heads", "num_global_key_value_heads")
    global_dim = cfg.positive_int("global head dim", "global_head_dim")
    full = build_attention(cfg, heads, global_kv, global_dim)
    kinds = kinds_from_layer_types(cfg, layers)
    if kinds is None:
        raise cfg.error("layer_types is missing")
    window = cfg.positive_int("sliding window", "sliding_window")
    (full_group, *rest) = group_layers(cfg, kinds, full, window=window)
    sliding_groups = [LayerGroup(g.kind, g.count, sliding, g.window_tokens) for g in rest]
    return (full_group, *sliding_groups)


def encoder_decoder(
    layer_keys: tuple[str, ...], head_keys: tuple[str, ...]
) -> Callable[[ConfigReader], tuple[LayerGroup, ...]]:
    """T5, BART, Whisper: decoder self-attention plus cross-attention over the encoder."""

    def read(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
        layers = cfg.positive_int("decoder layers", *layer_keys)
        heads = cfg.positive_int("decoder attention heads", *head_keys)
        attention = build_attention(cfg, heads, heads, head_dim(cfg, heads))
        return (
            LayerGroup(FULL, layers, attention),
            LayerGroup(LayerKind.CROSS, layers, attention),
        )

    return read
