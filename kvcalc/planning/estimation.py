"""An estimate end to end: resolve the model, read its architecture, size its cache."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kvcalc.engines.kvbytes import GroupBytes, Workload
from kvcalc.errors import ConfigError, InputError
from kvcalc.model.architecture import Architecture

if TYPE_CHECKING:
    from kvcalc.engines import Deployment, EngineResult
from kvcalc.model.dialects import read_architecture
from kvcalc.model.dtypes import FP16, CacheDtype, config_dtype, parse_dtype
from kvcalc.sources.resolve import HubOptions, ModelSource, resolve
from kvcalc.units import parse_count, parse_tokens
from kvcalc.values import replace, value

__all__ = ["Estimate", "LoadedModel", "estimate", "load_model"]


@value
class Estimate:
    """The KV cache of one model under one workload and cache dtype, with its provenance."""

    source: ModelSource
    architecture: Architecture
    dtype: CacheDtype
    workload: Workload
    groups: tuple[GroupBytes, ...]
    # What the engine allocates for the next token of one sequence at this length: see
    # `marginal_bytes`. `bytes_per_token` is the uncapped figure.
    marginal_bytes_per_token: int
    notes: tuple[str, ...] = ()
    engine: str = "default"
    assumptions: tuple[str, ...] = ()  # engine defaults applied, e.g. "block size 16 (...)"

    @property
    def total_bytes(self) -> int:
        return sum(group.total_bytes for group in self.groups)

    @property
    def bytes_per_token(self) -> int:
        """Bytes one token of one sequence adds across all layers, before any window cap."""
        return sum(group.bytes_per_token for group in self.groups)

    @property
    def beyond_max_position_embeddings(self) -> bool:
        """True when the length is past the model's context (`max_position_embeddings`)."""
        limit = self.architecture.max_position_embeddings
        return limit is not None and self.workload.seq_len > limit


@value
class LoadedModel:
    """A resolved model reference and the architecture read from its config."""

    source: ModelSource
    architecture: Architecture


def load_model(reference: str | os.PathLike[str], hub: HubOptions | None = None) -> LoadedModel:
    """Resolve `reference` (preset, path or hub id) and read its architecture."""
    source = resolve(os.fspath(reference), hub)
    try:
        architecture = read_architecture(source.config)
    except ConfigError as error:
        raise type(error)(f"{source.location}: {error}") from None
    return LoadedModel(source, architecture)


def resolve_dtype(
    name: str, architecture: Architecture, *, kv_cache: bool = False, engine: str = "default"
) -> tuple[CacheDtype, tuple[str, ...]]:
    """The dtype for `name`; `auto` is the config's own dtype (fp16 if it names none). For the
    KV cache (`kv_cache`), `auto` is what `engine` caches in at its default
    (`engines.auto_cache_dtype`): the checkpoint's quantized cache dtype where the engine
    reads it, llama.cpp's f16, a float32 checkpoint in the 16 bits vLLM and SGLang run it in."""
    if name.strip().lower() != "auto":
        return parse_dtype(name), ()
    notes: tuple[str, ...] = ()
    if architecture.config_dtype is None:
        found: CacheDtype | None = FP16
        notes = ("config.json names no torch_dtype; assuming fp16 (2 bytes per element)",)
    else:
        found = config_dtype(architecture.config_dtype)
    if found is None:
        raise ConfigError(
            f"config.json torch_dtype {architecture.config_dtype!r} is not a dtype kvcalc "
            "knows; pass --dtype"
        )
    if not kv_cache:
        return found, notes
    from kvcalc.engines import auto_cache_dtype

    chosen, engine_notes = auto_cache_dtype(engine, architecture, found)
    return chosen, (*notes, *engine_notes)


def resolve_seq(text: str | int, architecture: Architecture) -> tuple[int, tuple[str, ...]]:
    """A token count; `max` is the model's max_position_embeddings."""
    limit = architecture.max_position_embeddings
    if isinstance(text, int):
        if isinstance(text, bool) or text <= 0:
            raise InputError(f"--seq must be at least 1, got {text!r}")
        seq = text
    elif text.strip().lower() == "max":
        if limit is None:
            raise InputError(
                f"--seq max: model_type {architecture.model_type!r} config gives no "
                "max_position_embeddings; pass a token count"
            )
        return limit, ()
    else:
        seq = parse_tokens(text)
    if limit is not None and seq > limit:
        return seq, (f"--seq {seq:,} exceeds the model's max_position_embeddings ({limit:,})",)
    return seq, ()


def positive_count(value: int | str | None, what: str) -> int | None:
    """A positive integer option (`8`, `8k` where counts allow it); None stays None."""
    if value is None:
        return None
    number = value if isinstance(value, int) else parse_count(value, what=what)
    if isinstance(number, bool) or number <= 0:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    return number


