"""vLLM 0.33 (v1 engine): the paged blocks a request holds, and what a budget buys.

Rules, sources and worked examples: docs/engines.md §1. Layers are bucketed by cache spec;
on the hybrid path each bucket is cut into KV-cache groups of `group_size` layer slots, and one
block id costs a whole group's pages, padding slots included.
"""

from __future__ import annotations

import math
from fractions import Fraction

from kvcalc.engines import Deployment, EngineResult, require_dtype
from kvcalc.engines.budget import Reserve, generic_reserve
from kvcalc.engines.kvbytes import (
    GroupBytes,
    Workload,
    cdiv,
    encoder_tokens,
    has_shared_kv,
    state_bytes,
)
from kvcalc.engines.pool import PoolFigures, vllm_block_pool
from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.architecture import Architecture, LayerGroup, LayerKind, RecurrentState
from kvcalc.model.dtypes import BF16, FP32, CacheDtype, parse_dtype
from kvcalc.values import replace, value

DEFAULT_BLOCK = 16  # CacheConfig.DEFAULT_BLOCK_SIZE
CPU_BLOCK = 128  # platforms/cpu.py update_block_size_for_backend
CPU_MLA_BLOCK = 16  # CPU_MLA (mla/cpu_mla.py): exactly 16
DS_MLA_ROW = 656  # fp8_ds_mla: 512 fp8 values + 16 B of scales + 64 bf16 RoPE values
GIB = 1024**3
GDN_FAMILIES = ("qwen3_next", "qwen3_5", "qwen3_5_moe", "qwen3_5_text", "qwen3_5_moe_text")


def indexer_row(index_head_dim: int) -> int:
    """DSA indexer key: fp8 values plus one fp32 scale per 128 (deepseek_v2.py
    `DeepseekV32IndexerCache.get_kv_cache_spec`): 132 B for index_head_dim 128."""
    return index_head_dim + index_head_dim // 128 * 4


def run_dtype(model_type: str, config: CacheDtype) -> tuple[CacheDtype, tuple[str, ...]]:
    """`--dtype auto` (config/model.py `_resolve_auto_dtype`): a float32 checkpoint runs in the
    platform's first supported dtype, bf16 on Ampere and later and on CPUs with bf16."""
    if config != FP32:
        return config, ()
    return BF16, ("vllm: a float32 checkpoint runs in bf16 (vLLM's --dtype auto)",)


def page_per_token(group: LayerGroup, dtype: CacheDtype, engine: str = "vllm") -> int:
    """One token of one layer: kv_heads x (K + V); an MLA latent (656 B with fp8_ds_mla) plus
    the DSA indexer key where there is one."""
    attention = group.cached_attention
    mla = attention.mla
    sparse = mla is not None and mla.indexer_dim > 0
    if dtype.name == "fp8_ds_mla" and not sparse:
        raise UnsupportedConfigError(
            f"--engine {engine}: fp8_ds_mla is the sparse-attention (DSA) MLA backends' row "
            "format; use fp8 for this model"
        )
    if mla is None:
        return dtype.bytes_for(attention.elements_per_token)
    if sparse and dtype.name in ("fp8", "fp8_ds_mla"):
        # The sparse backends store an fp8 cache as fp8_ds_mla rows (mla_attention.py).
        row = DS_MLA_ROW
    else:
        row = dtype.bytes_for(mla.latent_dim)
    return row + (indexer_row(mla.indexer_dim) if mla.indexer_dim else 0)


@value
class Settings:
    """The scheduler and cache settings vLLM resolves for this deployment."""

    block: int
    async_scheduling: bool
    prefix_caching: bool
    max_num_batched_tokens: int
    max_num_seqs: int
    assumptions: tuple[str, ...]


def _is_mla(architecture: Architecture) -> bool:
    return any(g.attention is not None and g.attention.mla for g in architecture.groups)


