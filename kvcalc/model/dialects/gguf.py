"""GGUF metadata (llama.cpp's keys) → Architecture, as llama.cpp reads each architecture.

The rules follow llama.cpp (vendored in llama-cpp-python 0.3.36): `llama_model_base::load_hparams`
in src/llama-model.cpp for the keys every architecture shares (head counts as scalars or
per-layer arrays, head dims defaulting to n_embd / n_head), `load_arch_hparams` in
src/models/<arch>.cpp for each architecture's sliding window, and `llama_hparams::set_swa_pattern`
in src/llama-hparams.cpp for which layers slide. The main context caches the first
`block_count - nextn_predict_layers` layers (`create_memory`'s layer filter).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from kvcalc.errors import ConfigError, UnsupportedConfigError
from kvcalc.model.architecture import (
    Architecture,
    Attention,
    LayerGroup,
    LayerKind,
    MlaDims,
    NaiveDims,
)
from kvcalc.values import value

__all__ = ["GgufArray", "GgufMetadata", "gguf_notes", "read_gguf_architecture"]


@value
class GgufArray:
    """A long metadata array (a vocabulary) that was stepped over: its element type and length."""

    kind: int
    count: int


@value
class GgufMetadata:
    """The metadata of a GGUF header: key → int, float, bool, str, tuple or GgufArray."""

    metadata: Mapping[str, object]
    location: str


@value
class _Sliding:
    """How an architecture slides: the default pattern (every n-th layer full; 0: all slide),
    the default window (None: the key is required), and whether a window of 0 means none."""

    pattern: int
    window: int | None = None
    optional: bool = False


# GGUF architecture → (the transformers model_type it carries, its sliding rule).
_ARCHITECTURES: dict[str, tuple[str, _Sliding | None]] = {
    "llama": ("llama", None),  # src/models/llama.cpp reads no window: Mistral runs full
    "qwen2": ("qwen2", None),
    "qwen2moe": ("qwen2_moe", None),
    "qwen3": ("qwen3", None),
    "qwen3moe": ("qwen3_moe", None),
    "deepseek2": ("deepseek_v3", None),
    "gemma2": ("gemma2", _Sliding(2, window=4096)),  # gemma2.cpp: n_swa = 4096 by default
    "gemma3": ("gemma3_text", _Sliding(6, optional=True)),  # gemma3.cpp: SWA only if n_swa > 0
    "cohere2": ("cohere2", _Sliding(4)),
    "gpt-oss": ("gpt_oss", _Sliding(2)),  # openai-moe.cpp
}
# llama.cpp's default cache type (common.h `cache_type_k`/`cache_type_v`): f16.
CACHE_DTYPE = "float16"


class _Reader:
    """Typed access to `{arch}.…` keys, recording which key gave what."""

    def __init__(self, meta: GgufMetadata, arch: str) -> None:
        self.meta, self.arch = meta, arch
        self.provenance: list[tuple[str, str]] = []

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"GGUF architecture {self.arch!r}: {message}")

    def get(self, what: str, suffix: str) -> object:
        key = f"{self.arch}.{suffix}"
        value = self.meta.metadata.get(key)
        if value is not None:
            self.provenance.append((what, key))
        return value

    def count(self, what: str, suffix: str, default: int | None = None) -> int:
        value = self.get(what, suffix)
        if value is None and default is not None:
            return default
        if not _is_count(value):
            key = f"{self.arch}.{suffix}"
            found = "missing" if value is None else f"{value!r}, not a whole number"
            raise self.error(f"{key} is {found}")
        assert isinstance(value, int)
        return value

    def per_layer(self, what: str, suffix: str, layers: int, default: list[int]) -> list[int]:
        """A scalar for every layer, or one value per layer (`get_key_or_arr`)."""
        value = self.get(what, suffix)
        if value is None:
            return default
        if _is_count(value):
            assert isinstance(value, int)
            return [value] * layers
        if isinstance(value, tuple) and len(value) == layers and all(map(_is_count, value)):
            return [int(v) for v in value]
        raise self.error(f"{self.arch}.{suffix} must be a whole number or one per each of "
                         f"the {layers} layers")  # fmt: skip


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_gguf_architecture(meta: GgufMetadata) -> Architecture:
    """The KV-relevant architecture of a GGUF model, as llama.cpp caches it."""
    arch = meta.metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        split = meta.metadata.get("split.no")
        if isinstance(split, int) and split > 0:
            raise ConfigError(f"{meta.location} is split file {split + 1}; pass the first one")
        raise ConfigError(f"{meta.location}: the GGUF header has no general.architecture")
    if arch not in _ARCHITECTURES:
        raise UnsupportedConfigError(
            f"GGUF architecture {arch!r} is not supported yet (kvcalc reads "
            f"{', '.join(sorted(_ARCHITECTURES))}); it will not guess its cache layout"
        )
    model_type, sliding = _ARCHITECTURES[arch]
    cfg = _Reader(meta, arch)
    all_layers = cfg.count("layers", "block_count")
    layers = all_layers - cfg.count("multi-token prediction layers", "nextn_predict_layers", 0)
    if layers <= 0:
        raise cfg.error("block_count leaves no layers besides the nextn_predict_layers")
    kinds, window = _layer_kinds(cfg, sliding, all_layers, layers)
    attentions = _attentions(cfg, all_layers, kinds)
    groups = _groups(cfg, kinds[:layers], attentions[:layers], window)
    first = next(a for a in attentions if a is not None)
    try:
        return Architecture(
            model_type=model_type,
            groups=groups,
            max_position_embeddings=cfg.count("max positions", "context_length", 0) or None,
            config_dtype=CACHE_DTYPE,
            naive=NaiveDims(layers, *_naive_heads(cfg, first)),
            provenance=(("format", "GGUF general.architecture"), *cfg.provenance),
        )
    except ValueError as error:
        raise cfg.error(str(error)) from None


def _layer_kinds(
    cfg: _Reader, sliding: _Sliding | None, all_layers: int, layers: int
) -> tuple[list[LayerKind], int | None]:
    """Full or sliding, per layer, and the window (`load_swa_pattern`, `set_swa_pattern`)."""
    full = [LayerKind.FULL] * all_layers
    if sliding is None:
        return full, None
    window = cfg.count("sliding window", "attention.sliding_window", sliding.window or -1)
    if window < 0:
        raise cfg.error(f"{cfg.arch}.attention.sliding_window is missing")
    if window == 0:
        if sliding.optional:
            return full, None
        raise cfg.error(f"{cfg.arch}.attention.sliding_window is 0")
    pattern = cfg.get("sliding layers", "attention.sliding_window_pattern")
    if isinstance(pattern, tuple):
        if len(pattern) != all_layers or not all(isinstance(p, bool) for p in pattern):
            raise cfg.error(f"{cfg.arch}.attention.sliding_window_pattern must list a bool for "
                            f"each of the {all_layers} layers")  # fmt: skip
        slides = list(pattern)
    else:
        every = sliding.pattern if pattern is None else pattern
        if not _is_count(every):
            raise cfg.error(f"{cfg.arch}.attention.sliding_window_pattern is {every!r}")
        assert isinstance(every, int)
        slides = [every == 0 or i % every < every - 1 for i in range(layers)]
        slides += [False] * (all_layers - layers)
    return [LayerKind.SLIDING if s else LayerKind.FULL for s in slides], window


def _attentions(cfg: _Reader, all_layers: int, kinds: list[LayerKind]) -> list[Attention | None]:
    """Each layer's attention; None where a layer has no KV heads."""
    heads = cfg.per_layer("attention heads", "attention.head_count", all_layers, [])
    if not heads:
        raise cfg.error(f"{cfg.arch}.attention.head_count is missing")
    kv_heads = cfg.per_layer("KV heads", "attention.head_count_kv", all_layers, heads)
    if cfg.get("MLA latent rank", "attention.kv_lora_rank") is not None:
        mla = _mla(cfg, heads[0])
        return [mla if kv else None for kv in kv_heads]
    k_dim, v_dim = _head_dims(cfg, heads[0], "")
    k_swa = cfg.count("sliding head dim", "attention.key_length_swa", k_dim)
    v_swa = cfg.count("sliding value dim", "attention.value_length_swa", v_dim)
    result: list[Attention | None] = []
    for kind, h, kv in zip(kinds, heads, kv_heads, strict=True):
        dims = (k_swa, v_swa) if kind is LayerKind.SLIDING else (k_dim, v_dim)
        result.append(_attention(cfg, h, kv, *dims) if h and kv else None)
    return result


