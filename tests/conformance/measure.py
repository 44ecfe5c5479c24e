"""Measure the bytes a `transformers` cache really holds after one prefill.

`measure(config, seq=..., batch=...)` shrinks a Hugging Face `config.json` dict in every place that
does not reach the KV cache (vocabulary, MLP and MoE widths, expert counts, the query LoRA rank,
the number of layers in whole periods of the layer pattern, and the hidden size where head sizes do
not derive from it), builds the model from that shrunk config with random weights on the CPU, runs
one forward pass with `use_cache=True` over `batch x seq` random token ids, and adds up
`numel * element_size` over every tensor the returned `past_key_values` holds: keys and values,
convolution and recurrent states, cross-attention keys and values, indexer keys. The shrunk config
that was built is returned with the bytes, so a calculator can be run on exactly that config.

Nothing here downloads anything: configs come in as dicts, weights are random, and remote code
is never run. `torch` and `transformers` are imported inside the functions that need them. The
model is built with the `dtype` asked for and runs on the CPU with the attention implementation
`transformers` picks by default; the cache is the one the model creates itself when called with
`use_cache=True` and no `past_key_values` (a `DynamicCache` built from the config, or an
`EncoderDecoderCache` of two of them).

Two byte counts are returned:

* `Measurement.bytes`: the sum of `t.numel() * t.element_size()` over the distinct tensors the
  cache holds (a tensor reachable from two places counts once). This is what the cache *exposes*.
* `Measurement.storage_bytes`: the sum of `nbytes` over the distinct storages behind those tensors.
  It differs from `bytes` when a cached tensor is a view into a larger allocation; for instance a
  sliding-window layer keeps `full[:, :, -(W - 1):]`, a view of the whole prefill's keys, so right
  after the prefill its storage still holds all `seq` positions.
"""

from __future__ import annotations

import copy
import gc
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Sizes the shrunk config uses for things that never reach the cache.
SMALL_VOCAB = 512
SMALL_WIDTH = 64
SMALL_HIDDEN = 256
SMALL_EXPERTS = 4
SMALL_TOP_K = 2
SMALL_Q_LORA_RANK = 32
MIN_LAYERS = 2
ENCODER_LAYERS = 2

#: Feed-forward and MoE widths, whatever the family calls them.
WIDTH_KEYS = (
    "intermediate_size",
    "intermediate_size_mlp",
    "ffn_dim",
    "ffn_hidden_size",
    "n_inner",
    "d_ff",
    "encoder_ffn_dim",
    "decoder_ffn_dim",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
    "moe_shared_expert_intermediate_size",
)
EXPERT_COUNT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")
TOP_K_KEYS = ("num_experts_per_tok", "moe_topk", "top_k_experts", "experts_per_token")
HIDDEN_KEYS = ("hidden_size", "n_embd", "n_embed", "d_model")
#: Decoder layer counts. `num_layers` is T5's encoder count (its decoder has `num_decoder_layers`)
#: and GPT-J style models' only count; it is handled in `_layer_count_keys`.
DECODER_LAYER_KEYS = (
    "num_hidden_layers",
    "n_layer",
    "n_layers",
    "num_decoder_layers",
    "decoder_layers",
)
ENCODER_LAYER_KEYS = ("encoder_layers", "num_encoder_layers")
#: Lists of layer indices that only say where MoE or dense MLPs go.
LAYER_INDEX_LIST_KEYS = ("moe_layers", "mlp_only_layers")
#: Per-layer lists and strings that are cut to the kept layers.
PER_LAYER_KEYS = (
    "layer_types",
    "layers_block_type",
    "hybrid_override_pattern",
    "block_configs",
    "no_rope_layers",
)
#: Families whose recurrent or convolution state is sized from `hidden_size` or
#: `intermediate_size`: those two are left alone there.
STATE_FROM_HIDDEN = frozenset(
    {
        "mamba",
        "mamba2",
        "falcon_mamba",
        "jamba",
        "bamba",
        "zamba",
        "zamba2",
        "falcon_h1",
        "granitemoehybrid",
        "lfm2",
        "lfm2_moe",
        "rwkv",
        "recurrent_gemma",
        "xlstm",
    }
)
#: Config attributes that size or shape the cache; the shrunk config must keep every one of them.
CACHE_ATTRIBUTES = (
    "num_attention_heads",
    "num_key_value_heads",
    "num_kv_heads",
    "multi_query",
    "new_decoder_architecture",
    "head_dim",
    "attention_head_dim",
    "kv_channels",
    "d_kv",
    "decoder_attention_heads",
    "encoder_attention_heads",
    "sliding_window",
    "attention_chunk_size",
    "kv_lora_rank",
    "qk_rope_head_dim",
    "qk_nope_head_dim",
    "v_head_dim",
    "index_head_dim",
    "ssm_state_size",
    "mamba_num_heads",
    "mamba_head_dim",
    "n_groups",
    "conv_kernel",
    "mamba_ssm_cache_dtype",
    "linear_conv_kernel_dim",
    "linear_key_head_dim",
    "linear_value_head_dim",
    "linear_num_key_heads",
    "linear_num_value_heads",
    "max_source_positions",
    "kv_sharing_modes",
    "num_kv_shared_layers",
    "global_head_dim",
    "num_global_key_value_heads",
    "attention_k_eq_v",
    "index_n_heads",
)