def _backend_block(architecture: Architecture, dtype: CacheDtype, arch: str) -> tuple[int, str]:
    """The default block size of the attention backend vLLM picks (`platforms/cuda.py`
    `_get_backend_priorities`; each backend's `get_supported_kernel_block_sizes`)."""
    if arch == "cpu":
        return (CPU_MLA_BLOCK, "CPU MLA reference backend") if _is_mla(architecture) else (
            CPU_BLOCK, "CPU_ATTN, block 128 by default")  # fmt: skip
    if not _is_mla(architecture):
        return DEFAULT_BLOCK, "FLASH_ATTN/FLASHINFER, block 16"
    if any(g.attention and g.attention.mla and g.attention.mla.indexer_dim
           for g in architecture.groups):  # fmt: skip
        return 64, "sparse MLA with the DSA indexer, block 64"
    fp8 = dtype.name in ("fp8", "fp8_ds_mla")
    if arch in ("ampere", "ada"):
        if fp8 and arch == "ampere":
            raise InputError("--engine vllm: no MLA backend takes an fp8 cache on Ampere")
        return DEFAULT_BLOCK, "TRITON_MLA, block 16"
    if arch == "blackwell":
        return 32, "FLASHINFER_MLA, block 32"
    return (64, "FLASHMLA (fp8 cache), block 64") if fp8 else (
        DEFAULT_BLOCK, "FLASH_ATTN_MLA, block 16")  # fmt: skip


def batch_defaults(deployment: Deployment) -> tuple[int, int, str]:
    """`vllm serve` defaults of max_num_batched_tokens / max_num_seqs by device
    (`engine/arg_utils.py` `get_batch_defaults`, OpenAI-server usage context)."""
    world = deployment.tp * deployment.pp
    if deployment.arch == "cpu":
        return 2048 * world, 128 * world, "CPU"
    memory = deployment.gpu_memory_bytes or 80 * GIB
    name = (deployment.gpu_name or "").lower()
    if memory >= 160 * GIB:
        return 16384, 1024, "a GPU of 160 GiB or more"
    if memory >= 70 * GIB and "a100" not in name:
        return 8192, 1024, "a GPU of 70 GiB or more (not A100)"
    return 2048, 256, "a GPU under 70 GiB (or an A100)"


def settings(architecture: Architecture, dtype: CacheDtype, deployment: Deployment) -> Settings:
    """Block size, scheduling and prefix caching as vLLM 0.33 resolves them."""
    notes = []
    if deployment.block_size:
        block = deployment.block_size
        sliding = any(g.kind is LayerKind.SLIDING for g in architecture.groups)
        if deployment.arch == "cpu" and sliding and block < 32 and not _is_mla(architecture):
            # CPU_ATTN kernels take multiples of 32: a sliding layer's block rises to 32 and
            # page unification scales the full layers' block with it (attention.py
            # `_largest_kernel_block_within`; kv_cache_utils `unify_kv_cache_spec_page_size`).
            block = 32
            notes.append("block size 32: the CPU attention kernel's smallest for sliding layers")
        if deployment.arch == "cpu" and _is_mla(architecture) and block != CPU_MLA_BLOCK:
            # The reference CPU MLA backend takes block 16 only, and the CPU platform sets it
            # over a user's block size (platforms/cpu.py `check_and_update_config` L291-297).
            block = CPU_MLA_BLOCK
            notes.append(f"block size {CPU_MLA_BLOCK}, not --block-size "
                         f"{deployment.block_size}: vLLM's CPU MLA backend takes "
                         f"{CPU_MLA_BLOCK} only and overrides it")  # fmt: skip
    else:
        block, why = _backend_block(architecture, dtype, deployment.arch)
        notes.append(f"block size {block} ({why} on {deployment.arch}; --block-size to change)")
    cpu = deployment.arch == "cpu"
    tokens, seqs, device = batch_defaults(deployment)
    tokens = deployment.max_num_batched_tokens or tokens
    seqs = deployment.max_num_seqs or seqs
    if not (deployment.max_num_batched_tokens and deployment.max_num_seqs):
        notes.append(f"max_num_batched_tokens {tokens:,}, max_num_seqs {seqs:,} (vllm serve "
                     f"defaults for {device})")  # fmt: skip
    supported = not any(g.kind is LayerKind.CROSS for g in architecture.groups) and any(
        g.attention for g in architecture.groups
    )
    prefix = supported if deployment.prefix_caching is None else deployment.prefix_caching
    if cpu and _is_mla(architecture):
        # The CPU platform turns prefix caching off for MLA off the AMX path, whatever was asked
        # (platforms/cpu.py `check_and_update_config` L533-547). A hybrid's mamba_cache_mode
        # was already resolved from it (`try_verify_and_update_config` runs first), so the
        # state blocks keep the asked-for mode.
        hybrid = any(g.state is not None for g in architecture.groups)
        notes.append("prefix caching off: vLLM's CPU platform turns it off for MLA"
                     + (f" (mamba_cache_mode {'align' if prefix else 'none'}, set before)"
                        if hybrid else ""))  # fmt: skip
        prefix = prefix and hybrid
    else:
        notes.append(f"prefix caching {'on' if prefix else 'off'}"
                     + (" (the default)" if deployment.prefix_caching is None else ""))  # fmt: skip
    notes.append("async scheduling off (CPU)" if cpu else
                 "async scheduling on: the next token's slot is already allocated")  # fmt: skip
    return Settings(block, not cpu, prefix, tokens, seqs, tuple(notes))