def _head_dims(cfg: _Reader, heads: int, suffix: str) -> tuple[int, int]:
    """key_length / value_length, or n_embd / n_head (llama-model.cpp `load_hparams`)."""
    default = 0
    if heads:
        default = cfg.count("hidden size", "embedding_length", 0) // heads
    k_dim = cfg.count("head dim", f"attention.key_length{suffix}", default)
    v_dim = cfg.count("value head dim", f"attention.value_length{suffix}", default)
    if not k_dim or not v_dim:
        raise cfg.error(f"no {cfg.arch}.attention.key_length and no embedding_length to derive it")
    return k_dim, v_dim


def _attention(cfg: _Reader, heads: int, kv_heads: int, k_dim: int, v_dim: int) -> Attention:
    try:
        return Attention(heads, kv_heads, k_dim, v_dim)
    except ValueError as error:
        raise cfg.error(str(error)) from None


def _mla(cfg: _Reader, heads: int) -> Attention:
    """DeepSeek-style latent attention (src/models/deepseek2.cpp): the cache holds
    kv_lora_rank + the RoPE dims per token. key_length_mla / value_length_mla are the per-head
    dims; GGUFs converted before they existed carry them in key_length / value_length."""
    rank = cfg.count("MLA latent rank", "attention.kv_lora_rank")
    rope = cfg.count("MLA RoPE key dim", "rope.dimension_count")
    k_dim = cfg.count("MLA key dim", "attention.key_length_mla", 0)
    v_dim = cfg.count("MLA value dim", "attention.value_length_mla", 0)
    if not k_dim or not v_dim:
        k_dim, v_dim = _head_dims(cfg, heads, "")
    try:
        dims = MlaDims(rank, rope, k_dim - rope, v_dim)
        return Attention(heads, heads, k_dim, v_dim, dims)
    except ValueError as error:
        raise cfg.error(str(error)) from None


