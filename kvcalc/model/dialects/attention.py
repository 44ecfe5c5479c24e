"""Reading heads, KV heads and head dims from the key spellings of each config dialect."""

from __future__ import annotations

from kvcalc.model.architecture import Attention, LayerGroup, LayerKind, MlaDims
from kvcalc.model.dialects.class_defaults import class_int
from kvcalc.model.dialects.fields import ConfigReader

LAYERS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
HEADS = ("num_attention_heads", "n_head", "num_heads", "n_heads")
KV_HEADS = ("num_key_value_heads", "num_kv_heads", "n_head_kv")
HIDDEN = ("hidden_size", "n_embd", "n_embed", "d_model", "dim")
HEAD_DIM = ("head_dim", "kv_channels", "attention_head_dim", "d_kv")


def num_layers(cfg: ConfigReader) -> int:
    return cfg.positive_int("layers", *LAYERS)


def num_heads(cfg: ConfigReader, default: int | None = None) -> int:
    """The head count; absent, the config class's default if it has one (Gemma 2/3)."""
    if default is None:
        found = class_int(cfg, "attention heads", HEADS, "heads")
        if found is not None:
            return found
    return cfg.positive_int("attention heads", *HEADS, default=default)


def head_dim(cfg: ConfigReader, heads: int, default: int | None = None) -> int:
    """An explicit head dim; absent (or null), the config class's fixed default if it has one,
    else hidden size / heads."""
    explicit = cfg.optional_positive_int("head dim", *HEAD_DIM)
    if explicit is not None:
        return explicit
    if default is None and cfg.first_key(HEAD_DIM) is None:
        found = class_int(cfg, "head dim", HEAD_DIM, "head_dim")
        if found is not None:
            return found
    if default is not None:
        cfg.record("head dim", f"default {default} for model_type {cfg.model_type!r}")
        return default
    hidden = cfg.positive_int("hidden size", *HIDDEN)
    if hidden % heads:
        raise cfg.error(
            f"head_dim is missing and hidden size {hidden} is not divisible by {heads} heads"
        )
    cfg.record("head dim", "hidden size / attention heads")
    return hidden // heads


def kv_heads_or_heads(cfg: ConfigReader, heads: int, keys: tuple[str, ...] = KV_HEADS) -> int:
    """The KV head count. Left out, the config class's fixed default if it has one (Mistral's
    8), else multi-head (one KV head per head); null is multi-head, as every class reads it."""
    key = cfg.first_key(keys)
    if key is None:
        found = class_int(cfg, "KV heads", keys, "kv_heads")
        if found is not None:
            return found
        cfg.record("KV heads", "absent: one per attention head (MHA)")
        return heads
    if cfg.raw[key] is None:
        cfg.record("KV heads", f"{cfg.key_name(key)} null: one per attention head (MHA)")
        return heads
    return cfg.positive_int("KV heads", *keys)


def build_attention(
    cfg: ConfigReader,
    heads: int,
    kv_heads: int,
    k_dim: int,
    v_dim: int | None = None,
    mla: MlaDims | None = None,
) -> Attention:
    """An Attention value; an inconsistency becomes an error naming the model_type."""
    try:
        return Attention(heads, kv_heads, k_dim, k_dim if v_dim is None else v_dim, mla)
    except ValueError as error:
        raise cfg.error(str(error)) from None


def standard_attention(cfg: ConfigReader) -> Attention:
    """Heads, KV heads (absent: MHA) and head dim (absent: hidden / heads) in Llama-style keys."""
    heads = num_heads(cfg)
    return build_attention(cfg, heads, kv_heads_or_heads(cfg, heads), head_dim(cfg, heads))


def mla_attention(cfg: ConfigReader) -> Attention:
    """DeepSeek-style latent attention: kv_lora_rank + qk_rope_head_dim cached per token."""
    heads = num_heads(cfg)
    try:
        dims = MlaDims(
            kv_lora_rank=cfg.positive_int("MLA latent rank", "kv_lora_rank"),
            qk_rope_head_dim=cfg.positive_int("MLA RoPE key dim", "qk_rope_head_dim"),
            qk_nope_head_dim=cfg.positive_int("MLA no-RoPE key dim", "qk_nope_head_dim"),
            v_head_dim=cfg.positive_int("MLA value dim", "v_head_dim"),
            indexer_dim=cfg.optional_positive_int("sparse-attention indexer dim", "index_head_dim")
            or 0,
        )
    except ValueError as error:
        raise cfg.error(str(error)) from None
    k_dim = dims.qk_nope_head_dim + dims.qk_rope_head_dim
    return build_attention(cfg, heads, heads, k_dim, dims.v_head_dim, dims)


def uniform(count: int, attention: Attention) -> tuple[LayerGroup, ...]:
    """`count` full-attention layers."""
    return (LayerGroup(LayerKind.FULL, count, attention),)
