"""vLLM 0.33 on DeepSeek V4: the packed KV-cache groups of its compressed layers.

Rules, sources and worked examples: docs/engines.md §1.13. Every V4 layer keeps a sliding
window cache (`DeepseekV4SWACache`, block 64); CSA and HCA layers add their compressed K
(`MLAAttentionSpec`, block 256, one row per `ratio` tokens) and a compressor state
(`CompressorStateCache`, a window of fp32 rows); CSA layers add an indexer K cache and its
compressor. Pages differ, and the indexer asks for a block-outermost layout, so vLLM packs the
caches with `_get_packed_kv_cache_groups` and one block id costs the widest group's pages.
"""

from __future__ import annotations

from collections.abc import Sequence

from kvcalc.engines import Deployment, EngineResult
from kvcalc.engines.kvbytes import GroupBytes, Workload, cdiv
from kvcalc.engines.pool import PoolFigures, vllm_block_pool
from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.architecture import Architecture, Attention, LayerGroup, LayerKind
from kvcalc.model.dtypes import CacheDtype
from kvcalc.values import value

BLOCK = 256  # DeepseekV4SparseMLABackend / DeepseekV4IndexerBackend: kernel block [256]
SWA_BLOCK = 64  # DeepseekV4SWACache(block_size=64)
DS_ROW = 584  # fp8_ds_mla row: 448 fp8 NoPE + 64 bf16 RoPE + 8 B of UE8M0 scales
DS_ALIGN = 576  # fp8_ds_mla page alignment (`alignment=576`)
CSA_RATIO, HCA_RATIO = 4, 128  # CompressorStateCache asserts compress_ratio in [4, 128]
HEAD_DIM, INDEXER_DIM = 512, 128  # the backends' and the compressor's only head sizes
FP32 = 4


def round_up(value: int, multiple: int) -> int:
    return cdiv(value, multiple) * multiple


@value
class Bucket:
    """Caches of one spec type: `pages` maps a page (bytes) to the caches with it; `window`
    None is full attention (compressed K, indexer K), else a sliding window in tokens;
    `model_layers` the decoder layers whose caches these are."""

    what: str
    block: int
    window: int | None
    pages: tuple[tuple[int, int], ...]
    model_layers: int = 0

    @property
    def layers(self) -> int:
        return sum(count for _, count in self.pages)

    @property
    def balanced(self) -> bool:
        """`_get_packed_kv_cache_groups`: one layer of each page size per pattern repeat."""
        return len({count for _, count in self.pages}) == 1

    @property
    def repeats(self) -> int:
        """`get_max_layers_per_page_size`: the most layers sharing one page size."""
        return max(count for _, count in self.pages)


@value
class Group:
    """One vLLM KV-cache group: `pages` its share of its bucket's caches, by page."""

    bucket: Bucket
    pages: tuple[tuple[int, int], ...]

    @property
    def model_layers(self) -> int:
        """Decoder layers whose caches the group holds (a split bucket splits its layers)."""
        if self.pages == self.bucket.pages:
            return self.bucket.model_layers
        return max(count for _, count in self.pages)

    @property
    def page_bytes(self) -> int:
        return sum(page * count for page, count in self.pages)

    @property
    def layers(self) -> int:
        return sum(count for _, count in self.pages)


@value
class Layout:
    """The groups, the bytes of one block id, and the settings the figures depend on."""

    groups: tuple[Group, ...]
    bytes_per_block: int
    in_flight_tokens: int  # T = max_in_flight_tokens, the sliding admission term
    async_scheduling: bool
    assumptions: tuple[str, ...]