@dataclass(frozen=True)
class TensorRecord:
    """One tensor held by a cache layer."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    #: False when an identical tensor was already counted elsewhere in the cache.
    counted: bool = True


@dataclass(frozen=True)
class LayerRecord:
    """What one layer of the cache holds after the prefill."""

    index: int
    #: "" for decoder-only caches, "self" or "cross" inside an encoder-decoder cache,
    #: "cache" for tensors held by the cache object itself rather than by a layer.
    part: str
    layer_class: str
    tensors: tuple[TensorRecord, ...]

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors if t.counted)

    def tensor(self, name: str) -> TensorRecord | None:
        return next((t for t in self.tensors if t.name == name), None)


@dataclass(frozen=True)
class Measurement:
    """The result of one measured prefill."""

    #: Sum of numel * element_size over the distinct tensors the cache holds.
    bytes: int
    #: Sum of nbytes over the distinct storages behind those tensors.
    storage_bytes: int
    #: The shrunk config dict the model was built from.
    used_config: dict[str, Any]
    seq: int
    batch: int
    dtype: str
    enc_seq: int | None
    model_class: str
    cache_class: str
    layers: tuple[LayerRecord, ...]
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------------------------
# Shrinking


def shrink_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `config` that is cheap to build but holds the same per-layer cache.

    Shrunk, at the top level and in a nested `text_config` / `language_config` / `llm_config` /
    `decoder`: vocabulary sizes (token ids beyond them are folded in), MLP and MoE widths (widths
    a class derives as `4 * hidden` are written out first), expert counts, experts per token,
    shared experts, expert groups, `q_lora_rank`, the number of layers (whole periods of the layer
    pattern, or the shortest prefix with one layer of every kind; at least two), encoder layers
    (two), and the hidden size where every head size is set on its own. `quantization_config` is
    dropped. Vision and audio towers are not shrunk: measure a multimodal model through its text
    config (see `families.py`). Never touched: attention and KV heads, head sizes, windows, chunk
    sizes, MLA ranks, SSM and linear-attention state sizes, conv widths, Whisper's
    `max_source_positions`. For families whose recurrent state is sized from the hidden or MLP
    width (`STATE_FROM_HIDDEN`), those widths are left alone.

    Every cache-relevant attribute of the built config (`CACHE_ATTRIBUTES`, the effective head
    size, the layer types, and the same per layer where the class has per-layer configs) is
    checked against the original's, cut to the kept layers; the hidden size is only shrunk when
    that check passes with it, and a `ValueError` is raised if it fails without it.
    """
    original = copy.deepcopy(dict(config))
    shrunk = _shrink_dict(original, shrink_hidden=True)
    if _cache_signature(shrunk) == _cache_signature_prefix(original, shrunk):
        return shrunk
    shrunk = _shrink_dict(original, shrink_hidden=False)
    before, after = _cache_signature_prefix(original, shrunk), _cache_signature(shrunk)
    if before != after:
        changed = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys()}
        changed = {k: v for k, v in changed.items() if v[0] != v[1]}
        raise ValueError(f"shrinking would change cache-relevant attributes: {changed}")
    return shrunk


