"""llama.cpp: cells of the KV cache for a context of batch x seq (docs/engines.md §3)."""

from __future__ import annotations

from kvcalc.engines import EngineOptions, EngineResult, require_dtype
from kvcalc.engines.kvbytes import GroupBytes, Workload, size_groups, state_bytes
from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.architecture import Architecture, LayerGroup, LayerKind
from kvcalc.model.dtypes import FP32, CacheDtype

PAD = 256  # n_ctx and every cache size are padded to 256 cells
N_UBATCH = 512  # default micro-batch, added to a sliding window's cells
# Families whose state rows (n_embd_r, n_embd_s) docs/engines.md §3.6 does not give.
NO_STATE_RULE = frozenset({"zamba2", "minimax"})


def pad(cells: int) -> int:
    return -(-cells // PAD) * PAD


def row_bytes(dtype: CacheDtype, elements: int) -> int:
    """ggml_row_size: a row must be whole blocks of the type."""
    if elements % dtype.block_values:
        raise InputError(
            f"--engine llama.cpp: a row of {elements} values is not whole {dtype.name} blocks "
            f"of {dtype.block_values}"
        )
    return dtype.bytes_for(elements)


def _layer_row(group: LayerGroup, dtype: CacheDtype) -> int:
    """K row + V row per cell; MLA stores K only (latent + RoPE key; V is a view of it)."""
    attention = group.cached_attention
    if attention.mla is not None:
        if attention.mla.indexer_dim:
            raise UnsupportedConfigError(
                "--engine llama.cpp: the sparse-attention indexer cache is not modelled"
            )
        return row_bytes(dtype, attention.mla.latent_dim)
    kv = attention.num_kv_heads
    return row_bytes(dtype, kv * attention.k_head_dim) + row_bytes(dtype, kv * attention.v_head_dim)


def allocate(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    options: EngineOptions,
) -> EngineResult:  # fmt: skip
    """One stream of PAD(n_ctx / n_seq) cells per sequence (the CLI's non-unified default);
    sliding layers PAD(min(cells, window + n_ubatch)); recurrent states f32, one row a sequence."""
    require_dtype("llama.cpp", dtype,
                  allowed=("fp32", "fp16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
                           "iq4_nl"))  # fmt: skip
    if any(group.kind is LayerKind.CROSS for group in architecture.groups):
        raise UnsupportedConfigError("--engine llama.cpp: encoder-decoder caches are not modelled")
    if architecture.model_type in NO_STATE_RULE:
        raise UnsupportedConfigError(
            f"--engine llama.cpp: the recurrent state of model_type {architecture.model_type!r} "
            "is not modelled"
        )
    streams = workload.batch
    cells = pad(pad(streams * workload.seq_len) // streams)

    def attention(group: LayerGroup) -> GroupBytes:
        held = cells
        if group.window_tokens is not None:
            held = pad(min(cells, group.window_tokens + N_UBATCH))
        per_token = group.count * _layer_row(group, dtype)
        return GroupBytes(group, held, per_token, streams * held * per_token,
                          f"{held:,} cells per sequence")  # fmt: skip

    groups = size_groups(
        architecture, workload,
        lambda state: (state_bytes(state, state.conv_kernel - 1, FP32, FP32), "f32 r and s rows"),
        attention,
    )  # fmt: skip
    note = f"llama.cpp: n_ctx padded to {PAD}: {cells:,} cells per sequence, {streams} stream(s)"
    return EngineResult(groups, (note,))