def _counts(architecture: Architecture) -> tuple[int, int, int, int, int]:
    """Layers that keep only a window, CSA (ratio 4) and HCA (ratio 128) layers, the window
    and the indexer key dim; refuses what vLLM 0.33's V4 layers cannot build."""
    raw = csa = hca = 0
    window, indexer = 0, INDEXER_DIM
    for group in architecture.groups:
        attention = group.cached_attention
        if attention.k_head_dim != HEAD_DIM:
            raise UnsupportedConfigError(
                f"--engine vllm: vLLM's DeepSeek V4 backends take head_dim {HEAD_DIM} only, "
                f"not {attention.k_head_dim}"
            )
        window = group.window_tokens or 0
        compression = group.compression
        if compression is None:
            raw += group.count
        elif compression.sparse and compression.ratio == CSA_RATIO:
            csa += group.count
            indexer = compression.indexer_dim
        elif not compression.sparse and compression.ratio == HCA_RATIO:
            hca += group.count
        else:
            raise UnsupportedConfigError(
                f"--engine vllm: vLLM 0.33's DeepSeek V4 compressor takes CSA ratio 4 and HCA "
                f"ratio 128 only, not {compression.ratio}"
            )
    if csa and indexer != INDEXER_DIM:
        raise UnsupportedConfigError(
            f"--engine vllm: vLLM's DeepSeek V4 indexer compressor takes index_head_dim "
            f"{INDEXER_DIM} only, not {indexer}"
        )
    return raw, csa, hca, window, indexer


