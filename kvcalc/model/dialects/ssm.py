"""State-space readers: Mamba, Mamba2, and the hybrids built on them.

Shapes follow transformers 5.23's mixers. Mamba1 (`MambaMixer`, Jamba): a conv over the
`expand x hidden` inner channels and a state of (inner, d_state). Mamba2 (`Mamba2Mixer`, Bamba,
Granite 4.0-H, Falcon-H1, Zamba2): a conv over inner + 2 x groups x d_state channels and a state
of (heads, head dim, d_state). Defaults are the config classes' values.
"""

from __future__ import annotations

from kvcalc.model.architecture import Attention, LayerGroup, RecurrentState
from kvcalc.model.dialects.attention import build_attention, head_dim, num_heads, num_layers
from kvcalc.model.dialects.fields import ConfigReader
from kvcalc.model.dialects.layers import FULL, STATE, counted, from_names, layer_names, make_state


def _kv_heads(cfg: ConfigReader, heads: int, default: int | None) -> int:
    """num_key_value_heads; null (and, with no class default, absent) means one per head."""
    if cfg.raw.get("num_key_value_heads") is None and (
        default is None or "num_key_value_heads" in cfg.raw
    ):
        cfg.record("KV heads", "absent or null: one per attention head (MHA)")
        return heads
    return cfg.positive_int("KV heads", "num_key_value_heads", default=default)


def _attention(cfg: ConfigReader, default_heads: int, default_kv: int | None) -> Attention:
    """Attention heads, KV heads and `head_dim` (else hidden / heads), as these mixers take them."""
    heads = num_heads(cfg, default=default_heads)
    return build_attention(cfg, heads, _kv_heads(cfg, heads, default_kv), head_dim(cfg, heads))


def _inner(cfg: ConfigReader, expand_key: str) -> int:
    """The Mamba inner width: expand x hidden_size."""
    hidden = cfg.positive_int("hidden size", "hidden_size")
    inner = cfg.positive_int("Mamba expand", expand_key, default=2) * hidden
    cfg.record("Mamba inner width", f"{cfg.key_name(expand_key)} x {cfg.key_name('hidden_size')}")
    return inner


def _mamba1_state(cfg: ConfigReader, inner: int, keys: tuple[str, str]) -> RecurrentState:
    state_key, conv_key = keys
    d_state = cfg.positive_int("SSM state size", state_key, default=16)
    kernel = cfg.positive_int("conv kernel", conv_key, default=4)
    return make_state(cfg, inner, kernel, (inner, d_state))


def _mamba2_state(cfg: ConfigReader, inner: int, heads: int, dim: int, groups: int, d_state: int,
                  kernel: int) -> RecurrentState:  # fmt: skip
    if heads * dim != inner:
        raise cfg.error(
            f"{heads} Mamba heads x head dim {dim} must equal the Mamba inner width {inner}"
        )
    return make_state(cfg, inner + 2 * groups * d_state, kernel, (heads, dim, d_state), groups,
                      2 * d_state)  # fmt: skip


def _mamba2_prefixed(cfg: ConfigReader, inner: int, default_heads: int) -> RecurrentState:
    """Bamba, Granite 4.0-H, Falcon-H1: mamba_n_heads, mamba_d_head ("auto": inner / heads),
    mamba_n_groups, mamba_d_state, mamba_d_conv."""
    heads = cfg.positive_int("Mamba heads", "mamba_n_heads", default=default_heads)
    if cfg.raw.get("mamba_d_head", "auto") == "auto":
        cfg.record("Mamba head dim", "Mamba inner width / mamba_n_heads")
        dim = inner // heads
    else:
        dim = cfg.positive_int("Mamba head dim", "mamba_d_head")
    groups = cfg.positive_int("Mamba groups", "mamba_n_groups", default=1)
    d_state = cfg.positive_int("SSM state size", "mamba_d_state", default=256)
    kernel = cfg.positive_int("conv kernel", "mamba_d_conv", default=4)
    return _mamba2_state(cfg, inner, heads, dim, groups, d_state, kernel)


