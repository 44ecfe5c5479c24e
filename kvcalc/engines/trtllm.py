"""TensorRT-LLM (PyTorch backend): paged KV blocks of tokens_per_block in one pool in which
every layer holds max_seq_len (the default), or one pool per attention window when
max_attention_window is given (--attention-windows), and Mamba state slots (docs/engines.md
§5).

Target release 1.2.1 (the tensorrt-llm version on PyPI). Its source could not be read: the
PyPI artefact is a 10 kB wheel stub that downloads from NVIDIA's own index, and the
repository snapshot is 2.5 GB. Each rule below was read in the stored NVIDIA/TensorRT-LLM
versions on both sides of 1.2.1 (1.1-era `_torch/pyexecutor/_util.py` `KvCacheCreator`,
`mamba_cache_manager.py` `MambaCacheManager`; 2026 main `resource_manager.py`
`KVCacheManager.calculate_max_num_blocks_for_vswa`, `mapping.py` `Mapping.pp_layers`,
`llmapi/llm_args.py` `KvCacheConfig`) and kept only where both agree.
"""

from __future__ import annotations

from fractions import Fraction

from kvcalc.engines import Deployment, EngineResult, require_dtype
from kvcalc.engines.budget import Reserve, generic_reserve
from kvcalc.engines.kvbytes import (
    GroupBytes,
    Workload,
    cdiv,
    refuse_compressed,
    size_groups,
    state_bytes,
)
from kvcalc.engines.pool import PoolFigures
from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.architecture import Architecture, LayerGroup, LayerKind, RecurrentState
from kvcalc.model.dtypes import CacheDtype
from kvcalc.values import replace, value

TOKENS_PER_BLOCK = 32  # KvCacheConfig.tokens_per_block
DSA_TOKENS_PER_BLOCK = 64  # DSACacheManager asserts 64 for DeepSeek V3.2
FREE_GPU_MEMORY_FRACTION = Fraction(9, 10)  # KvCacheConfig.free_gpu_memory_fraction
MAX_BATCH_SIZE = 2048  # max_batch_size (max_num_requests) of the LLM API
MAX_NUM_TOKENS = 8192
INDEXER_QUANT_BLOCK = 128  # indexer_k_cache_quant_block_size: one fp32 scale per 128 keys
DTYPES = ("fp32", "fp16", "bf16", "fp8")
# Hybrids the Mamba cache manager serves (`config_utils.py` is_nemotron_hybrid,
# is_qwen3_hybrid); other state layouts are not modelled.
MAMBA_FAMILIES = frozenset({"nemotron_h", "qwen3_next", "qwen3_5_text", "qwen3_5_moe_text"})
GIB = 1 << 30


# free_gpu_memory_fraction is a share of the memory left after the weights and the warm-up
# peak, not of the GPU: `KvCacheCreator._cal_max_memory` takes
# int((total - peak + estimation KV) x fraction).
FRACTION_OF_FREE = True


def token_bytes(group: LayerGroup, dtype: CacheDtype) -> int:
    """One token of one layer: kvFactor x kv_heads x head_size x dtype bytes, kvFactor 2, or
    1 for MLA (CacheType SELFKONLY: the 576-wide latent as one head); DeepSeek V3.2's DSA
    indexer pool adds index_head_dim fp8 keys and an fp32 scale per 128 of them."""
    attention = group.cached_attention
    mla = attention.mla
    if mla is None:
        return dtype.bytes_for(attention.elements_per_token)
    indexer = mla.indexer_dim + cdiv(mla.indexer_dim, INDEXER_QUANT_BLOCK) * 4
    return dtype.bytes_for(mla.latent_dim) + (indexer if mla.indexer_dim else 0)


def blocks_held(seq_len: int, window: int | None, block: int) -> int:
    """`KVCacheManager::calculateMaxBlockRequirementsPerBeam` (beam 1, no sink tokens):
    cdiv(min(S, W), B), plus kSWAExtraBlock (1) when S exceeds the window."""
    if window is None or seq_len <= window:
        return cdiv(seq_len, block)
    return cdiv(window, block) + 1


def _window(group: LayerGroup, deployment: Deployment) -> int | None:
    """A sliding layer's window when max_attention_window lists the config's windows
    (--attention-windows). Left unset, the default, `KVCacheManager.__init__` sets
    max_attention_window_vec = [max_seq_len] (1.2.0rc2 `resource_manager.py`; no model class
    of the 1.2 line fills it in), so every layer keeps every token; so do chunked (Llama 4)
    layers either way."""
    if not deployment.attention_windows or group.kind is not LayerKind.SLIDING:
        return None
    return group.window_tokens