def _groups(
    cfg: _Reader, kinds: list[LayerKind], attentions: list[Attention | None], window: int | None
) -> tuple[LayerGroup, ...]:
    """One group per (kind, attention), full layers first, in order of first appearance."""
    counts = Counter(
        (LayerKind.NONE if attention is None else kind, attention)
        for kind, attention in zip(kinds, attentions, strict=True)
    )
    order = (LayerKind.FULL, LayerKind.SLIDING, LayerKind.NONE)
    groups = []
    for (kind, attention), count in sorted(counts.items(), key=lambda i: order.index(i[0][0])):
        windowed = window if kind is LayerKind.SLIDING else None
        groups.append(LayerGroup(kind, count, attention, windowed))
    if not any(group.attention for group in groups):
        raise cfg.error("no layer has KV heads")
    return tuple(groups)


def _naive_heads(cfg: _Reader, first: Attention) -> tuple[int, int]:
    """What the header says of layer 0: its KV heads and key length, as a textbook reads them."""
    kv = cfg.meta.metadata.get(f"{cfg.arch}.attention.head_count_kv")
    kv_heads = kv[0] if isinstance(kv, tuple) and kv else kv
    key_length = cfg.meta.metadata.get(f"{cfg.arch}.attention.key_length")
    heads = kv_heads if isinstance(kv_heads, int) and _is_count(kv_heads) and kv_heads else 0
    length = key_length if isinstance(key_length, int) and _is_count(key_length) else 0
    return heads or first.num_heads, length or first.k_head_dim


def gguf_notes(meta: GgufMetadata) -> tuple[str, ...]:
    """What the header says that llama.cpp does not apply: a window on an architecture that
    runs every layer in full (Mistral converted as `llama`)."""
    arch = meta.metadata.get("general.architecture")
    if not isinstance(arch, str) or arch not in _ARCHITECTURES or _ARCHITECTURES[arch][1]:
        return ()
    window = meta.metadata.get(f"{arch}.attention.sliding_window")
    if not _is_count(window) or not window:
        return ()
    return (
        f"GGUF {arch}.attention.sliding_window = {window} is not applied: llama.cpp runs "
        f"architecture {arch!r} with full attention on every layer",
    )