def mamba(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Mamba and Falcon-Mamba: a Mamba1 mixer on every layer.

    MambaConfig sets intermediate_size to expand x hidden_size whatever the file says; a file
    whose intermediate_size says otherwise is contradictory (vLLM reads intermediate_size).
    """
    layers = num_layers(cfg)
    inner = _inner(cfg, "expand")
    written = cfg.optional_positive_int("intermediate size", "intermediate_size")
    if written is not None and written != inner:
        raise cfg.error(f"intermediate_size {written} is not expand x hidden_size = {inner}")
    state = _mamba1_state(cfg, inner, ("state_size", "conv_kernel"))
    return (LayerGroup(STATE, layers, state=state),)


def mamba2(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Mamba2 (Codestral Mamba): a Mamba2 mixer on every layer."""
    layers = num_layers(cfg)
    inner = _inner(cfg, "expand")
    state = _mamba2_state(
        cfg, inner,
        heads=cfg.positive_int("Mamba heads", "num_heads", default=128),
        dim=cfg.positive_int("Mamba head dim", "head_dim", default=64),
        groups=cfg.positive_int("Mamba groups", "n_groups", default=8),
        d_state=cfg.positive_int("SSM state size", "state_size", default=128),
        kernel=cfg.positive_int("conv kernel", "conv_kernel", default=4),
    )  # fmt: skip
    return (LayerGroup(STATE, layers, state=state),)


def jamba(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Jamba: attention where layer % attn_layer_period == attn_layer_offset, Mamba1 elsewhere."""
    layers = num_layers(cfg)
    attention = _attention(cfg, default_heads=32, default_kv=8)
    period = cfg.positive_int("attention layer period", "attn_layer_period", default=8)
    offset = cfg.raw.get("attn_layer_offset", 4)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise cfg.error(f"attn_layer_offset must be a non-negative integer, got {offset!r}")
    cfg.record("layer kinds", "attn_layer_period, attn_layer_offset")
    state = _mamba1_state(cfg, _inner(cfg, "mamba_expand"), ("mamba_d_state", "mamba_d_conv"))
    kinds = [FULL if index % period == offset else STATE for index in range(layers)]
    return counted(kinds, attention, state)


def falcon_h1(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Falcon-H1: attention and a Mamba2 mixer side by side in every layer.

    The Mamba inner width is mamba_d_ssm (FalconH1Config's default: 1024), or expand x hidden
    when it is null.
    """
    layers = num_layers(cfg)
    attention = _attention(cfg, default_heads=32, default_kv=8)
    if "mamba_d_ssm" in cfg.raw and cfg.raw["mamba_d_ssm"] is None:
        inner = _inner(cfg, "mamba_expand")
    else:
        inner = cfg.positive_int("Mamba inner width", "mamba_d_ssm", default=1024)
    state = _mamba2_prefixed(cfg, inner, default_heads=128)
    return (LayerGroup(FULL, layers, attention), LayerGroup(STATE, layers, state=state))


def bamba(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Bamba: attention on the layers in attn_layer_indices (BambaConfig ignores indices past
    the last layer), Mamba2 on the rest."""
    layers = num_layers(cfg)
    indices = cfg.raw.get("attn_layer_indices")
    if indices is None:
        indices = []
    if not isinstance(indices, list) or any(
        isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in indices
    ):
        raise cfg.error("attn_layer_indices must list layer indices")
    cfg.record("layer kinds", cfg.key_name("attn_layer_indices"))
    attention = _attention(cfg, default_heads=32, default_kv=8)
    state = _mamba2_prefixed(cfg, _inner(cfg, "mamba_expand"), default_heads=128)
    attending = set(indices)  # a set: a long hostile list must not make this quadratic
    return counted([FULL if i in attending else STATE for i in range(layers)], attention, state)


def granitemoehybrid(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Granite 4.0-H: `layer_types` of mamba / attention (every layer Mamba2 when absent)."""
    layers = num_layers(cfg)
    allowed = ("mamba", "attention", "linear_attention", "full_attention")
    names = layer_names(cfg, "layer_types", layers, allowed) or ["mamba"] * layers
    attention = _attention(cfg, default_heads=32, default_kv=None)
    state = _mamba2_prefixed(cfg, _inner(cfg, "mamba_expand"), default_heads=128)
    return from_names(names, attention, state)


def zamba2(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Zamba2: Mamba2 on every layer; "hybrid" layers also run the shared attention block, whose
    keys and values are cached per layer, with head dim 2 x hidden / heads (Zamba2Config sets
    attention_head_dim so, whatever the file says: the block attends over the hidden state
    concatenated with the input embeddings)."""
    layers = num_layers(cfg)
    names = layer_names(cfg, "layers_block_type", layers,
                        ("mamba", "hybrid", "linear_attention"))  # fmt: skip
    if names is None:
        raise cfg.error("layers_block_type is missing (which layers run the shared attention)")
    heads = num_heads(cfg, default=32)
    hidden = cfg.positive_int("hidden size", "hidden_size")
    cfg.record("head dim", "2 x hidden_size / attention heads (Zamba2Config)")
    attention = build_attention(cfg, heads, _kv_heads(cfg, heads, None), 2 * hidden // heads)
    inner = _inner(cfg, "mamba_expand")
    mamba_heads = cfg.positive_int("Mamba heads", "n_mamba_heads", default=8)
    state = _mamba2_state(
        cfg, inner, mamba_heads, inner // mamba_heads,
        groups=cfg.positive_int("Mamba groups", "mamba_ngroups", default=1),
        d_state=cfg.positive_int("SSM state size", "mamba_d_state", default=64),
        kernel=cfg.positive_int("conv kernel", "mamba_d_conv", default=4),
    )  # fmt: skip
    return from_names(names, attention, state)