def _shrink_dict(config: dict[str, Any], *, shrink_hidden: bool) -> dict[str, Any]:
    out = copy.deepcopy(config)
    # Quantized-weight settings need kernels this machine does not have; they do not reach the
    # cache of an unquantized `DynamicCache`.
    out.pop("quantization_config", None)
    for sub in _sub_configs(out):
        _fill_default_widths(sub)
        _shrink_level(sub, shrink_hidden=shrink_hidden)
    return out


#: Widths that a class derives from the hidden size when the key is absent or null.
DEFAULT_WIDTH_KEYS = ("n_inner", "ffn_hidden_size")


def _fill_default_widths(cfg: dict[str, Any]) -> None:
    """Write out widths the class would derive as `4 * hidden`, so that they can be shrunk."""
    if str(cfg.get("model_type", "")) in STATE_FROM_HIDDEN:
        return
    built = _try_build_config(cfg)
    if built is None:
        return
    for key in DEFAULT_WIDTH_KEYS:
        if cfg.get(key) is None and hasattr(built, key):
            cfg[key] = SMALL_WIDTH


def _sub_configs(config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield config
    for key in ("text_config", "language_config", "llm_config", "decoder"):
        sub = config.get(key)
        if isinstance(sub, dict):
            yield sub


def _shrink_level(cfg: dict[str, Any], *, shrink_hidden: bool) -> None:
    model_type = str(cfg.get("model_type", ""))
    state_from_hidden = model_type in STATE_FROM_HIDDEN
    for key in [k for k in cfg if k.startswith("vocab_size")]:
        if isinstance(cfg[key], int) and not isinstance(cfg[key], bool):
            cfg[key] = min(cfg[key], SMALL_VOCAB)
    vocab = cfg.get("vocab_size")
    if isinstance(vocab, int):
        for key, value in list(cfg.items()):
            if key.endswith(("_token_id", "_token_index", "_token_ids")):
                cfg[key] = _fold_ids(value, vocab)
    if not state_from_hidden:
        for key in WIDTH_KEYS:
            if isinstance(cfg.get(key), int) and cfg[key] > SMALL_WIDTH:
                cfg[key] = SMALL_WIDTH
    for key in EXPERT_COUNT_KEYS:
        if isinstance(cfg.get(key), int) and cfg[key] > SMALL_EXPERTS:
            cfg[key] = SMALL_EXPERTS
    for key in TOP_K_KEYS:
        if isinstance(cfg.get(key), int) and cfg[key] > SMALL_TOP_K:
            cfg[key] = SMALL_TOP_K
    if isinstance(cfg.get("n_shared_experts"), int) and cfg["n_shared_experts"] > 1:
        cfg["n_shared_experts"] = 1
    for key in ("n_group", "topk_group"):
        if isinstance(cfg.get(key), int) and cfg[key] > 1:
            cfg[key] = 1
    if isinstance(cfg.get("q_lora_rank"), int) and cfg["q_lora_rank"] > SMALL_Q_LORA_RANK:
        cfg["q_lora_rank"] = SMALL_Q_LORA_RANK
    if shrink_hidden and not state_from_hidden:
        for key in HIDDEN_KEYS:
            if isinstance(cfg.get(key), int) and cfg[key] > SMALL_HIDDEN:
                cfg[key] = SMALL_HIDDEN
    _shrink_layers(cfg)


def _fold_ids(value: Any, vocab: int) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value % vocab if value >= vocab else value
    if isinstance(value, list):
        return [_fold_ids(v, vocab) for v in value]
    return value


def _shrink_layers(cfg: dict[str, Any]) -> None:
    kinds = _layer_kinds(cfg)
    if not kinds:
        return
    keep = layers_to_keep(kinds)
    for key in _layer_count_keys(cfg):
        cfg[key] = keep
    for key in ENCODER_LAYER_KEYS:
        if isinstance(cfg.get(key), int) and cfg[key] > ENCODER_LAYERS:
            cfg[key] = ENCODER_LAYERS
    if cfg.get("model_type") == "whisper" and isinstance(cfg.get("num_hidden_layers"), int):
        # Whisper's `num_hidden_layers` mirrors `encoder_layers`; keep the two equal.
        cfg["num_hidden_layers"] = cfg.get("encoder_layers", ENCODER_LAYERS)
    if cfg.get("is_encoder_decoder") and isinstance(cfg.get("num_layers"), int):
        # T5 style: `num_layers` counts the encoder, `num_decoder_layers` the decoder.
        cfg["num_layers"] = min(cfg["num_layers"], ENCODER_LAYERS)
    for key in PER_LAYER_KEYS:
        value = cfg.get(key)
        if isinstance(value, (list, str)) and len(value) > 0:
            cfg[key] = value[:keep]
    for key in LAYER_INDEX_LIST_KEYS:
        value = cfg.get(key)
        if isinstance(value, list):
            cfg[key] = [i for i in value if isinstance(i, int) and i < keep]
    if isinstance(cfg.get("first_k_dense_replace"), int):
        cfg["first_k_dense_replace"] = min(cfg["first_k_dense_replace"], max(keep - 1, 0))


def _layer_count_keys(cfg: Mapping[str, Any]) -> list[str]:
    keys = [k for k in DECODER_LAYER_KEYS if isinstance(cfg.get(k), int)]
    if cfg.get("model_type") == "whisper":
        # Whisper's `num_hidden_layers` mirrors `encoder_layers`.
        keys = [k for k in keys if k != "num_hidden_layers"]
    if not cfg.get("is_encoder_decoder") and isinstance(cfg.get("num_layers"), int):
        keys.append("num_layers")
    return keys


def _layer_kinds(cfg: Mapping[str, Any]) -> list[str]:
    """The per-layer kinds of the decoder, as the config class expands them."""
    built = _try_build_config(cfg)
    if built is not None:
        types = _attr(built, "layer_types")
        if isinstance(types, (list, tuple)) and types:
            return [str(t) for t in types]
        blocks = _attr(built, "block_configs")
        if isinstance(blocks, list) and blocks:
            return [repr(b) for b in blocks]
    for key in ("layer_types", "layers_block_type", "hybrid_override_pattern", "block_configs"):
        value = cfg.get(key)
        if isinstance(value, (list, str)) and len(value) > 0:
            return [repr(v) for v in value]
    counts = [cfg[k] for k in _layer_count_keys(cfg)]
    if not counts:
        return []
    return ["layer"] * int(counts[0])


def layers_to_keep(kinds: Sequence[str]) -> int:
    """How many leading layers keep the layer pattern.

    A periodic pattern (one that repeats at least twice) keeps whole periods, at least `MIN_LAYERS`
    layers; any other pattern keeps the shortest prefix that has one layer of every kind, and at
    least `MIN_LAYERS` layers.
    """
    total = len(kinds)
    if total <= MIN_LAYERS:
        return total
    period = next(
        p for p in range(1, total + 1) if all(kinds[i] == kinds[i % p] for i in range(total))
    )
    # A pattern is periodic when it repeats at least twice; a prefix that merely recurs at the end
    # is not a period.
    if period <= total // 2:
        return min(total, period * math.ceil(MIN_LAYERS / period))
    wanted = set(kinds)
    seen: set[str] = set()
    for index, kind in enumerate(kinds):
        seen.add(kind)
        if seen == wanted:
            return min(total, max(index + 1, MIN_LAYERS))
    return total


def _try_build_config(cfg: Mapping[str, Any]) -> Any:
    try:
        return build_config(cfg)
    except Exception:
        return None


def build_config(cfg: Mapping[str, Any]) -> Any:
    """The `transformers` config object for a config dict (never remote code)."""
    from transformers import AutoConfig

    # A deep copy: building a config rewrites nested dicts such as `rope_scaling` in place.
    data = copy.deepcopy(dict(cfg))
    model_type = data.pop("model_type", None)
    if not model_type:
        raise ValueError("config has no model_type")
    return AutoConfig.for_model(str(model_type), **data)


#: Stands for an attribute a config refuses to give globally because it varies per layer.
PER_LAYER = "<per-layer>"


def _attr(obj: Any, name: str) -> Any:
    """`getattr` that tolerates configs refusing global access to per-layer attributes."""
    try:
        return getattr(obj, name, None)
    except AttributeError:
        return None
    except Exception:
        return PER_LAYER


def _decoder_config(built: Any) -> Any:
    getter = getattr(built, "get_text_config", None)
    if getter is None:
        return built
    try:
        return getter(decoder=True)
    except TypeError:
        return getter()


def _effective_head_dim(cfg: Any) -> Any:
    for key in ("head_dim", "d_kv", "kv_channels", "attention_head_dim"):
        value = _attr(cfg, key)
        if isinstance(value, int) or value == PER_LAYER:
            return value
    hidden = next((_attr(cfg, k) for k in HIDDEN_KEYS if isinstance(_attr(cfg, k), int)), None)
    heads = next(
        (
            _attr(cfg, k)
            for k in ("num_attention_heads", "n_head", "decoder_attention_heads", "num_heads")
            if isinstance(_attr(cfg, k), int)
        ),
        None,
    )
    if hidden is None or not heads:
        return None
    return hidden / heads


def _cache_signature(cfg: Mapping[str, Any], keep: int | None = None) -> dict[str, Any]:
    built = build_config(cfg)
    dec = _decoder_config(built)
    sig = _attribute_signature(dec)
    per_layer = _attr(dec, "per_layer_config")
    if isinstance(per_layer, (list, tuple)) and per_layer:
        limit = keep if keep is not None else len(per_layer)
        sig["per_layer"] = [_attribute_signature(layer) for layer in list(per_layer)[:limit]]
    types = _attr(dec, "layer_types")
    if isinstance(types, (list, tuple)):
        sig["layer_types"] = list(types)[: keep if keep is not None else len(types)]
    blocks = _attr(dec, "block_configs")
    if isinstance(blocks, list):
        sig["block_configs"] = [repr(b) for b in blocks][
            : keep if keep is not None else len(blocks)
        ]
    if keep is not None and isinstance(sig.get("kv_sharing_modes"), list):
        sig["kv_sharing_modes"] = sig["kv_sharing_modes"][:keep]
    return sig


def _attribute_signature(cfg: Any) -> dict[str, Any]:
    sig: dict[str, Any] = {}
    for key in CACHE_ATTRIBUTES:
        value = _attr(cfg, key)
        sig[key] = list(value) if isinstance(value, (list, tuple)) else value
    sig["effective_head_dim"] = _effective_head_dim(cfg)
    return sig


def _cache_signature_prefix(
    original: Mapping[str, Any], shrunk: Mapping[str, Any]
) -> dict[str, Any]:
    """The original's signature, with per-layer lists cut to the shrunk layer count."""
    dec = _decoder_config(build_config(shrunk))
    types = _attr(dec, "layer_types") or _attr(dec, "block_configs")
    keep = len(types) if isinstance(types, (list, tuple)) else None
    return _cache_signature(original, keep)


# --------------------------------------------------------------------------------------------
# Building and running


def _torch_dtype(name: str) -> Any:
    import torch

    dtypes = {
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
        "half": torch.float16,
        "float32": torch.float32,
        "fp32": torch.float32,
        "float": torch.float32,
    }
    if name not in dtypes:
        raise ValueError(f"unsupported dtype {name!r}; one of {sorted(dtypes)}")
    return dtypes[name]


def _build_model(built: Any, dtype: Any) -> Any:
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSeq2SeqLM,
        AutoModelForSpeechSeq2Seq,
    )

    errors: list[str] = []
    if getattr(built, "is_encoder_decoder", False):
        auto_classes: tuple[Any, ...] = (AutoModelForSeq2SeqLM, AutoModelForSpeechSeq2Seq)
    else:
        auto_classes = (AutoModelForCausalLM,)
    for auto in auto_classes:
        try:
            return auto.from_config(built, dtype=dtype)
        except ValueError as exc:  # the config class is not in this auto mapping
            errors.append(f"{auto.__name__}: {exc}")
    raise ValueError("no model class for this config: " + " | ".join(errors))


