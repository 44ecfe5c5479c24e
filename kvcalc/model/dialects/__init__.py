"""config.json dialects → Architecture: the only code that reads raw config keys."""

from __future__ import annotations

from collections.abc import Mapping

from kvcalc.errors import ConfigError, UnsupportedConfigError
from kvcalc.model.architecture import (
    Architecture,
    Attention,
    ComputeDims,
    LayerGroup,
    LayerKind,
    NaiveDims,
)
from kvcalc.model.dialects.attention import num_layers
from kvcalc.model.dialects.class_defaults import max_positions
from kvcalc.model.dialects.families import READERS
from kvcalc.model.dialects.fields import ConfigReader

__all__ = ["read_architecture"]

# Layouts kvcalc recognises but does not model yet: refused, never computed with a wrong rule.
_UNMODELLED_TYPES: dict[str, str] = {
    **dict.fromkeys(
        ("m2m_100", "nllb_moe", "blenderbot", "led", "prophetnet", "switch_transformers"),
        "encoder-decoder models (decoder self-attention plus cross-attention over the encoder)",
    ),
    # Remote-code dialects with no native transformers class to check a reading against.
    "minimax_text_01": "the remote-code dialect's attn_type_list (lightning-attention layers); "
    "the native model_type 'minimax' (MiniMax-Text-01-hf) is read",
    "plamo2": "PLaMo 2's Mamba layers (mamba_step, mamba_d_state, mamba_num_heads)",
    "zamba": "Zamba (v1)'s shared attention over Mamba1 layers (attn_layer_period, "
    "attn_layer_offset, n_mamba_heads)",
    "mllama": "cross-attention layers over image tokens",
}  # fmt: skip

# Families whose layers each sit in an attention group and a state group.
_OVERLAPPING_GROUPS = frozenset({"falcon_h1", "zamba2"})

# Keys that change the cache layout; present but not read by a family reader means refusal.
_LAYOUT_KEYS = (
    "layer_types", "attention_chunk_size", "block_configs", "hybrid_override_pattern",
    "layers_block_type", "full_attention_interval", "kv_lora_rank", "index_head_dim",
    "num_kv_shared_layers", "swa_num_key_value_heads", "cross_attention_layers",
)  # fmt: skip


def read_architecture(raw: object) -> Architecture:
    """The KV-relevant architecture described by a parsed config.json (or a GGUF header)."""
    if not isinstance(raw, dict):
        # The GGUF dialect is imported only for a GGUF header.
        from kvcalc.model.dialects.gguf import GgufMetadata, read_gguf_architecture

        if isinstance(raw, GgufMetadata):
            return read_gguf_architecture(raw)
        raise ConfigError(f"the config must be a JSON object, got {type(raw).__name__}")
    cfg = _text_config(raw)
    reader = READERS.get(cfg.model_type)
    if reader is None:
        raise _not_supported(cfg)
    groups = reader(cfg)
    _refuse_unread_layout_keys(cfg)
    try:
        return Architecture(
            model_type=cfg.model_type,
            groups=groups,
            max_position_embeddings=max_positions(cfg),
            config_dtype=_dtype_name(raw, cfg),
            kv_cache_dtype=_kv_cache_dtype(raw),
            naive=_naive_dims(cfg, groups),
            encoder_tokens=_encoder_tokens(cfg),
            layer_count=num_layers(cfg) if cfg.model_type in _OVERLAPPING_GROUPS else None,
            mamba_ssm_cache_dtype=_ssm_dtype(cfg, "mamba_ssm_cache_dtype"),
            mamba_ssm_dtype=_ssm_dtype(cfg, "mamba_ssm_dtype"),
            quirks=_quirks(cfg),
            compute=_compute_dims(cfg),
            provenance=tuple(cfg.provenance),
        )
    except ValueError as error:
        raise cfg.error(str(error)) from None


def _naive_dims(cfg: ConfigReader, groups: tuple[LayerGroup, ...]) -> NaiveDims | None:
    """The textbook reading: every layer, num_key_value_heads (or heads), head_dim (or
    hidden / heads), as most calculators take them from the config."""
    attention: Attention | None = next((g.attention for g in groups if g.attention), None)
    if attention is None:
        return None
    # The same checked integers as every other reading: 8.0 is 8, 1e30 is refused.
    kv = cfg.peek_positive_int("num_key_value_heads")
    hidden_key = next((k for k in ("hidden_size", "n_embd", "d_model") if k in cfg.raw), None)
    hidden = cfg.peek_positive_int(hidden_key) if hidden_key else None
    dim = cfg.peek_positive_int("head_dim")
    if dim is None:
        dim = hidden // attention.num_heads if hidden else attention.k_head_dim
    kv_heads = kv or attention.num_heads
    layers = sum(group.count for group in groups if group.kind is not LayerKind.CROSS)
    if cfg.model_type in _OVERLAPPING_GROUPS:
        layers = num_layers(cfg)
    return NaiveDims(layers, kv_heads, max(1, dim))