def _config_ssm_dtype(architecture: Architecture) -> tuple[str | None, str]:
    """The SSM dtype a family's config decides when --mamba-ssm-cache-dtype is auto
    (`models/config.py`): Nemotron-H its mamba_ssm_cache_dtype, else float32
    (`NemotronHForCausalLMConfig`, L812-832); Qwen3.5 its mamba_ssm_dtype (L955-970)."""
    if architecture.model_type == "nemotron_h":
        if architecture.mamba_ssm_cache_dtype is None:
            return "float32", "Nemotron-H's default"
        return architecture.mamba_ssm_cache_dtype, "the config's mamba_ssm_cache_dtype"
    if architecture.model_type.startswith("qwen3_5") and architecture.mamba_ssm_dtype:
        return architecture.mamba_ssm_dtype, "the config's mamba_ssm_dtype"
    return None, ""


def state_dtypes(
    architecture: Architecture, model: CacheDtype, deployment: Deployment
) -> tuple[CacheDtype, CacheDtype, str]:
    """Conv and SSM state dtypes (`MambaStateDtypeCalculator`, `mamba_utils.py` L53-150): the
    conv state in --mamba-cache-dtype (auto: the model dtype); the SSM state in
    --mamba-ssm-cache-dtype, else as the config decides, else as the conv state. Kimi
    Linear's KDA state is float32 whatever is asked (`KimiGatedDeltaNetAttention.
    get_state_dtype` passes no SSM dtype to `kda_state_dtype`)."""
    conv = parse_dtype(deployment.mamba_dtype) if deployment.mamba_dtype else model
    conv_why = "--mamba-dtype" if deployment.mamba_dtype else "mamba_cache_dtype auto"
    if architecture.model_type == "kimi_linear":
        ssm, why = FP32, "Kimi Linear's KDA state, always"
    elif deployment.mamba_ssm_dtype:
        ssm, why = parse_dtype(deployment.mamba_ssm_dtype), "--mamba-ssm-dtype"
    else:
        named, why = _config_ssm_dtype(architecture)
        if named in (None, "auto"):
            ssm, why = conv, "mamba_ssm_cache_dtype auto: as the conv state"
        else:
            ssm = parse_dtype(named)
    note = f"Mamba conv state {conv.name} ({conv_why}), SSM state {ssm.name} ({why})"
    return conv, ssm, note


def _state_page(state: RecurrentState, conv: CacheDtype, ssm: CacheDtype) -> int:
    """Mamba page: conv (kernel - 1) x channels and the temporal state; a linear-attention
    state with no conv (`linear_attention_state_dtype`) takes the conv dtype."""
    return state_bytes(state, state.conv_kernel - 1, conv, ssm if state.conv_channels else conv)