def measure(
    config: Mapping[str, Any],
    *,
    seq: int,
    batch: int,
    dtype: str = "bfloat16",
    enc_seq: int | None = None,
    shrink: bool = True,
    seed: int = 0,
) -> Measurement:
    """Build the (shrunk) model, prefill `batch x seq` random tokens, and measure its cache.

    `enc_seq` is the encoder length of an encoder-decoder model (default: `seq` for text encoders;
    Whisper's encoder length is `max_source_positions`, and a different `enc_seq` rewrites that
    key in the used config). Pass `shrink=False` to build `config` exactly as given.
    """
    return measure_grid(
        config, [(seq, batch)], dtype=dtype, enc_seq=enc_seq, shrink=shrink, seed=seed
    )[0]


def measure_grid(
    config: Mapping[str, Any],
    points: Sequence[tuple[int, int]],
    *,
    dtype: str = "bfloat16",
    enc_seq: int | None = None,
    shrink: bool = True,
    seed: int = 0,
) -> list[Measurement]:
    """`measure` at several `(seq, batch)` points, building the model once.

    Every point gets a fresh cache from its own forward pass. The first measurement's `seconds`
    includes building the model; the others' only their prefill.
    """
    import torch

    if not points or any(seq < 1 or batch < 1 for seq, batch in points):
        raise ValueError("need at least one (seq, batch) point, all positive")
    started = time.perf_counter()
    used = shrink_config(config) if shrink else copy.deepcopy(dict(config))
    notes: list[str] = []
    whisper = used.get("model_type") == "whisper"
    if whisper and enc_seq is not None and enc_seq != used.get("max_source_positions", 1500):
        used["max_source_positions"] = enc_seq
        notes.append(f"max_source_positions set to enc_seq={enc_seq}")
    built = build_config(used)
    torch_dtype = _torch_dtype(dtype)
    torch.manual_seed(seed)
    model = _build_model(built, torch_dtype)
    model.eval()
    results = []
    for seq, batch in points:
        inputs, used_enc_seq = _inputs(
            model, built, seq=seq, batch=batch, enc_seq=enc_seq, dtype=torch_dtype
        )
        with torch.no_grad():
            outputs = model(**inputs, use_cache=True)
        # Mamba-only models return their cache as `cache_params`.
        cache = getattr(outputs, "past_key_values", None) or getattr(outputs, "cache_params", None)
        if cache is None:
            raise RuntimeError(f"{type(model).__name__} returned no past_key_values")
        layers, total, storage = walk_cache(cache)
        now = time.perf_counter()
        results.append(
            Measurement(
                bytes=total,
                storage_bytes=storage,
                used_config=copy.deepcopy(used),
                seq=seq,
                batch=batch,
                dtype=dtype,
                enc_seq=used_enc_seq,
                model_class=type(model).__name__,
                cache_class=type(cache).__name__,
                layers=tuple(layers),
                seconds=now - started,
                notes=tuple(notes),
            )
        )
        started = now
        del outputs, cache, inputs
    del model
    gc.collect()
    return results


