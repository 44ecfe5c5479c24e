"""transformers 5.23 `DynamicCache` after one prefill of `seq` tokens (docs/engines.md §4)."""

from __future__ import annotations

from kvcalc.engines import Deployment, EngineResult, require_dtype
from kvcalc.engines.kvbytes import (
    GroupBytes,
    StateRule,
    Workload,
    attention_group,
    encoder_tokens,
    size_groups,
    state_bytes,
)
from kvcalc.model.architecture import Architecture, LayerGroup, LayerKind, RecurrentState
from kvcalc.model.dtypes import FP32, CacheDtype

# DynamicCache keeps the model dtype; a checkpoint's KV-cache quantization is not applied.
READS_KV_CACHE_SCHEME = False


def _tokens(group: LayerGroup, architecture: Architecture, workload: Workload) -> int:
    """`DynamicSlidingWindowLayer` keeps the last window - 1 tokens (the slice [-W+1:]);
    Llama 4's chunked layers use the same class with the chunk size as window."""
    if group.kind is LayerKind.CROSS:
        return encoder_tokens(architecture, workload)
    if group.window_tokens is None:
        return workload.seq_len
    return min(workload.seq_len, group.window_tokens - 1)


def _per_layer_token(group: LayerGroup, architecture: Architecture, dtype: CacheDtype) -> int:
    attention = group.cached_attention
    if attention.mla is None and "transformers-repeats-kv" in architecture.quirks:
        # Falcon's new decoder architecture repeats K/V to every query head before caching.
        return dtype.bytes_for(attention.num_heads * (attention.k_head_dim + attention.v_head_dim))
    # MLA (since 5.15): keys hold the kv_lora_rank latent, values the RoPE key; plus the
    # sparse-attention indexer's keys where there is one.
    return dtype.bytes_for(attention.elements_per_token)


def _deepseek_v4(
    group: LayerGroup, workload: Workload, tokens: int, dtype: CacheDtype
) -> GroupBytes:
    """DeepSeek V4 (`modeling_deepseek_v4.py`): a sliding-only layer is a plain
    `DynamicSlidingWindowLayer`, K and V two tensors of the one shared vector;
    `DeepseekV4HCACache` and `DeepseekV4CSACache` keep K = V once, the running
    `compressed_kv` (one entry per whole window, plus the indexer's), and the `buffer_kv`
    and `buffer_gate` of the S mod ratio tokens of the open window (CSA: two series per
    token); CSA also keeps `overlap_kv` and `overlap_gate` (ratio tokens of the last window's
    first series) once a window has closed. All in the model dtype."""
    attention, compression = group.cached_attention, group.compression
    dim = attention.num_kv_heads * attention.k_head_dim
    if compression is None:
        return attention_group(group, workload, tokens, dtype.bytes_for(2 * dim))
    seq, ratio = workload.seq_len, compression.ratio
    width = dim + compression.indexer_dim
    series = 2 if compression.sparse else 1
    elements = tokens * dim + compression.entries(seq) * width
    elements += 2 * (seq % ratio) * series * width
    if compression.sparse and seq >= ratio:
        elements += 2 * ratio * width
    per_token = group.count * dtype.bytes_for(dim)
    total = workload.batch * group.count * dtype.bytes_for(elements)
    return GroupBytes(group, tokens, per_token, total, "window + compressed entries + buffers")


def _state(architecture: Architecture, dtype: CacheDtype) -> StateRule:
    """LinearAttentionLayer: conv state keeps the whole kernel width, in the model dtype; the
    recurrent state comes out of the fp32 scan (MiniMax's lightning attention computes its
    state in the model dtype)."""
    model_dtype_state = "transformers-state-model-dtype" in architecture.quirks
    recurrent = dtype if model_dtype_state else FP32

    def size(state: RecurrentState) -> tuple[int, str]:
        per_layer = state_bytes(state, state.conv_kernel, dtype, recurrent)
        return per_layer, f"conv (full kernel) + {recurrent.name} state"

    return size


def allocate(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    deployment: Deployment,
) -> EngineResult:  # fmt: skip
    """The cache tensors' bytes; the cache dtype is the model dtype (fp32, fp16 or bf16)."""
    require_dtype("transformers", dtype, allowed=("fp32", "fp16", "bf16"))

    def attention(group: LayerGroup) -> GroupBytes:
        tokens = _tokens(group, architecture, workload)
        if group.cached_attention.shared_kv:
            return _deepseek_v4(group, workload, tokens, dtype)
        per_layer = _per_layer_token(group, architecture, dtype)
        return attention_group(group, workload, tokens, per_layer)

    return EngineResult(size_groups(architecture, workload, _state(architecture, dtype), attention))