def estimate(
    model: str | os.PathLike[str] | LoadedModel,
    *,
    seq: int | str = "max",
    batch: int | str = 1,
    dtype: str = "auto",
    engine: str = "default",
    enc_seq: int | str | None = None,
    block_size: int | str | None = None,
    hub: HubOptions | None = None,
    deployment: Deployment | None = None,
) -> Estimate:
    """The KV cache of `model` for `batch` sequences of `seq` tokens in `dtype`, as `engine`
    allocates it on one GPU, or on the busiest GPU of `deployment` (see kvcalc.engines)."""
    from kvcalc.engines import Deployment, rule, size

    rule(engine)
    loaded = model if isinstance(model, LoadedModel) else load_model(model, hub)
    architecture = loaded.architecture
    cache_dtype, dtype_notes = resolve_dtype(dtype, architecture, kv_cache=True, engine=engine)
    model_dtype = model_dtype_of(architecture, cache_dtype, engine)
    seq_len, seq_notes = resolve_seq(seq, architecture)
    batch_size = positive_count(batch, "--batch") or 1
    encoder = positive_count(enc_seq if not isinstance(enc_seq, str) else parse_tokens(enc_seq,
                        what="--enc-seq"), "--enc-seq")  # fmt: skip
    workload = Workload(batch_size, seq_len, encoder)
    deployment = deployment or Deployment()
    block = positive_count(block_size, "--block-size")
    if block is not None:
        deployment = replace(deployment, block_size=block)
    result = size(engine, architecture, workload, cache_dtype, model_dtype, deployment)
    notes = (*loaded.source.notes, *dtype_notes, *seq_notes, *result.notes,
             *window_notes(result.groups, seq_len, architecture.num_layers))  # fmt: skip
    single = result if batch_size == 1 else None
    marginal = marginal_bytes(engine, architecture, workload, cache_dtype, model_dtype,
                              deployment, single)  # fmt: skip
    return Estimate(loaded.source, architecture, cache_dtype, workload, result.groups, marginal,
                    notes, engine.lower(), result.assumptions)  # fmt: skip


def marginal_bytes(
    engine: str, architecture: Architecture, workload: Workload, dtype: CacheDtype,
    model_dtype: CacheDtype, deployment: Deployment, single: EngineResult | None = None,
) -> int:  # fmt: skip
    """Bytes `engine` allocates for one more token of one sequence at `workload.seq_len`:
    size(seq + 1) - size(seq) for one sequence, by the one sizing path (`engines.size`).

    Below a window this is every layer's share; past it only the uncapped layers'. A paged
    engine allocates whole blocks, so it is 0 inside a block and a whole block at its edge.
    `single` is the size at one sequence when the caller has it already.
    """
    from kvcalc.engines import size

    now = Workload(1, workload.seq_len, workload.enc_seq)
    if single is None:
        single = size(engine, architecture, now, dtype, model_dtype, deployment)
    following = replace(now, seq_len=workload.seq_len + 1)
    return size(engine, architecture, following, dtype, model_dtype, deployment).total_bytes - (
        single.total_bytes
    )


def model_dtype_of(
    architecture: Architecture, cache: CacheDtype | None = None, engine: str = "default"
) -> CacheDtype:
    """The dtype `engine` computes the model in: its torch_dtype (fp16 when it names none) as
    the engine runs it (`engines.compute_dtype`); the cache dtype given when the config names
    one kvcalc does not know (else that is an error)."""
    from kvcalc.engines import compute_dtype

    if architecture.config_dtype is None:
        return FP16
    found = config_dtype(architecture.config_dtype)
    if found is None:
        return cache if cache is not None else resolve_dtype("auto", architecture)[0]  # raises
    return compute_dtype(engine, architecture.model_type, found)[0]


def window_notes(groups: tuple[GroupBytes, ...], seq_len: int, layers: int) -> tuple[str, ...]:
    """`52 of 62 layers capped at 1,024 tokens` for every windowed group that caps; "layer
    caches" where the groups are an engine's caches rather than the model's `layers` (vLLM's
    DeepSeek V4 groups: a layer holds up to three caches)."""
    total = sum(group.group.count for group in groups)
    what = "layers" if layers == total else "layer caches"
    return tuple(
        f"{group.group.count} of {total} {what} capped at {group.tokens_per_sequence:,} tokens "
        f"({group.group.kind.value}, window {group.group.window_tokens:,})"
        for group in groups
        if group.group.window_tokens is not None and 0 < group.tokens_per_sequence < seq_len
    )