def _inputs(
    model: Any, built: Any, *, seq: int, batch: int, enc_seq: int | None, dtype: Any
) -> tuple[dict[str, Any], int | None]:
    """Forward kwargs for one prefill, and the encoder length (None for decoder-only models)."""
    import torch

    vocab = int(_attr(_decoder_config(built), "vocab_size") or SMALL_VOCAB)
    ids = torch.randint(0, vocab, (batch, seq), dtype=torch.long)
    if not getattr(built, "is_encoder_decoder", False):
        return {"input_ids": ids}, None
    if getattr(model, "main_input_name", "input_ids") == "input_features":
        length = int(built.max_source_positions)
        # Whisper's two convolutions halve the mel frames: 2 * max_source_positions frames in.
        features = torch.randn(batch, int(built.num_mel_bins), 2 * length, dtype=dtype)
        return {"input_features": features, "decoder_input_ids": ids}, length
    length = seq if enc_seq is None else enc_seq
    enc_ids = torch.randint(0, vocab, (batch, length), dtype=torch.long)
    return {"input_ids": enc_ids, "decoder_input_ids": ids}, length


# --------------------------------------------------------------------------------------------
# Walking a cache


def walk_cache(cache: Any) -> tuple[list[LayerRecord], int, int]:
    """Per-layer records, deduplicated tensor bytes and distinct storage bytes of a cache.

    Generic over cache classes: an encoder-decoder cache is walked as its self-attention and
    cross-attention caches; a cache with `layers` is walked layer by layer, taking every tensor
    attribute of each layer (keys, values, conv and recurrent states in dicts or lists, indexer
    keys) except private ones whose names start with "_" (such as the window-size scalar of a
    sliding layer); tensors held by the cache object itself are reported as part "cache"; a
    legacy tuple cache is walked as nested tuples.
    """
    seen_tensors: set[tuple[Any, ...]] = set()
    seen_storages: dict[int, int] = {}
    records: list[LayerRecord] = []

    def record(index: int, part: str, owner: Any, named: Iterable[tuple[str, Any]]) -> None:
        tensors = []
        for name, tensor in named:
            key = (
                tensor.data_ptr(),
                tuple(tensor.shape),
                tuple(tensor.stride()),
                tensor.dtype,
            )
            counted = key not in seen_tensors or tensor.numel() == 0
            seen_tensors.add(key)
            if tensor.numel() > 0:
                storage = tensor.untyped_storage()
                seen_storages[storage.data_ptr()] = storage.nbytes()
            tensors.append(
                TensorRecord(
                    name=name,
                    shape=tuple(int(s) for s in tensor.shape),
                    dtype=str(tensor.dtype).removeprefix("torch."),
                    nbytes=tensor.numel() * tensor.element_size(),
                    counted=counted,
                )
            )
        records.append(LayerRecord(index, part, type(owner).__name__, tuple(tensors)))

    def walk(obj: Any, part: str) -> None:
        if hasattr(obj, "self_attention_cache") and hasattr(obj, "cross_attention_cache"):
            walk(obj.self_attention_cache, "self")
            walk(obj.cross_attention_cache, "cross")
            return
        layers = getattr(obj, "layers", None)
        if isinstance(layers, list):
            for index, layer in enumerate(layers):
                record(index, part, layer, _tensors_of(layer))
            extra = [(n, t) for n, t in _tensors_of(obj, skip=("layers",)) if t is not None]
            if extra:
                record(-1, "cache", obj, extra)
            return
        if isinstance(obj, (tuple, list)):
            for index, item in enumerate(obj):
                record(index, part, item, _nested_tensors(item, f"[{index}]"))
            return
        record(-1, part or "cache", obj, _tensors_of(obj))

    walk(cache, "")
    total = sum(r.nbytes for r in records)
    return records, total, sum(seen_storages.values())


def _tensors_of(obj: Any, skip: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    import torch

    found: list[tuple[str, Any]] = []
    for name, value in sorted(vars(obj).items()):
        if name.startswith("_") or name in skip:
            continue
        if isinstance(value, torch.Tensor):
            found.append((name, value))
        elif isinstance(value, (dict, list, tuple)):
            found.extend(_nested_tensors(value, name))
    return found


def _nested_tensors(value: Any, prefix: str) -> list[tuple[str, Any]]:
    import torch

    if isinstance(value, torch.Tensor):
        return [(prefix, value)]
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_nested_tensors(item, f"{prefix}[{key}]"))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found.extend(_nested_tensors(item, f"{prefix}[{index}]"))
    return found


def measured_cache_bytes(
    config: Mapping[str, Any],
    *,
    seq: int,
    batch: int,
    dtype: str = "bfloat16",
    enc_seq: int | None = None,
) -> int:
    """Bytes the cache of the shrunk model holds after a `batch x seq` prefill.

    The config this is measured on is `shrink_config(config)`; run the calculator on that.
    """
    return measure(config, seq=seq, batch=batch, dtype=dtype, enc_seq=enc_seq).bytes