def _has_indexer(architecture: Architecture) -> bool:
    return any(g.attention is not None and g.attention.mla is not None
               and g.attention.mla.indexer_dim for g in architecture.groups)  # fmt: skip


def _refuse(architecture: Architecture) -> None:
    model_type = architecture.model_type
    refuse_compressed(
        architecture,
        "trtllm",
        "compressed-attention caches (TensorRT-LLM 1.2.1 has no DeepSeek V4 model)",
    )
    if any(g.kind is LayerKind.CROSS for g in architecture.groups):
        raise UnsupportedConfigError(
            f"--engine trtllm: the encoder-decoder cache of model_type {model_type!r} is not "
            "modelled (the PyTorch backend's KvCacheCreator builds self-attention caches only)"
        )
    if any(g.state is not None for g in architecture.groups) and model_type not in MAMBA_FAMILIES:
        raise UnsupportedConfigError(
            f"--engine trtllm: the recurrent state of model_type {model_type!r} is not modelled "
            "(the Mamba cache manager serves Nemotron-H and Qwen3-Next/3.5)"
        )
    heads = {g.attention.k_head_dim for g in architecture.groups
             if g.attention is not None and g.attention.mla is None}  # fmt: skip
    if len(heads) > 1:
        raise UnsupportedConfigError(
            f"--engine trtllm: layers of different head sizes ({model_type!r}) are not modelled: "
            "the block pools take one head size"
        )


def block_size(architecture: Architecture, deployment: Deployment) -> int:
    """tokens_per_block: --block-size, else 32 (64 for DeepSeek V3.2's DSA cache manager)."""
    dsa = _has_indexer(architecture)
    if dsa and deployment.block_size not in (None, DSA_TOKENS_PER_BLOCK):
        raise InputError("--engine trtllm: DeepSeek V3.2's DSA cache needs tokens_per_block 64")
    if deployment.block_size:
        return deployment.block_size
    return DSA_TOKENS_PER_BLOCK if dsa else TOKENS_PER_BLOCK


def assumptions(architecture: Architecture, deployment: Deployment) -> tuple[str, ...]:
    found = []
    if deployment.block_size is None:
        found.append(f"tokens_per_block {block_size(architecture, deployment)} (the default)")
    if any(_window(g, deployment) for g in architecture.groups):
        found.append("sliding layers in their own window pool (VSWA): "
                     "kv_cache_config.max_attention_window given from the config's windows "
                     "(--attention-windows)")  # fmt: skip
    elif any(g.kind is LayerKind.SLIDING for g in architecture.groups):
        found.append("max_attention_window unset (the default): one pool, sliding layers "
                     "hold max_seq_len like full ones (--attention-windows: a pool per "
                     "window)")  # fmt: skip
    if any(g.kind is LayerKind.CHUNKED for g in architecture.groups):
        found.append("chunked-attention layers allocated as full (no chunk pool)")
    if _has_indexer(architecture):
        found.append("DSA indexer keys fp8 with one fp32 scale per 128 values (132 B per token "
                     "and layer for index_head_dim 128)")  # fmt: skip
    if any(g.state is not None for g in architecture.groups):
        found.append("mamba_ssm_cache_dtype auto: conv and SSM states in the model dtype")
    found.append("block reuse shares no prefix between these requests")
    return tuple(found)


def allocate(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    deployment: Deployment,
) -> EngineResult:  # fmt: skip
    """Per request: the blocks it needs in its layers' window pool x tokens_per_block x the
    bytes of one token; a Mamba layer one state slot (`MambaCacheManager`: conv (kernel - 1)
    x conv_dim and the SSM state, one slot per live request)."""
    require_dtype("trtllm", dtype, allowed=DTYPES)
    _refuse(architecture)
    block = block_size(architecture, deployment)

    def attention(group: LayerGroup) -> GroupBytes:
        window = _window(group, deployment)
        blocks = blocks_held(workload.seq_len, window, block)
        per_token = group.count * token_bytes(group, dtype)
        detail = f"{blocks:,} blocks of {block}"
        if window is not None and workload.seq_len > window:
            detail += f" (window {window:,}: cdiv(W, B) + 1)"
        total = workload.batch * blocks * block * per_token
        return GroupBytes(group, blocks * block, per_token, total, detail)

    def state(recurrent: RecurrentState) -> tuple[int, str]:
        return state_bytes(recurrent, recurrent.conv_kernel - 1, model, model), "one state slot"

    groups = size_groups(architecture, workload, state, attention)
    notes = []
    per_slot = sum(g.total_bytes for g in groups if g.group.state is not None) // workload.batch
    if per_slot:
        slots = deployment.max_num_seqs or MAX_BATCH_SIZE
        notes.append(f"trtllm: the Mamba cache is allocated for max_batch_size = {slots:,} "
                     f"slots at start-up: {slots * per_slot / GIB:,.2f} GiB (--max-num-seqs "
                     "bounds it)")  # fmt: skip
    return EngineResult(groups, tuple(notes), assumptions(architecture, deployment))