def _checkpoint_blocks(architecture: Architecture, state: RecurrentState, arch: str) -> int:
    """Prefill-checkpoint blocks in align mode: Mamba2 layers always one; Qwen's gated
    DeltaNet one with the FlashInfer prefill kernel (Hopper, Blackwell)."""
    if state.groups:
        return 1
    return int(architecture.model_type in GDN_FAMILIES and arch in ("hopper", "blackwell"))


def _align_hybrid_block(
    architecture: Architecture, block: int, attention_page: int, mamba_page: int,
    align_mode: bool, arch: str,
) -> int:  # fmt: skip
    """`Platform._align_hybrid_block_size`: the attention block grows until one page covers
    a Mamba page; K is at least 16 (128 for MLA), lcm'd with 64 for FlashInfer's gated
    DeltaNet checkpoints in align mode."""
    kernel = max(DEFAULT_BLOCK, block)
    if _is_mla(architecture):
        kernel = max(kernel, 128)
    if align_mode and architecture.model_type in GDN_FAMILIES and arch in ("hopper", "blackwell"):
        kernel = math.lcm(kernel, 64)
    aligned = kernel * cdiv(mamba_page, kernel * attention_page)
    aligned = DEFAULT_BLOCK * cdiv(aligned, DEFAULT_BLOCK)
    return max(block, aligned)


@value
class Bucket:
    """Layers of one cache spec: `page` bytes per block, `block` tokens per block, cut into
    `groups` vLLM KV-cache groups."""

    group: LayerGroup
    page: int
    block: int
    groups: int
    per_token: int  # bytes of one token in one layer (0 for states)


@value
class Plan:
    """vLLM's KV-cache layout for one GPU: buckets, and the bytes one block id costs."""

    buckets: tuple[Bucket, ...]
    bytes_per_block: int
    group_size: int
    settings: Settings
    notes: tuple[str, ...]
    uniform: bool = False  # one group of every layer: a block id costs every layer's page


def _uniform(groups: list[LayerGroup], pages: dict[int, int], block: int, cfg: Settings) -> Plan:
    """One spec type (all full, or all cross): one group of every layer; a block id costs
    every layer's page (`UniformTypeKVCacheSpecs`)."""
    buckets = tuple(Bucket(g, block * pages[id(g)], block, 1, pages[id(g)]) for g in groups)
    per_block = sum(b.page * b.group.count for b in buckets)
    return Plan(buckets, per_block, 1, cfg, (), uniform=True)


