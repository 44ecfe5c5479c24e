"""vLLM 0.33 (v1 engine): paged blocks held by these requests (docs/engines.md §1)."""

from __future__ import annotations

from kvcalc.engines import EngineOptions, EngineResult, require_dtype
from kvcalc.engines.kvbytes import GroupBytes, Workload, encoder_tokens, size_groups, state_bytes
from kvcalc.errors import UnsupportedConfigError
from kvcalc.model.architecture import Architecture, LayerGroup, LayerKind, RecurrentState
from kvcalc.model.dtypes import FP32, CacheDtype

DEFAULT_BLOCK = 16  # CacheConfig.DEFAULT_BLOCK_SIZE
DS_MLA_ROW = 656  # fp8_ds_mla: 512 fp8 values + 16 B of scales + 64 bf16 RoPE values


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def page_per_token(group: LayerGroup, dtype: CacheDtype, engine: str = "vllm") -> int:
    """One token of one layer: kv_heads x (K + V), or the MLA latent (656 B with fp8_ds_mla)."""
    attention = group.cached_attention
    if attention.mla is not None and attention.mla.indexer_dim:
        raise UnsupportedConfigError(
            f"--engine {engine}: the sparse-attention indexer cache (index_head_dim) "
            "is not modelled"
        )
    if dtype.name == "fp8_ds_mla":
        if attention.mla is None:
            raise UnsupportedConfigError(f"--engine {engine}: fp8_ds_mla is for MLA models only")
        return DS_MLA_ROW
    return dtype.bytes_for(attention.elements_per_token)


def _refuse_unmodelled(architecture: Architecture) -> None:
    """Layouts whose vLLM allocation docs/engines.md does not give."""
    if "kv-shared-layers" in architecture.quirks:
        raise UnsupportedConfigError(
            "--engine vllm: KV-sharing layers (num_kv_shared_layers) are not modelled"
        )
    if architecture.model_type in ("mimo_v2_flash", "mimo_v2"):
        raise UnsupportedConfigError(
            "--engine vllm: sliding and full layers with different page sizes are not "
            "modelled (vLLM scales the block size of the smaller page)"
        )


def _ssm_page(state: RecurrentState, architecture: Architecture, model: CacheDtype) -> int:
    """Mamba page: conv (kernel - 1) x channels and the temporal state, in the model dtype
    (Nemotron-H keeps its SSM state in float32)."""
    ssm = FP32 if "vllm-ssm-fp32" in architecture.quirks else model
    return state_bytes(state, state.conv_kernel - 1, model, ssm)


def _hybrid_block(
    architecture: Architecture, block: int, attention_page: int, mamba_page: int
) -> int:
    """`_align_hybrid_block_size`: the attention block grows until its page covers a Mamba page."""
    kernel_block = max(DEFAULT_BLOCK, block)
    if any(g.attention and g.attention.mla for g in architecture.groups):
        kernel_block = max(kernel_block, 128)
    aligned = kernel_block * cdiv(mamba_page, kernel_block * attention_page)
    return max(block, aligned)


def _blocks(group: LayerGroup, seq: int, block: int, promote: bool) -> int:
    """Blocks one request holds: cdiv(N, B); a sliding layer frees blocks wholly outside W."""
    held = cdiv(seq, block)
    if group.kind is LayerKind.SLIDING and not promote and group.window_tokens is not None:
        held -= max(0, seq - group.window_tokens + 1) // block
    return held


def allocate(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    options: EngineOptions,
) -> EngineResult:  # fmt: skip
    """Per request: blocks x block size x page bytes per token, summed over layers."""
    require_dtype("vllm", dtype, allowed=("fp32", "fp16", "bf16", "fp8", "fp8_ds_mla"))
    _refuse_unmodelled(architecture)
    block = options.block_size or DEFAULT_BLOCK
    notes: list[str] = []
    # Chunked local attention turns the hybrid KV-cache manager off: every layer is full.
    promote = any(g.kind is LayerKind.CHUNKED for g in architecture.groups)
    if promote:
        notes.append("vllm: chunked local attention disables the hybrid KV-cache manager; "
                     "sliding and chunked layers are allocated as full attention")  # fmt: skip
    pages = {id(g): page_per_token(g, dtype) for g in architecture.groups if g.attention}
    state_page = 0
    states = [g.state for g in architecture.groups if g.state is not None]
    if states:
        mamba_page = _ssm_page(states[0], architecture, model)
        state_page = mamba_page
        if pages:
            attention_page = max(pages.values())
            block = _hybrid_block(architecture, block, attention_page, mamba_page)
            state_page = block * attention_page  # Mamba pages are padded to the attention page
            notes.append(f"vllm: hybrid model, attention block size aligned to {block} tokens "
                         "(prefix caching off: one state block per request)")  # fmt: skip
    groups = size_groups(
        architecture, workload,
        lambda state: (state_page, "1 state block per request"),
        lambda group: _attention(group, architecture, workload, block, pages[id(group)], promote),
    )  # fmt: skip
    return EngineResult(groups, tuple(notes))


def _attention(
    group: LayerGroup, architecture: Architecture, workload: Workload, block: int, page: int,
    promote: bool,
) -> GroupBytes:  # fmt: skip
    seq = (
        encoder_tokens(architecture, workload)
        if group.kind is LayerKind.CROSS
        else workload.seq_len
    )
    blocks = _blocks(group, seq, block, promote)
    slots = blocks * block
    per_token = group.count * page
    return GroupBytes(group, slots, per_token, workload.batch * slots * per_token,
                      f"{blocks:,} blocks of {block}")  # fmt: skip
