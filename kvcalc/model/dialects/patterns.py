"""Per-layer attention patterns: layer_types lists, sliding windows and chunked attention."""

from __future__ import annotations

from collections import Counter

from kvcalc.errors import UnsupportedConfigError
from kvcalc.model.architecture import Attention, LayerGroup, LayerKind
from kvcalc.model.dialects.fields import ConfigReader

LAYER_TYPE_KINDS = {
    "full_attention": LayerKind.FULL,
    "sliding_attention": LayerKind.SLIDING,
    "chunked_attention": LayerKind.CHUNKED,
}


def group_layers(
    cfg: ConfigReader,
    kinds: list[LayerKind],
    attention: Attention,
    window: int | None = None,
    chunk: int | None = None,
) -> tuple[LayerGroup, ...]:
    """One group per kind of layer, full attention first."""
    counts = Counter(kinds)
    windows = {LayerKind.FULL: None, LayerKind.SLIDING: window, LayerKind.CHUNKED: chunk}
    groups = []
    for kind in LayerKind:
        if counts[kind]:
            if kind is not LayerKind.FULL and windows[kind] is None:
                raise cfg.error(f"{counts[kind]} {kind.value} layers but no window size")
            groups.append(LayerGroup(kind, counts[kind], attention, windows[kind]))
    return tuple(groups)


def kinds_from_layer_types(cfg: ConfigReader, layers: int) -> list[LayerKind] | None:
    """The kind of every layer as the config's `layer_types` spells it, or None without one."""
    names = cfg.string_list("layer_types")
    if names is None:
        return None
    if len(names) != layers:
        raise cfg.error(
            f"{cfg.key_name('layer_types')} lists {len(names)} layers but the model has {layers}"
        )
    unknown = sorted(set(names) - set(LAYER_TYPE_KINDS))
    if unknown:
        raise UnsupportedConfigError(
            f"model_type {cfg.model_type!r}: layer type(s) {', '.join(unknown)} in "
            f"{cfg.key_name('layer_types')} are not modelled yet"
        )
    cfg.record("layer kinds", cfg.key_name("layer_types"))
    return [LAYER_TYPE_KINDS[name] for name in names]


def every_nth_full(layers: int, period: int) -> list[LayerKind]:
    """Sliding layers with every `period`-th layer (1-based) full, as Gemma 2/3 and Cohere 2 do."""
    return [
        LayerKind.FULL if (index + 1) % period == 0 else LayerKind.SLIDING
        for index in range(layers)
    ]