def plan(
    architecture: Architecture, dtype: CacheDtype, model: CacheDtype, deployment: Deployment
) -> Plan:
    """Groups, block sizes and the bytes of one block id, as `get_kv_cache_groups` and
    `_get_kv_cache_groups_uniform_page_size` lay them out (docs/engines.md §1)."""
    require_dtype("vllm", dtype, allowed=("fp32", "fp16", "bf16", "fp8", "fp8_ds_mla"))
    cfg = settings(architecture, dtype, deployment)
    cached = [g for g in architecture.groups if g.kind is not LayerKind.NONE]
    notes: list[str] = []
    if any(g.kind is LayerKind.CHUNKED for g in cached):
        # Chunked local attention turns the hybrid KV-cache manager off: every layer is full.
        notes.append("vllm: chunked local attention disables the hybrid KV-cache manager; "
                     "sliding and chunked layers are allocated as full attention")  # fmt: skip
        cached = [LayerGroup(LayerKind.FULL, g.count, g.attention) if g.window_tokens else g
                  for g in cached]  # fmt: skip
    pages = {id(g): page_per_token(g, dtype) for g in cached if g.attention}
    block = cfg.block
    states = [g for g in cached if g.state is not None]
    if not states and len({g.kind for g in cached}) == 1:
        return _uniform(cached, pages, block, cfg)
    conv, ssm, dtypes_note = state_dtypes(architecture, model, deployment)
    mamba_page = max((_state_page(g.state, conv, ssm) for g in states
                      if g.state is not None), default=0)  # fmt: skip
    if states:
        cfg = replace(cfg, assumptions=(*cfg.assumptions, dtypes_note))
    if states and pages:
        block = _align_hybrid_block(architecture, block, max(pages.values()), mamba_page,
                                    cfg.prefix_caching, deployment.arch)  # fmt: skip
        mode = "align" if cfg.prefix_caching else "none"
        notes.append(f"vllm: hybrid model, attention block size aligned to {block} tokens "
                     f"(mamba_cache_mode {mode})")  # fmt: skip
    attention_pages = {key: block * value for key, value in pages.items()}
    largest = max([*attention_pages.values(), mamba_page])
    sizes = [g.count for g in cached]
    group_size = min(sizes) if max(sizes) >= 1.5 * min(sizes) else max(sizes)
    buckets = []
    for g in cached:
        count = cdiv(g.count, group_size)
        if g.state is not None:
            buckets.append(Bucket(g, largest, block, count, 0))
            continue
        page = attention_pages[id(g)]
        scale = largest // page if largest % page == 0 else 1
        buckets.append(Bucket(g, largest, block * scale, count, pages[id(g)]))
    padding = sum(b.groups * group_size - b.group.count for b in buckets)
    if padding:
        notes.append(f"vllm: KV-cache groups of {group_size} layer slots; {padding} padding "
                     "slot(s) cost memory in every block id")  # fmt: skip
    return Plan(tuple(buckets), group_size * largest, group_size, cfg, tuple(notes))


def _held(bucket: Bucket, architecture: Architecture, workload: Workload, cfg: Settings) -> int:
    """Blocks one decoding request holds in one group of `bucket` (§1.9): cdiv(S + a, B) with
    a = 1 under async scheduling; a sliding layer frees the blocks wholly before S - W; a
    Mamba group holds 1 state block (mamba_cache_mode none) or 2 (align)."""
    group = bucket.group
    if group.state is not None:
        return 2 if cfg.prefix_caching else 1
    if group.kind is LayerKind.CROSS:
        return cdiv(encoder_tokens(architecture, workload), bucket.block)
    seq = workload.seq_len
    # Slots are allocated up to max_model_len at most (kv_cache_manager `allocate_slots`).
    limit = max(seq, architecture.max_position_embeddings or seq)
    held = cdiv(min(seq + int(cfg.async_scheduling), limit), bucket.block)
    if group.kind is LayerKind.SLIDING and group.window_tokens is not None:
        held -= max(0, seq - group.window_tokens) // bucket.block
    return held


def allocate(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    deployment: Deployment,
) -> EngineResult:  # fmt: skip
    """Per request: blocks held in each group x the bytes of one block id."""
    if has_shared_kv(architecture):  # DeepSeek V4's packed groups (docs §1.13)
        from kvcalc.engines import vllm_dsv4

        return vllm_dsv4.allocate(architecture, workload, dtype, model, deployment)
    layout = plan(architecture, dtype, model, deployment)
    groups = []
    for bucket in layout.buckets:
        blocks = _held(bucket, architecture, workload, layout.settings)
        per_request = bucket.groups * blocks * layout.bytes_per_block
        if layout.uniform:
            per_request = blocks * bucket.page * bucket.group.count
        slots = bucket.groups * layout.group_size
        detail = (f"{blocks:,} block(s) of {bucket.block} in each of {bucket.groups} group(s) "
                  f"of {layout.group_size} layer slots" if layout.group_size > 1 else
                  f"{blocks:,} blocks of {bucket.block}")  # fmt: skip
        tokens = 0 if bucket.group.state is not None else blocks * bucket.block
        per_token = slots * bucket.per_token if layout.group_size > 1 else (
            bucket.group.count * bucket.per_token)  # fmt: skip
        factors = ((blocks, "blocks"), (bucket.page, "B per block"), (bucket.group.count,
                   "layers")) if layout.uniform else ((blocks, "blocks"), (bucket.groups,
                   "groups"), (layout.bytes_per_block, "B per block id"))  # fmt: skip
        groups.append(GroupBytes(bucket.group, tokens, per_token,
                                 workload.batch * per_request, detail, factors))  # fmt: skip
    for group in architecture.groups:
        if group.kind is LayerKind.NONE:
            groups.append(GroupBytes(group, 0, 0, 0, "no cache"))
    return EngineResult(tuple(groups), layout.notes, layout.settings.assumptions)