@value
class WindowPool:
    """The layers of one attention window and the bytes one token adds across them."""

    window: int  # max_seq_len for full attention
    bytes_per_token: int


def window_pools(
    architecture: Architecture, dtype: CacheDtype, max_seq_len: int, deployment: Deployment
) -> tuple[WindowPool, ...]:
    """Local layers grouped by window, each clamped to max_seq_len (`KVCacheManager.__init__`,
    `get_window_size_to_layers`), smallest window first as the std::map orders them; one
    window of max_seq_len unless --attention-windows."""
    per_window: dict[int, int] = {}
    for group in architecture.groups:
        if group.attention is None or group.kind is LayerKind.CROSS:
            continue
        window = min(_window(group, deployment) or max_seq_len, max_seq_len)
        per_window[window] = per_window.get(window, 0) + group.count * token_bytes(group, dtype)
    return tuple(WindowPool(w, per_window[w]) for w in sorted(per_window))


def capacity(
    architecture: Architecture, dtype: CacheDtype, model: CacheDtype, deployment: Deployment,
    budget_bytes: int, seq_len: int, enc_seq: int | None = None,
) -> PoolFigures | None:  # fmt: skip
    """The budget (available_kv_mem) as blocks: one window, max_tokens = budget // bytes per
    token and blocks = max_tokens // B (`calculate_max_num_blocks`); several windows, equal
    shares, blocks_w = int(budget / n / bytes_w // B) (`calculate_max_num_blocks_for_vswa`).
    Requests held: the smallest over pools of blocks_w // the blocks a request needs there
    (`getMaxCapacityBatchSize`), at most max_batch_size; Mamba slots are allocated apart,
    before the budget. The log prints the pools' bytes and their blocks x B."""
    require_dtype("trtllm", dtype, allowed=DTYPES)
    _refuse(architecture)
    block = block_size(architecture, deployment)
    max_seq_len = max(seq_len, architecture.max_position_embeddings or 0)
    pools = window_pools(architecture, dtype, max_seq_len, deployment)
    if not pools:
        return None
    budget = max(0, budget_bytes)
    figures = []
    for pool in pools:
        blocks = budget // (len(pools) * pool.bytes_per_token * block)
        need = blocks_held(seq_len, pool.window if pool.window < max_seq_len else None, block)
        figures.append((pool, blocks, need))
    binding, blocks, need = min(figures, key=lambda item: item[1] / item[2])
    tokens = sum(blocks_w * block for _, blocks_w, _ in figures)
    allocated = sum(blocks_w * block * pool.bytes_per_token for pool, blocks_w, _ in figures)
    lines = [f"Window size = {pool.window}, primary_blocks: {blocks_w}, secondary_blocks: 0"
             for pool, blocks_w, _ in figures] if len(pools) > 1 else []  # fmt: skip
    held = min(blocks_w // need_w for _, blocks_w, need_w in figures)
    lines += [
        f"Number of tokens per block: {block}.",
        f"[MemUsageChange] Allocated {allocated / GIB:0.2f} GiB for max tokens in paged KV "
        f"cache ({tokens}).",
        f"max capacity batch size for {seq_len:,} tokens: {held}",
    ]
    slots = deployment.max_num_seqs or MAX_BATCH_SIZE  # the scheduler's max_batch_size
    return PoolFigures("block", block * binding.bytes_per_token, blocks, tokens, blocks / need,
                       tuple(lines), worst_case_units=need, requests=min(held, slots))  # fmt: skip


def default_util(architecture: Architecture, deployment: Deployment, gpu_bytes: int) -> Fraction:
    """free_gpu_memory_fraction: 0.9 (`llm_args.py` KvCacheConfig)."""
    return FREE_GPU_MEMORY_FRACTION


def reserve(architecture: Architecture, deployment: Deployment, gpu_bytes: int) -> Reserve:
    """The estimation run's peak besides weights (`KvCacheCreator`): a forward of
    max_num_tokens (8,192), the sampler over min(that, max_batch_size) rows, CUDA graphs and
    communication buffers."""
    tokens = deployment.max_num_batched_tokens or MAX_NUM_TOKENS
    seqs = deployment.max_num_seqs or MAX_BATCH_SIZE
    found = generic_reserve(architecture, deployment, tokens, seqs, deployment.arch != "cpu")
    return replace(found, basis=found.basis + " (TensorRT-LLM's max_num_tokens, max_batch_size)")
