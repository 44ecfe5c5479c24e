"""Per-layer kinds of hybrid models, and the layer groups they make."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from kvcalc.model.architecture import Attention, LayerGroup, LayerKind, RecurrentState
from kvcalc.model.dialects.fields import ConfigReader

FULL, SLIDING, STATE, NONE = LayerKind.FULL, LayerKind.SLIDING, LayerKind.STATE, LayerKind.NONE

# What each layer-type name caches, as transformers 5.23 spells them (`ALLOWED_ATTN_LAYER_TYPES`
# and the legacy names it remaps: "mamba" → linear_attention, "attention" → full_attention).
# A "hybrid" layer (Falcon-H1, Zamba2) holds both attention keys and values and a state.
NAME_KINDS: dict[str, tuple[LayerKind, ...]] = {
    "full_attention": (FULL,),
    "attention": (FULL,),
    "sliding_attention": (SLIDING,),
    "linear_attention": (STATE,),
    "mamba": (STATE,),
    "conv": (STATE,),
    "hybrid": (FULL, STATE),
    "moe": (NONE,),
    "mlp": (NONE,),
}


def make_state(
    cfg: ConfigReader, channels: int, kernel: int, shape: tuple[int, ...], groups: int = 0,
    group_channels: int = 0,
) -> RecurrentState:  # fmt: skip
    """A RecurrentState; an inconsistency becomes an error naming the model_type."""
    try:
        return RecurrentState(channels, kernel, shape, groups, group_channels)
    except ValueError as error:
        raise cfg.error(str(error)) from None


def layer_names(
    cfg: ConfigReader, key: str, layers: int, allowed: Iterable[str]
) -> list[str] | None:
    """The per-layer type names under `key` (None without one), checked against `allowed`."""
    names = cfg.string_list(key)
    if names is None:
        return None
    choices = sorted(allowed)
    if len(names) != layers or set(names) - set(choices):
        raise cfg.error(
            f"{cfg.key_name(key)} must list one of {', '.join(choices)} "
            f"for each of the {layers} layers"
        )
    cfg.record("layer kinds", cfg.key_name(key))
    return names


def counted(
    kinds: Iterable[LayerKind],
    attention: Attention | None,
    state: RecurrentState | None,
    window: int | None = None,
) -> tuple[LayerGroup, ...]:
    """Groups in a fixed order (attention first) from the kinds of every layer."""
    counts = Counter(kinds)
    groups = []
    for kind in (FULL, SLIDING, STATE, NONE):
        if counts[kind]:
            groups.append(
                LayerGroup(
                    kind, counts[kind],
                    attention=attention if kind in (FULL, SLIDING) else None,
                    window_tokens=window if kind is SLIDING else None,
                    state=state if kind is STATE else None,
                )
            )  # fmt: skip
    return tuple(groups)


def from_names(
    names: Iterable[str],
    attention: Attention | None,
    state: RecurrentState | None,
    window: int | None = None,
) -> tuple[LayerGroup, ...]:
    """Groups from layer-type names: a hybrid layer counts in an attention and a state group."""
    return counted((kind for name in names for kind in NAME_KINDS[name]), attention, state, window)
