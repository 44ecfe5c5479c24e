"""The weights `fit` places on the GPUs: given, stored (safetensors headers), or a preset's
recorded checkpoint; never a guess it cannot stand behind."""

from __future__ import annotations

from pathlib import Path

from kvcalc.model.architecture import Architecture
from kvcalc.model.dtypes import CacheDtype
from kvcalc.planning.estimation import resolve_dtype
from kvcalc.sizes import parse_size
from kvcalc.sources.gguf import GgufHeader, gguf_source_weights
from kvcalc.sources.hub import HubUnavailableError
from kvcalc.sources.presets import Preset, find_preset, quantized_tag
from kvcalc.sources.resolve import HubOptions, ModelSource
from kvcalc.sources.weights import (
    DTYPE_BITS,
    NoWeightsError,
    Weights,
    counted_weights,
    local_weights,
    parse_params,
    weights_dtype,
)


def resolve_weights(
    source: ModelSource,
    architecture: Architecture,
    *,
    dtype: str = "auto",
    params: int | str | None = None,
    weights: int | str | None = None,
    hub: HubOptions | None = None,
) -> Weights:
    """--weights SIZE; else --params; else the stored tensors (safetensors headers, local or
    on the hub); else a preset's recorded checkpoint.

    Stored tensors count their real bytes (fp8 with scales, MXFP4 blocks, packed int4);
    --weights-dtype, if given, prices their elements at that dtype instead. A hub repo that
    cannot be read falls back to the preset of the same repo, as its config does.
    """
    hub = hub or HubOptions()
    if weights is not None:
        size = weights if isinstance(weights, int) else parse_size(weights, what="--weights")
        return Weights(size, 0, "given", "--weights", basis="--weights")
    override = None if dtype.strip().lower() == "auto" else weights_dtype(dtype)
    if params is not None:
        count = params if isinstance(params, int) else parse_params(params)
        chosen, notes = (override, ()) if override else resolve_dtype("auto", architecture)
        return counted_weights(count, chosen, "params", "--params", notes, "--params")
    preset = find_preset(source.name) if source.kind == "preset" else None
    if preset is None:
        try:
            stored = _stored_weights(source, hub)
        except (NoWeightsError, HubUnavailableError) as error:
            preset = find_preset(source.name) if source.kind == "hub" else None
            if preset is None or hub.revision is not None:
                raise
            note = f"{error}; using the checkpoint bundled for {preset.hub_id}"
            _check_same_checkpoint(preset, source.name, override)
            return preset_weights(preset, architecture, override, (note,))
        if override is None:
            return stored
        note = (
            f"--weights-dtype {override.name}: {stored.params:,} stored elements x "
            f"{override.name}, not the stored bytes"
        )
        return counted_weights(stored.params, override, stored.source, stored.location, [note])
    _check_same_checkpoint(preset, source.reference or source.name, override)
    return preset_weights(preset, architecture, override, ())


def _check_same_checkpoint(preset: Preset, reference: str, override: CacheDtype | None) -> None:
    """Refuses (exit 1) to size `reference` by a preset whose checkpoint is stored otherwise:
    a quantized alias of a bf16 preset, or the reverse. --weights-dtype prices it as asked."""
    if override is None and not preset.shares_checkpoint(reference):
        stored = quantized_tag(reference) or "unquantized"
        raise NoWeightsError(
            f"{reference} is stored {stored}, unlike {preset.hub_id} whose checkpoint preset "
            f"{preset.name} records; pass --weights SIZE (its checkpoint's bytes), or reach the "
            "hub to read its safetensors headers"
        )


def _stored_weights(source: ModelSource, hub: HubOptions) -> Weights:
    if isinstance(source.config, GgufHeader):
        return gguf_source_weights(source, source.config, hub)
    if source.kind == "hub":
        from kvcalc.sources.weights_hub import hub_weights

        return hub_weights(source.name, hub)
    folder = Path(source.location).parent
    found = local_weights(folder)
    if found is None:
        raise NoWeightsError(
            f"no *.safetensors files in {folder}, so the weights cannot be sized; pass "
            "--weights SIZE (the checkpoint's bytes) or --params N"
        )
    return found


def checkpoint_weights(preset: Preset, notes: tuple[str, ...]) -> Weights | None:
    """The preset's recorded checkpoint: the elements transformers loads, by dtype, x each
    dtype's width (the weights a loader holds); else the hub's exact bytes (the files)."""
    by_dtype = [(name, count * DTYPE_BITS[name] // 8) for name, count in preset.checkpoint_by_dtype
                if name in DTYPE_BITS]  # fmt: skip
    loaded = sum(size for _, size in by_dtype)
    if by_dtype and len(by_dtype) == len(preset.checkpoint_by_dtype):
        total, basis = loaded, preset.checkpoint_by_dtype_source
        if preset.checkpoint_bytes not in (None, loaded):
            notes = (*notes, f"{preset.name}: the hub's files hold {preset.checkpoint_bytes:,} "
                     f"bytes; a loader holds {loaded:,} (docs/checkpoints.md)")  # fmt: skip
    elif preset.checkpoint_bytes is not None:
        total, basis = preset.checkpoint_bytes, preset.checkpoint_source
    else:
        return None
    elements = sum(count for _, count in preset.checkpoint_by_dtype)
    return Weights(total, elements, "preset", preset.name, None, tuple(by_dtype), notes,
                   basis or f"preset {preset.name}")  # fmt: skip


def preset_weights(
    preset: Preset, architecture: Architecture, override: CacheDtype | None, notes: tuple[str, ...]
) -> Weights:
    """The preset's recorded checkpoint bytes; else its parameter count x the weights dtype
    (given, or the config's) where that dtype is how the checkpoint is stored. A quantized
    checkpoint without recorded bytes is refused (exit 1), never priced at a guessed width."""
    if override is None:
        found = checkpoint_weights(preset, notes)
        if found is not None:
            return found
    if preset.params is None:
        raise NoWeightsError(
            f"preset {preset.name} records no checkpoint size; pass --weights SIZE or --params N"
        )
    if override is None and preset.weights_note:
        raise NoWeightsError(
            f"preset {preset.name}: {preset.weights_note}; kvcalc has no exact size for it, so "
            f"pass --weights SIZE (the checkpoint's bytes), or the hub id {preset.hub_id} to "
            "read its safetensors headers"
        )
    dtype_notes: tuple[str, ...] = ()
    if override is not None:
        dtype = override
    else:
        dtype, dtype_notes = resolve_dtype("auto", architecture)
    extra = []
    if not preset.params_exact:
        extra.append(f"{preset.name}: {preset.params:,} parameters is a rounded published figure")
    basis = preset.params_source or f"preset {preset.name}"
    return counted_weights(preset.params, dtype, "preset", preset.name,
                           (*notes, *dtype_notes, *extra), basis)  # fmt: skip