_COMPUTE_KEYS: dict[str, tuple[str, ...]] = {
    "hidden_size": ("hidden_size", "n_embd", "d_model", "dim"),
    "intermediate_size": ("intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size",
                          "d_ff", "ffn_config_hidden"),
    "vocab_size": ("vocab_size", "padded_vocab_size"),
    "num_experts": ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"),
    "experts_per_token": ("num_experts_per_tok", "moe_topk", "top_k", "num_experts_per_token"),
    "moe_intermediate_size": ("moe_intermediate_size", "expert_intermediate_size"),
}  # fmt: skip


def _compute_dims(cfg: ConfigReader) -> ComputeDims:
    """Widths for the non-KV memory estimate: the first of each key's aliases, if a positive
    integer; absent or odd values leave the width unknown (the estimate says so)."""
    found: dict[str, int | None] = {}
    for field, keys in _COMPUTE_KEYS.items():
        key = cfg.first_key(keys)
        try:
            found[field] = cfg.peek_positive_int(key) if key else None
        except ConfigError:
            found[field] = None
    return ComputeDims(**found)


def _encoder_tokens(cfg: ConfigReader) -> int | None:
    """Whisper's encoder always produces max_source_positions frames."""
    if cfg.model_type == "whisper":
        return cfg.positive_int("encoder frames", "max_source_positions", default=1500)
    return None


def _quirks(cfg: ConfigReader) -> frozenset[str]:
    quirks = set()
    # transformers' Falcon attention caches K/V after repeating them to every query head.
    if cfg.model_type in ("falcon", "RefinedWeb") and cfg.flag(
        "new_decoder_architecture", default=cfg.model_type == "RefinedWeb"
    ):
        quirks.add("transformers-repeats-kv")
    # transformers' MiniMax keeps its lightning-attention state in the model dtype.
    if cfg.model_type == "minimax":
        quirks.add("transformers-state-model-dtype")
    if cfg.model_type == "gemma3n_text" and cfg.raw.get("num_kv_shared_layers", 15):
        quirks.add("kv-shared-layers")
    return frozenset(quirks)


SSM_DTYPES = ("auto", "float32", "float16", "bfloat16")  # vLLM's MambaDType, SGLang's choices


def _ssm_dtype(cfg: ConfigReader, key: str) -> str | None:
    """The SSM-state dtype the config names under `key` (engines decide who reads it)."""
    value = cfg.string(key)
    if value is None:
        return None
    if value not in SSM_DTYPES:
        raise cfg.error(f"{cfg.key_name(key)} {value!r} is not one of {', '.join(SSM_DTYPES)}")
    cfg.record("SSM state dtype", cfg.key_name(key))
    return value


def _model_type(raw: Mapping[str, object], where: str) -> str:
    model_type = raw.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise ConfigError(f"the config has no {where}model_type; kvcalc cannot tell its dialect")
    return model_type


def _text_config(raw: Mapping[str, object]) -> ConfigReader:
    """The reader for the language model: `text_config` of a multimodal wrapper, else the top."""
    outer = _model_type(raw, "")
    nested = raw.get("text_config")
    if outer in _UNMODELLED_TYPES or not isinstance(nested, dict):
        return ConfigReader(raw, outer)
    if outer in READERS and any(key in raw for key in ("num_hidden_layers", "n_layer")):
        return ConfigReader(raw, outer)
    inner = nested.get("model_type") or f"{outer}_text"
    if not isinstance(inner, str):
        raise ConfigError(f"model_type {outer!r}: text_config.model_type is invalid")
    return ConfigReader(nested, inner, "text_config.")


def _not_supported(cfg: ConfigReader) -> ConfigError:
    why = _UNMODELLED_TYPES.get(cfg.model_type)
    if why is not None:
        return UnsupportedConfigError(
            f"model_type {cfg.model_type!r} is not supported yet: kvcalc does not model {why}, "
            "and will not guess with the plain formula"
        )
    return UnsupportedConfigError(
        f"model_type {cfg.model_type!r} is not a config dialect kvcalc knows; "
        "it will not guess which keys hold the layers, heads and head dims"
    )


def _refuse_unread_layout_keys(cfg: ConfigReader) -> None:
    read = {source for _, source in cfg.provenance}
    unread = [
        cfg.key_name(key)
        for key in _LAYOUT_KEYS
        if cfg.raw.get(key) not in (None, [], {}) and cfg.key_name(key) not in read
    ]
    if unread:
        raise UnsupportedConfigError(
            f"model_type {cfg.model_type!r}: {', '.join(unread)} "
            "describe a cache layout kvcalc does not model for this dialect"
        )


def _kv_cache_dtype(raw: Mapping[str, object]) -> str | None:
    """The checkpoint's own cache dtype; the quantization dialect is read only when present."""
    if "quantization_config" not in raw:
        return None
    from kvcalc.model.dialects.quantization import checkpoint_kv_cache_dtype

    return checkpoint_kv_cache_dtype(raw)


def _dtype_name(raw: Mapping[str, object], cfg: ConfigReader) -> str | None:
    for source in (raw, cfg.raw):
        for key in ("torch_dtype", "dtype"):
            value = source.get(key)
            if isinstance(value, str):
                return value
    return None