def _buckets(architecture: Architecture) -> tuple[Bucket, ...]:
    """Each layer's spec in the fp8_ds_mla layout, bucketed by type and block size
    (`UniformTypeKVCacheSpecs.is_uniform_type`); a page is `_apply_alignment_padding`'s
    round-up to 576 of states x bytes per state."""
    raw, csa, hca, window, indexer = _counts(architecture)
    # attention.py DeepseekV4Attention.get_kv_cache_spec: BLOCK // ratio rows of 584 B.
    csa_k = round_up(BLOCK // CSA_RATIO * DS_ROW, DS_ALIGN)
    hca_k = round_up(BLOCK // HCA_RATIO * DS_ROW, DS_ALIGN)
    # DeepseekV4IndexerCache: fp8 keys plus an fp32 scale per 128 (132 B a row).
    index_k = round_up(BLOCK // CSA_RATIO * (indexer + indexer // 128 * 4), DS_ALIGN)
    swa = round_up(SWA_BLOCK * DS_ROW, DS_ALIGN)
    # CompressorStateCache: block 4 (ratio 4) or 8 (ratio 128) fp32 rows of kv + score,
    # 2 x coff x head_dim wide, coff 2 for the overlapping CSA windows.
    csa_state = round_up(4 * 2 * 2 * HEAD_DIM * FP32, DS_ALIGN)
    hca_state = round_up(8 * 2 * 1 * HEAD_DIM * FP32, DS_ALIGN)
    index_state = round_up(4 * 2 * 2 * indexer * FP32, DS_ALIGN)
    specs = [
        ("compressed K (CSA, HCA) and indexer K", BLOCK, None,
         ((csa_k, csa), (hca_k, hca), (index_k, csa)), csa + hca),
        ("sliding window", SWA_BLOCK, window, ((swa, raw + csa + hca),), raw + csa + hca),
        ("CSA compressor states (attention and indexer)", 4, 2 * CSA_RATIO,
         ((csa_state, csa), (index_state, csa)), csa),
        ("HCA compressor states", 8, HCA_RATIO, ((hca_state, hca),), hca),
    ]  # fmt: skip
    merged: dict[tuple[int, int | None], tuple[str, dict[int, int], int]] = {}
    for what, block, span, pages, layers in specs:
        name, table, before = merged.get((block, span), (what, {}, 0))
        for page, count in pages:
            if count:
                table[page] = table.get(page, 0) + count
        merged[(block, span)] = (name, table, before + layers)
    return tuple(Bucket(name, block, span, tuple(table.items()), layers)
                 for (block, span), (name, table, layers) in merged.items() if table)  # fmt: skip


def approximate_gcd(values: Sequence[int], lower_bound: int) -> int:
    """`_approximate_gcd` (kv_cache_planning.py L879-911): the d >= lower_bound that least pads
    every value up to a multiple of d; ties prefer the larger d."""
    low = max(1, lower_bound)
    if low > max(values):
        return low
    pads = {d: sum((d - value % d) % d for value in values) for d in range(low, max(values) + 1)}
    return min(pads, key=lambda d: (pads[d], -d))


def _split(bucket: Bucket, groups: int) -> tuple[Group, ...]:
    """Group i takes pattern repeats i, i + groups, ... (one layer of each page per repeat)."""
    if groups == 1:
        return (Group(bucket, bucket.pages),)
    repeats = bucket.repeats
    return tuple(Group(bucket, tuple((page, len(range(i, repeats, groups)))
                                     for page, _ in bucket.pages))
                 for i in range(groups))  # fmt: skip


def pack(buckets: Sequence[Bucket]) -> tuple[Group, ...]:
    """`_get_packed_kv_cache_groups` (kv_cache_planning.py L914-1041): balanced buckets are cut
    into groups of about the same number of pattern repeats; a sliding bucket, when no
    balanced bucket mixes pages, is cut to the states a block already holds."""
    floor = max((b.repeats for b in buckets if b.balanced and len(b.pages) > 1), default=0)
    per_group = None
    if floor:
        per_group = approximate_gcd([b.repeats for b in buckets if b.balanced], floor)

    def count(bucket: Bucket) -> int:
        return cdiv(bucket.repeats, per_group) if bucket.balanced and per_group else 1

    def state(bucket: Bucket) -> bool:
        return per_group is None and bucket.window is not None

    def widest(bucket: Bucket, groups: int) -> int:
        return sum(cdiv(layers, groups) * page for page, layers in bucket.pages)

    anchor = max(widest(b, b.layers if state(b) else count(b)) for b in buckets)
    groups: list[Group] = []
    for bucket in buckets:
        number = count(bucket)
        if state(bucket):
            if len(bucket.pages) > 1:  # the first layer's page would decide; not modelled
                raise UnsupportedConfigError(
                    "--engine vllm: this DeepSeek V4 layer mix packs by layer order, "
                    "which kvcalc does not model"
                )
            number = max(number, cdiv(bucket.layers, max(anchor // bucket.pages[0][0], 1)))
        groups.extend(_split(bucket, number))
    return tuple(groups)


def _cache_dtype(dtype: CacheDtype, model: CacheDtype) -> str:
    """vLLM's V4 attention layers store fp8_ds_mla rows (`_resolve_dsv4_kv_cache_dtype`,
    attention.py L94-129): --kv-cache-dtype auto and fp8 become fp8_ds_mla, and a bf16 cache
    is refused by the default backends. kvcalc's `auto` is the model dtype: taken as auto."""
    if dtype.name in ("fp8", "fp8_ds_mla"):
        return f"kv-cache dtype fp8_ds_mla (vLLM's DeepSeek V4 rows for {dtype.name})"
    if dtype.name == model.name:
        return (f"kv-cache dtype fp8_ds_mla: vLLM stores DeepSeek V4's cache so for "
                f"--kv-cache-dtype auto; {dtype.name} is taken as auto")  # fmt: skip
    raise InputError(
        f"--engine vllm: vLLM's DeepSeek V4 backends store an fp8 cache (fp8_ds_mla) only, "
        f"not {dtype.name}"
    )


def layout(
    architecture: Architecture, dtype: CacheDtype, model: CacheDtype, deployment: Deployment
) -> Layout:
    """The groups and the bytes of one block id on one GPU (`_get_kv_cache_bytes_per_block`,
    kv_cache_planning.py L574-605: block-outermost, the widest group's page sum)."""
    from kvcalc.engines.vllm import batch_defaults

    arch = deployment.arch
    if arch in ("ampere", "ada"):
        raise InputError(
            f"--engine vllm: vLLM 0.33 runs DeepSeek V4 on Hopper, Blackwell and x86 CPUs "
            f"with AMX only (FlashMLA or FlashInfer sparse MLA), not on {arch}"
        )
    if deployment.pp > 1:
        raise UnsupportedConfigError(
            "--engine vllm: DeepSeek V4 under pipeline parallelism is not modelled (vLLM "
            "groups the whole model's caches, then projects them onto each stage)"
        )
    if deployment.block_size not in (None, BLOCK):
        raise InputError(
            f"--engine vllm: DeepSeek V4's sparse-MLA and indexer backends take block "
            f"{BLOCK}; kvcalc models that block only, not {deployment.block_size}"
        )
    notes = [_cache_dtype(dtype, model), f"block size {BLOCK} (the V4 sparse MLA and indexer "
             "backends); windows in blocks of 64, compressor states of 4 and 8"]  # fmt: skip
    tokens, _, device = batch_defaults(deployment)
    tokens = deployment.max_num_batched_tokens or tokens
    if not deployment.max_num_batched_tokens:
        notes.append(f"max_num_batched_tokens {tokens:,} (vllm serve default for {device})")
    cpu = arch == "cpu"
    if cpu:
        notes.append("x86 CPU with AMX (vLLM's DeepSeek V4 CPU kernels); async scheduling off")
    else:
        notes.append("async scheduling on: the next token's slot is already allocated")
    groups = pack(_buckets(architecture))
    per_block = max(group.page_bytes for group in groups)
    in_flight = (1 if cpu else 2) * tokens  # max_concurrent_batches x tokens, PP 1
    return Layout(groups, per_block, in_flight, not cpu, tuple(notes))


def _held(group: Group, seq: int, limit: int, lookahead: int) -> int:
    """Blocks one decoding request holds in `group` (docs §1.9): cdiv(S + a, B), less the
    blocks wholly before S - W in a sliding group."""
    held = cdiv(min(seq + lookahead, limit), group.bucket.block)
    window = group.bucket.window
    if window is not None:
        held -= max(0, seq - window) // group.bucket.block
    return held


def _worst(group: Group, max_len: int, in_flight: int) -> int:
    """`max_memory_usage_pages` of the group in blocks: full cdiv(M, B); sliding
    cdiv(min(W - 1 + T, M), B) + 1 (`SlidingWindowSpec.max_admission_blocks_per_request`)."""
    block, window = group.bucket.block, group.bucket.window
    if window is None:
        return cdiv(max_len, block)
    return cdiv(min(window - 1 + in_flight, max_len), block) + 1


def _row(group: Group, attention: Attention) -> LayerGroup:
    """A layer group describing a vLLM group: full for the compressed K, else its window."""
    window = group.bucket.window
    kind = LayerKind.FULL if window is None else LayerKind.SLIDING
    return LayerGroup(kind, group.model_layers, attention, window)


def allocate(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    deployment: Deployment,
) -> EngineResult:  # fmt: skip
    """Per request: the blocks held in each vLLM group x the bytes of one block id."""
    plan = layout(architecture, dtype, model, deployment)
    attention = architecture.groups[0].cached_attention
    limit = max(workload.seq_len, architecture.max_position_embeddings or workload.seq_len)
    rows = []
    for group in plan.groups:
        blocks = _held(group, workload.seq_len, limit, int(plan.async_scheduling))
        block = group.bucket.block
        detail = (f"{group.bucket.what}: {blocks:,} block(s) of {block} tokens, "
                  f"{group.layers} layer caches, {group.page_bytes:,} B of pages in a "
                  f"{plan.bytes_per_block:,} B block id")  # fmt: skip
        rows.append(GroupBytes(_row(group, attention), blocks * block,
                               plan.bytes_per_block // block,
                               workload.batch * blocks * plan.bytes_per_block, detail,
                               ((blocks, "blocks"), (plan.bytes_per_block,
                                                     "B per block id"))))  # fmt: skip
    notes = (f"vllm: DeepSeek V4 packed into {len(plan.groups)} KV-cache groups (block-"
             f"outermost layout); one block id costs {plan.bytes_per_block:,} B",)  # fmt: skip
    return EngineResult(tuple(rows), notes, plan.assumptions)


def capacity(
    architecture: Architecture, dtype: CacheDtype, model: CacheDtype, deployment: Deployment,
    budget_bytes: int, seq_len: int, enc_seq: int | None = None,
) -> PoolFigures:  # fmt: skip
    """num_blocks = budget // bytes per block id; concurrency = num_blocks / the sum over
    groups of their worst case at max_model_len (`get_max_concurrency_for_kv_cache_config`,
    kv_cache_utils.py L1061-1093); tokens = int(concurrency x M) (L1120-1128)."""
    plan = layout(architecture, dtype, model, deployment)
    per_request = sum(_worst(group, seq_len, plan.in_flight_tokens) for group in plan.groups)
    device = "CPU" if deployment.arch == "cpu" else "GPU"
    return vllm_block_pool(plan.bytes_per_block, budget_bytes, per_request, seq_len, device)