def _worst_case_blocks(
    bucket: Bucket, architecture: Architecture, seq_len: int, cfg: Settings,
    deployment: Deployment, enc_seq: int | None = None,
) -> int:  # fmt: skip
    """`max_memory_usage_bytes` of the group's spec, in blocks (kv_cache_interface.py): full
    cdiv(M, B); sliding cdiv(min(W - 1 + T, M), B) + 1 with T the tokens in flight; Mamba
    1 (none) or 2 + checkpoint blocks (align); cross cdiv(encoder tokens, B)."""
    group = bucket.group
    if group.state is not None:
        if not cfg.prefix_caching:
            return 1
        return 2 + _checkpoint_blocks(architecture, group.state, deployment.arch)
    if group.kind is LayerKind.CROSS:
        return cdiv(encoder_tokens(architecture, Workload(1, seq_len, enc_seq)), bucket.block)
    if group.kind is LayerKind.SLIDING and group.window_tokens is not None:
        pp = deployment.pp
        batches = pp + 1 if cfg.async_scheduling else pp
        in_flight = batches * cfg.max_num_batched_tokens
        return cdiv(min(group.window_tokens - 1 + in_flight, seq_len), bucket.block) + 1
    return cdiv(seq_len, bucket.block)


def capacity(
    architecture: Architecture, dtype: CacheDtype, model: CacheDtype, deployment: Deployment,
    budget_bytes: int, seq_len: int, enc_seq: int | None = None,
) -> PoolFigures:  # fmt: skip
    """num_blocks = budget // bytes per block id; "Maximum concurrency" = num_blocks / the
    blocks a request may need at max_model_len; "GPU KV cache size" = int(that x M) tokens
    (`kv_cache_utils.py` `get_max_concurrency_for_kv_cache_config`, `get_kv_cache_capacity`)."""
    if has_shared_kv(architecture):
        from kvcalc.engines import vllm_dsv4

        return vllm_dsv4.capacity(architecture, dtype, model, deployment, budget_bytes, seq_len)
    layout = plan(architecture, dtype, model, deployment)
    per_request = sum(
        bucket.groups * _worst_case_blocks(bucket, architecture, seq_len, layout.settings,
                                           deployment, enc_seq)
        for bucket in (layout.buckets[:1] if layout.uniform else layout.buckets)
    )  # fmt: skip
    device = "CPU" if deployment.arch == "cpu" else "GPU"
    return vllm_block_pool(layout.bytes_per_block, budget_bytes, per_request, seq_len, device)


def default_util(architecture: Architecture, deployment: Deployment, gpu_bytes: int) -> Fraction:
    """gpu_memory_utilization: 0.92 in vLLM 0.33 (`config/cache.py` CacheConfig)."""
    return Fraction(92, 100)


def reserve(architecture: Architecture, deployment: Deployment, gpu_bytes: int) -> Reserve:
    """The profile run's peak at vLLM's batch defaults for this GPU (docs/engines.md §1.10):
    a forward of max_num_batched_tokens, the sampler over min(that, max_num_seqs) rows, CUDA
    graphs captured (none on CPU) and communication buffers."""
    sized = replace(deployment, gpu_memory_bytes=deployment.gpu_memory_bytes or gpu_bytes)
    tokens, seqs, _ = batch_defaults(sized)
    tokens = deployment.max_num_batched_tokens or tokens
    seqs = deployment.max_num_seqs or seqs
    return generic_reserve(architecture, deployment, tokens, seqs, deployment.arch != "cpu")
