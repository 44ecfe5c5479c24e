"""A fit request end to end: the model, the GPU, the weights, then the engine's sizing rule."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from kvcalc.engines.parallel import (
    Draft,
    FitReport,
    Parallelism,
    fit_report,
    parse_util,
    plan_parallelism,
    validate,
)
from kvcalc.errors import InputError
from kvcalc.model.architecture import Architecture, LayerKind
from kvcalc.model.dtypes import CacheDtype, parse_dtype
from kvcalc.planning.estimation import LoadedModel, load_model, resolve_dtype, resolve_seq
from kvcalc.planning.gpus import Gpu, custom_gpu, find_gpu
from kvcalc.sizes import parse_size
from kvcalc.sources.hub import HubUnavailableError
from kvcalc.sources.presets import Preset, find_preset
from kvcalc.sources.resolve import HubOptions, ModelSource
from kvcalc.sources.weights import (
    NoWeightsError,
    Weights,
    counted_weights,
    local_weights,
    parse_params,
    weights_dtype,
)
from kvcalc.units import format_size, parse_count

BUDGET_RULE = (
    "KV budget per GPU = floor(GPU memory x util) - weights per GPU; activations, CUDA graphs "
    "and the engine's own buffers are not modelled and must fit in what util holds back"
)


@dataclass(frozen=True)
class Fit:
    """A model, a GPU and a workload, and how they fit."""

    source: ModelSource
    architecture: Architecture
    gpu: Gpu
    kv_dtype: CacheDtype
    weights: Weights
    report: FitReport
    notes: tuple[str, ...] = ()


def choose_gpu(gpu: str | None, gpu_memory: str | None) -> Gpu:
    """The catalogue GPU `gpu`, or a GPU of `gpu_memory` (`80GiB`); exactly one of them."""
    if (gpu is None) == (gpu_memory is None):
        raise InputError("give one of --gpu NAME (see `kvcalc gpus`) or --gpu-memory SIZE")
    if gpu is not None:
        return find_gpu(gpu)
    assert gpu_memory is not None
    return custom_gpu(parse_size(gpu_memory, what="--gpu-memory"), gpu_memory)


def fit(
    model: str | os.PathLike[str] | LoadedModel,
    *,
    gpu: str | None = None,
    gpu_memory: str | None = None,
    gpus: int | None = None,
    tp: int | None = None,
    pp: int = 1,
    seq: int | str = "max",
    batch: int | str = 1,
    dtype: str = "auto",
    weights_dtype: str = "auto",
    params: int | str | None = None,
    util: str | Fraction = "0.9",
    hub: HubOptions | None = None,
    draft: str | os.PathLike[str] | LoadedModel | None = None,
    spec_tokens: int = 4,
) -> Fit:
    """Whether `batch` sequences of `seq` tokens of `model` fit on `gpus` GPUs."""
    hub = hub or HubOptions()
    device = choose_gpu(gpu, gpu_memory)
    fraction = util if isinstance(util, Fraction) else parse_util(util)
    par = plan_parallelism(gpus, tp, pp)
    loaded = model if isinstance(model, LoadedModel) else load_model(model, hub)
    architecture = loaded.architecture
    kv_dtype, dtype_notes = resolve_dtype(dtype, architecture)
    if kv_dtype.name == "fp8_ds_mla":
        raise InputError("kvcalc fit sizes element formats; fp8_ds_mla is an engine's row layout")
    validate(architecture, kv_dtype, par)  # before any hub request for the weights
    seq_len, seq_notes = resolve_seq(seq, architecture)
    batch_size = batch if isinstance(batch, int) else parse_count(batch, what="--batch")
    if isinstance(batch_size, bool) or batch_size <= 0:
        raise InputError(f"--batch must be a positive integer, got {batch!r}")
    weights = resolve_weights(
        loaded.source, architecture, dtype=weights_dtype, params=params, hub=hub
    )
    plan, draft_notes = _draft(draft, spec_tokens, dtype, weights_dtype, hub)
    report = fit_report(
        architecture, kv_dtype, par, gpu_bytes=device.memory_bytes, util=fraction,
        weights_bytes=weights.total_bytes, batch=batch_size, seq_len=seq_len, draft=plan,
    )  # fmt: skip
    notes = dict.fromkeys((
        *loaded.source.notes, *dtype_notes, *seq_notes, *weights.notes, *draft_notes,
        *parallel_notes(architecture, par), BUDGET_RULE,
    ))  # fmt: skip
    return Fit(loaded.source, architecture, device, kv_dtype, weights, report, tuple(notes))


def _draft(
    draft: str | os.PathLike[str] | LoadedModel | None, spec_tokens: int, dtype: str,
    weights_dtype: str, hub: HubOptions,
) -> tuple[Draft | None, tuple[str, ...]]:  # fmt: skip
    """The draft of speculative decoding: its architecture, cache dtype and weights."""
    if draft is None:
        return None, ()
    if isinstance(spec_tokens, bool) or spec_tokens <= 0:
        raise InputError(f"--spec-tokens must be a positive integer, got {spec_tokens!r}")
    loaded = draft if isinstance(draft, LoadedModel) else load_model(draft, hub)
    draft_dtype, notes = resolve_dtype(dtype, loaded.architecture)
    weights = resolve_weights(loaded.source, loaded.architecture, dtype=weights_dtype,
                              params=None, hub=hub)  # fmt: skip
    note = (f"draft {loaded.source.name}: served on the same GPUs with the same TP/PP split; "
            f"both caches hold seq + {spec_tokens} tokens")  # fmt: skip
    plan = Draft(loaded.architecture, draft_dtype, spec_tokens, weights.total_bytes)
    return plan, (*loaded.source.notes, *notes, *weights.notes, note)


def resolve_weights(
    source: ModelSource,
    architecture: Architecture,
    *,
    dtype: str = "auto",
    params: int | str | None = None,
    hub: HubOptions | None = None,
) -> Weights:
    """--params; else the safetensors headers (local folder or hub); else a preset's count.

    Stored tensors count their real bytes; --weights-dtype, if given, prices their elements
    at that dtype instead. A hub repo that cannot be read falls back to the preset of the same
    repo, as its config does.
    """
    hub = hub or HubOptions()
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
            note = f"{error}; using the parameter count bundled for {preset.hub_id}"
            return preset_weights(preset, architecture, override, (note,))
        if override is None:
            return stored
        note = (
            f"--weights-dtype {override.name}: {stored.params:,} stored elements x "
            f"{override.name}, not the stored bytes"
        )
        return counted_weights(stored.params, override, stored.source, stored.location, [note])
    return preset_weights(preset, architecture, override, ())


def _stored_weights(source: ModelSource, hub: HubOptions) -> Weights:
    if source.kind == "hub":
        from kvcalc.sources.weights_hub import hub_weights

        return hub_weights(source.name, hub)
    folder = Path(source.location).parent
    found = local_weights(folder)
    if found is None:
        raise NoWeightsError(
            f"no *.safetensors files in {folder}, so the weights cannot be sized; pass "
            "--params N (the parameter count)"
        )
    return found


def preset_weights(
    preset: Preset, architecture: Architecture, override: CacheDtype | None, notes: tuple[str, ...]
) -> Weights:
    """The preset's parameter count x the weights dtype (given, the checkpoint's, or config's)."""
    if preset.params is None:
        raise NoWeightsError(f"preset {preset.name} records no parameter count; pass --params N")
    dtype_notes: tuple[str, ...] = ()
    if override is not None:
        dtype = override
    elif preset.weights_dtype is not None:
        dtype = parse_dtype(preset.weights_dtype)
        dtype_notes = (f"{preset.name}: weights priced as {dtype.name}, the checkpoint's storage",)
    else:
        dtype, dtype_notes = resolve_dtype("auto", architecture)
    extra = [f"{preset.name}: {preset.weights_note}"] if preset.weights_note else []
    if not preset.params_exact:
        extra.append(f"{preset.name}: {preset.params:,} parameters is a rounded published figure")
    notes = (*notes, *dtype_notes, *extra)
    basis = preset.params_source or f"preset {preset.name}"
    return counted_weights(preset.params, dtype, "preset", preset.name, notes, basis)


