"""DeepSeek V4: a sliding window on every layer, plus compressed entries on CSA and HCA layers.

Read as transformers 5.23's `DeepseekV4Config` reads it (`configuration_deepseek_v4.py`):
`layer_types` if given, else the per-layer `compress_ratios` (0 sliding only, 4 CSA, 128
HCA), else the class's schedule; each type's rate from `compress_rates` (default 4 and 128).
Entries past `num_hidden_layers` belong to the multi-token-prediction layers, which the trunk
does not run (transformers does not build them; llama.cpp's converter leaves them out).
"""

from __future__ import annotations

from collections import Counter

from kvcalc.model.architecture import Attention, Compression, LayerGroup, LayerKind
from kvcalc.model.dialects.attention import num_heads, num_layers
from kvcalc.model.dialects.fields import ConfigReader

SLIDING, CSA, HCA = (
    "sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention"
)  # fmt: skip
_TYPE_OF_RATIO = {0: SLIDING, 4: CSA, 128: HCA}  # _COMPRESS_RATIO_TO_LAYER_TYPE
_DEFAULT_RATES = {CSA: 4, HCA: 128}  # DeepseekV4Config.default_compress_rates


def deepseek_v4(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Every layer caches a window of `sliding_window` shared K=V vectors of `head_dim` (one
    KV head); CSA layers add compressed entries and lightning-indexer keys of
    `index_head_dim`, HCA layers compressed entries only (DeepseekV4Attention)."""
    layers = num_layers(cfg)
    heads = num_heads(cfg, default=64)
    dim = cfg.positive_int("head dim", "head_dim", default=512)
    kv = cfg.positive_int("KV heads", "num_key_value_heads", default=1)
    if kv != 1:
        raise cfg.error(f"num_key_value_heads is {kv}; DeepSeek V4 shares one K=V head")
    attention = Attention(heads, 1, dim, dim, shared_kv=True)  # valid: every value positive
    window = cfg.positive_int("sliding window", "sliding_window", default=128)
    rates = _rates(cfg)
    counts = Counter(_layer_types(cfg, layers))
    indexer = 0
    if counts[CSA]:
        indexer = cfg.positive_int("indexer key dim", "index_head_dim", default=128)
    groups = []
    for kind, compression in ((SLIDING, None), (CSA, Compression(rates[CSA], indexer)),
                              (HCA, Compression(rates[HCA]))):  # fmt: skip
        if counts[kind]:
            groups.append(
                LayerGroup(LayerKind.SLIDING, counts[kind], attention, window, None, compression)
            )
    return tuple(groups)


def _layer_types(cfg: ConfigReader, layers: int) -> list[str]:
    """`layer_types`, else `compress_ratios` mapped to types, cut to the trunk's layers."""
    names = cfg.string_list("layer_types")
    if names is not None:
        source = "layer_types"
        unknown = sorted(set(names) - {SLIDING, CSA, HCA})
        if unknown:
            raise cfg.error(f"layer_types has {unknown[0]!r}; DeepSeek V4 knows {SLIDING}, "
                            f"{CSA} and {HCA}")  # fmt: skip
    elif "compress_ratios" in cfg.raw:
        source = "compress_ratios"
        names = [_ratio_type(cfg, value) for value in _int_list(cfg, "compress_ratios")]
    else:
        cfg.record("layer types", "default: 2 HCA, then CSA and HCA alternating")
        return [HCA] * min(layers, 2) + [CSA if i % 2 else HCA for i in range(layers - 2)]
    extra = len(names) - layers
    if extra < 0:
        raise cfg.error(f"{cfg.key_name(source)} lists {len(names)} layers, fewer than the "
                        f"{layers} of num_hidden_layers")  # fmt: skip
    mtp = cfg.raw.get("num_nextn_predict_layers")
    cfg.record("layer types", cfg.key_name(source))
    if extra:
        key = cfg.key_name("num_nextn_predict_layers" if mtp is not None else source)
        cfg.record(f"layer types past the trunk: {extra} (MTP, not cached)", key)
    return names[:layers]


def _int_list(cfg: ConfigReader, key: str) -> list[int]:
    value = cfg.raw.get(key)
    if not isinstance(value, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    ):
        raise cfg.error(f"{cfg.key_name(key)} must be a list of integers")
    return list(value)


def _ratio_type(cfg: ConfigReader, ratio: int) -> str:
    if ratio not in _TYPE_OF_RATIO:
        raise cfg.error(f"compress_ratios has {ratio}; DeepSeek V4 knows 0, 4 and 128")
    return _TYPE_OF_RATIO[ratio]


def _rates(cfg: ConfigReader) -> dict[str, int]:
    """Each compressed type's rate: `compress_rates`, else the class's 4 and 128."""
    if not cfg.present("compress_rates"):
        return dict(_DEFAULT_RATES)
    inner = cfg.nested("compress_rates")
    return {kind: inner.positive_int(f"{kind} rate", kind, default=rate)
            for kind, rate in _DEFAULT_RATES.items()}  # fmt: skip
