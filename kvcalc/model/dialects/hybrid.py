"""Readers for layouts beyond plain decoder attention: hybrids, per-layer blocks, KV sharing,
encoder-decoder."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from kvcalc.model.architecture import LayerGroup, LayerKind
from kvcalc.model.dialects.attention import (
    build_attention,
    head_dim,
    kv_heads_or_heads,
    num_heads,
    num_layers,
)
from kvcalc.model.dialects.fields import ConfigReader
from kvcalc.model.dialects.layers import counted as _counted
from kvcalc.model.dialects.layers import make_state as _state
from kvcalc.model.dialects.patterns import every_nth_full, group_layers, kinds_from_layer_types

STATE, NONE, FULL = LayerKind.STATE, LayerKind.NONE, LayerKind.FULL
Reader = Callable[[ConfigReader], tuple[LayerGroup, ...]]


def gated_deltanet(default_interval: int | None) -> Reader:
    """Qwen3-Next and Qwen3.5: gated DeltaNet layers, every `full_attention_interval`-th layer
    full (Qwen3.5's config class defaults it to 4; Qwen3-Next's files always say)."""

    def read(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
        return _gated_deltanet(cfg, default_interval)

    return read


def _gated_deltanet(cfg: ConfigReader, default_interval: int | None) -> tuple[LayerGroup, ...]:
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
        interval = cfg.positive_int(
            "full attention interval", "full_attention_interval", default=default_interval
        )
        kinds = [FULL if (i + 1) % interval == 0 else STATE for i in range(layers)]
    else:
        if len(names) != layers or set(names) - {"full_attention", "linear_attention"}:
            raise cfg.error("layer_types must list full_attention or linear_attention per layer")
        cfg.record("layer kinds", cfg.key_name("layer_types"))
        if "full_attention_interval" in cfg.raw:  # the config classes ignore it then
            cfg.record("unused with layer_types", cfg.key_name("full_attention_interval"))
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
                   (mamba_heads, mamba_dim, state_size), groups, 2 * state_size)  # fmt: skip
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


def gemma3n(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Gemma 3n: 4 sliding layers then 1 full; the last num_kv_shared_layers layers reuse the
    keys and values of earlier layers and store none (Gemma3nTextConfig defaults: 8 heads,
    2 KV heads, head_dim 256, window 512, 15 shared layers)."""
    layers = num_layers(cfg)
    heads = num_heads(cfg, default=8)
    kv_heads = cfg.positive_int("KV heads", "num_key_value_heads", default=2)
    attention = build_attention(cfg, heads, kv_heads, head_dim(cfg, heads, default=256))
    window = cfg.positive_int("sliding window", "sliding_window", default=512)
    shared = cfg.raw.get("num_kv_shared_layers", 15)
    if isinstance(shared, bool) or not isinstance(shared, int) or not 0 <= shared < layers:
        raise cfg.error(f"num_kv_shared_layers must be an integer from 0 to {layers - 1}")
    cfg.record("KV-shared layers", cfg.key_name("num_kv_shared_layers"))
    kinds = kinds_from_layer_types(cfg, layers) or every_nth_full(layers, 5)
    storing = group_layers(cfg, kinds[: layers - shared], attention, window=window)
    return (*storing, LayerGroup(NONE, shared)) if shared else storing


def mimo_v2(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """MiMo-V2-Flash: full layers and sliding layers with their own KV heads and head dims.

    Sliding layers: swa_num_key_value_heads (else twice num_key_value_heads, as
    MiMoV2FlashAttention builds them), swa_head_dim / swa_v_head_dim (else the full layers').
    Window: sliding_window_size + 1 (the query and that many previous tokens), else
    sliding_window. Kinds: layer_types, else hybrid_layer_pattern (1 = sliding), else layer 0
    and every 6th layer full (MiMoV2FlashConfig).
    """
    layers = num_layers(cfg)
    heads = num_heads(cfg, default=64)
    kv_heads = cfg.positive_int("KV heads", "num_key_value_heads", default=4)
    k_dim = cfg.positive_int("head dim", "head_dim", default=192)
    v_dim = cfg.positive_int("V head dim", "v_head_dim", default=128)
    full = build_attention(cfg, heads, kv_heads, k_dim, v_dim)
    sliding = build_attention(
        cfg,
        cfg.positive_int("sliding heads", "swa_num_attention_heads", default=heads),
        cfg.positive_int("sliding KV heads", "swa_num_key_value_heads", default=2 * kv_heads),
        cfg.positive_int("sliding head dim", "swa_head_dim", default=k_dim),
        cfg.positive_int("sliding V head dim", "swa_v_head_dim", default=v_dim),
    )
    if cfg.present("sliding_window_size"):
        window = cfg.positive_int("sliding window", "sliding_window_size") + 1
    else:
        window = cfg.positive_int("sliding window", "sliding_window", default=129)
    if cfg.present("attention_chunk_size"):
        # Not chunked attention: vLLM strips the key from MiMo-V2 configs
        # (_strip_mimo_v2_attention_chunk_size, model_arch_config_convertor.py).
        cfg.record("ignored for MiMo-V2", cfg.key_name("attention_chunk_size"))
    kinds = kinds_from_layer_types(cfg, layers)
    pattern = cfg.raw.get("hybrid_layer_pattern")
    if kinds is None and pattern is not None:
        if not isinstance(pattern, list) or len(pattern) != layers or set(pattern) - {0, 1}:
            raise cfg.error(
                f"hybrid_layer_pattern must give 0 or 1 for each of the {layers} layers"
            )
        cfg.record("layer kinds", cfg.key_name("hybrid_layer_pattern"))
        kinds = [LayerKind.SLIDING if value else FULL for value in pattern]
    if kinds is None:
        kinds = [FULL if i == 0 or (i + 1) % 6 == 0 else LayerKind.SLIDING for i in range(layers)]
    groups = group_layers(cfg, kinds, full, window=window)
    return tuple(
        LayerGroup(g.kind, g.count, sliding, g.window_tokens) if g.window_tokens else g
        for g in groups
    )


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