def parallel_notes(architecture: Architecture, par: Parallelism) -> tuple[str, ...]:
    """What tensor and pipeline parallelism do to this model that is not obvious."""
    notes = []
    attention = next((g.attention for g in architecture.groups if g.attention), None)
    if attention is not None and par.tp > 1:
        kv = attention.num_kv_heads
        if attention.mla is not None:
            notes.append(f"the MLA latent is not split: each of the {par.tp} GPUs holds it whole")
        elif par.tp > kv:
            notes.append(
                f"--tp {par.tp} exceeds the {kv} KV heads: each GPU holds 1 KV head, every "
                f"head replicated on {par.tp // kv} GPUs (vLLM's rule, docs/engines.md 1.2)"
            )
    kinds = {g.kind for g in architecture.groups if g.kind is not LayerKind.NONE}
    if par.pp > 1 and len(kinds) > 1:
        notes.append(
            "the busiest pipeline stage is taken to hold the heaviest layers (layer order "
            "is not modelled): an upper bound"
        )
    if par.tp * par.pp > 1:
        notes.append(f"weights taken as split evenly over the {par.tp * par.pp} GPUs of a replica")
    return tuple(notes)


def shortfall(result: Fit) -> str:
    """Why `result` does not fit, in one line."""
    report = result.report
    if report.budget_bytes < 0:
        return (
            f"does not fit: the weights take {format_size(report.weights_bytes_per_gpu)} per "
            f"GPU, more than the {format_size(report.usable_bytes)} usable at --util "
            f"{float(report.util):g}"
        )
    most = report.max_batch or 0
    limits = [f"at most {most:,} sequence{'' if most == 1 else 's'} of {report.seq_len:,} tokens"]
    if report.max_seq_len is not None:
        limits.append(f"{report.max_seq_len:,} tokens at batch {report.batch:,}")
    return (
        f"does not fit: batch {report.batch:,} x {report.seq_len:,} tokens needs "
        f"{format_size(report.kv_bytes)} of KV cache per GPU, "
        f"{format_size(-report.free_bytes)} more than the {format_size(report.budget_bytes)} "
        f"left after the weights; {' or '.join(limits)} fit"
    )
