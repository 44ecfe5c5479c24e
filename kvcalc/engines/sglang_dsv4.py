"""SGLang 0.5.23's DeepSeek V4 pools: a paged SWA pool, c4/c128 compressed pools, states.

Rules, sources (the `sglang-0.5.23` wheel, paths under `sglang/srt/`) and worked examples:
docs/engines.md §2.9. `DSV4PoolConfigurator` (`model_executor/pool_configurator.py`) prices
one full-pool token as 0.1 of an SWA token (every layer's raw row, the c4 compressor state)
plus a quarter c4 entry and index key per CSA layer and 1/128 c128 entry per HCA layer, after
a fixed c128 compressor state for 257 request slots; `mem_cache/deepseek_v4_memory_pool.py`
stores every row in FlashMLA's V4 layout (584 B, pages padded to 576 B).
"""

from __future__ import annotations

from fractions import Fraction

from kvcalc.engines import EngineResult
from kvcalc.engines.deployment import Deployment
from kvcalc.engines.kvbytes import GroupBytes, Workload, cdiv
from kvcalc.engines.pool import PoolFigures
from kvcalc.engines.sglang import gib_text, swa_request_cap
from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.architecture import Architecture, LayerGroup
from kvcalc.values import value

PAGE = 256  # model_overrides/deepseek_v4.py; _build_dsv4_kv_pool asserts it on CUDA
ROW_BYTES = 576 + 8  # kv_layout.py KVLayout.V4: data_bytes + scale_bytes
PAGE_ALIGN = 576  # KVLayout.V4.page_align
HEAD_DIM = 448 + 64  # the V4 layout's nope + rope dims (create_buffer asserts 584 B)
SWA_RATIO = 0.1  # DSV4_DEFAULT_SWA_FULL_TOKENS_RATIO, declared by the model override
SWA_RATIO_EXACT = Fraction(1, 10)
MAX_RUNNING_REQUESTS = 256  # deepseek_v4_hook.py apply_deepseek_v4_defaults
WINDOW = 128  # DeepSeek V4's sliding_window, the window of the SWA request cap
RINGS = {4: 8, 128: 128}  # get_compress_state_ring_size without speculative decoding
STATE_BYTES = 4  # SGLANG_DSV4_COMPRESS_STATE_DTYPE float32
RUNS_ON = ("hopper", "blackwell")  # FlashMLA sparse decode (sm90/sm100) or its SM120 port


def page_bytes(page: int) -> int:
    """`KVLayout.page_bytes`: a page of 584-B rows padded to a multiple of 576 B."""
    return cdiv(page * ROW_BYTES, PAGE_ALIGN) * PAGE_ALIGN


def pool_page(ratio: int) -> int:
    """Entries per page of a ratio's pool: 256 // ratio, 256 for the SWA pool (ratio 0)."""
    return PAGE // ratio if ratio else PAGE


def paged_row(ratio: int) -> float:
    """`_get_paged_kv_bytes_per_token`: 585.0 for the SWA and c4 pools, 864.0 for c128."""
    return page_bytes(pool_page(ratio)) / pool_page(ratio)


@value
class Layers:
    """The layers of one GPU's stage: all, CSA (c4) and HCA (c128); the window and dims."""

    total: int
    c4: int
    c128: int
    window: int
    head_dim: int
    indexer_dim: int

    @property
    def index_key_bytes(self) -> int:
        """`get_dsv4_indexer_bytes_per_token`: fp8 keys and an fp32 scale per 128 (132 B)."""
        return self.indexer_dim + self.indexer_dim // 128 * 4

    @property
    def c4_state_row(self) -> int:
        """A c4 state row (overlapping: 2 x 2 x dim fp32) for attention and indexer."""
        return 4 * (self.head_dim + self.indexer_dim) * STATE_BYTES

    @property
    def c128_state_row(self) -> int:
        return 2 * self.head_dim * STATE_BYTES


def layers(architecture: Architecture) -> Layers:
    """The V4 layer groups, refused where SGLang's pools do not fit them."""
    total = c4 = c128 = 0
    window, indexer = 0, 0
    for group in architecture.groups:
        attention = group.cached_attention
        if attention.k_head_dim != HEAD_DIM:
            raise UnsupportedConfigError(
                f"--engine sglang: SGLang 0.5.23's DeepSeek V4 pool stores 448 + 64 dims per "
                f"row (584 B), not head_dim {attention.k_head_dim}"
            )
        total += group.count
        window = max(window, group.window_tokens or 0)
        compression = group.compression
        ratio = compression.ratio if compression else 0
        if compression is not None and ratio == 4:
            c4, indexer = c4 + group.count, compression.indexer_dim
        elif ratio == 128:
            c128 += group.count
        elif ratio:
            raise UnsupportedConfigError(
                f"--engine sglang: SGLang 0.5.23 sizes DeepSeek V4 compress ratios 4 and 128 "
                f"(collect_sources_by_ratio), not {ratio}"
            )
    return Layers(total, c4, c128, window, HEAD_DIM, indexer)


def check(deployment: Deployment) -> None:
    """Where SGLang 0.5.23 runs DeepSeek V4, and at which page."""
    if deployment.arch not in RUNS_ON:
        raise UnsupportedConfigError(
            f"--engine sglang: SGLang 0.5.23 runs DeepSeek V4 only on Hopper and Blackwell "
            f"(its dsv4 backend's FlashMLA sparse kernels), not on {deployment.arch}"
        )
    if deployment.block_size not in (None, PAGE):
        raise InputError(
            f"--engine sglang: SGLang 0.5.23 pages DeepSeek V4 by {PAGE} tokens "
            "(_build_dsv4_kv_pool asserts it); --block-size cannot change it"
        )


ASSUMPTIONS = (
    "page size 256 (the dsv4 backend; SGLang's only page for DeepSeek V4 on CUDA)",
    "KV rows in FlashMLA's V4 fp8 layout, 584 B padded to 585 B a token (kv_cache_dtype "
    "auto is fp8_e4m3 for V4; --dtype does not change it)",
    "swa_full_tokens_ratio 0.1, max_running_requests 256 (SGLang's DeepSeek V4 defaults), "
    "fp32 compressor states",
)


def swa_slots(seq_len: int) -> int:
    """SWA-pool slots one decoding request holds: its pages, at most window + eviction
    interval + a page of padding + a page of decode allocation (`compute_swa_request_cap`)."""
    return min(cdiv(seq_len, PAGE) * PAGE, swa_request_cap(WINDOW, PAGE))


def _group(group: LayerGroup, v4: Layers, workload: Workload) -> GroupBytes:
    """One group's bytes for the batch: its SWA rows (and c4 state rows, 8 per SWA page);
    its compressed entries, whole pool pages of its full-pool slots; the c128 state ring."""
    pages = cdiv(workload.seq_len, PAGE)
    swa = swa_slots(workload.seq_len)
    ratio = group.compression.ratio if group.compression else 0
    per_layer = swa // PAGE * page_bytes(PAGE)
    detail = f"{swa:,} SWA-pool slots"
    if ratio == 4:
        per_layer += swa // PAGE * RINGS[4] * v4.c4_state_row
        per_layer += pages * (page_bytes(pool_page(4)) + pool_page(4) * v4.index_key_bytes)
        detail += f" + c4 state; {pages * pool_page(4):,} c4 entries and index keys"
    elif ratio == 128:
        per_layer += pages * page_bytes(pool_page(128)) + RINGS[128] * v4.c128_state_row
        detail += f"; {pages * pool_page(128):,} c128 entries + a 128-row c128 state"
    per_token = group.count * page_bytes(PAGE) // PAGE
    return GroupBytes(group, swa, per_token, workload.batch * group.count * per_layer,
                      detail + f", pages of {PAGE}")  # fmt: skip


def allocate(
    architecture: Architecture, workload: Workload, deployment: Deployment
) -> EngineResult:
    """Per request while decoding: the SWA-pool slots it keeps, the c4 and c128 pool pages
    of its full-pool slots, its c4 state rows and its c128 state ring."""
    check(deployment)
    v4 = layers(architecture)
    return EngineResult(tuple(_group(g, v4, workload) for g in architecture.groups), (),
                        ASSUMPTIONS)  # fmt: skip


def swa_token_bytes(v4: Layers) -> float:
    """`_get_bytes_per_swa_token`: every layer's SWA row, plus the c4 state rows (8 a page)."""
    return paged_row(0) * v4.total + RINGS[4] / PAGE * v4.c4_state_row * v4.c4


def full_token_bytes(v4: Layers) -> float:
    """`_get_bytes_per_full_token`, in SGLang's float order: 0.1 SWA token, then per CSA
    layer a quarter c4 entry and index key, per HCA layer 1/128 of a c128 entry."""
    c4 = 1 / 4 * paged_row(4) + 1 / 4 * v4.index_key_bytes
    c128 = 1 / 128 * paged_row(128)
    return SWA_RATIO * swa_token_bytes(v4) + (c4 * v4.c4 + c128 * v4.c128)


def page_unit_bytes(v4: Layers) -> int:
    """What one 256-token page of the full pool costs (exact; SGLang keeps it in floats)."""
    row = Fraction(page_bytes(PAGE), PAGE)
    swa = row * v4.total + Fraction(RINGS[4], PAGE) * v4.c4_state_row * v4.c4
    c4 = Fraction(page_bytes(pool_page(4)), 4 * pool_page(4)) + Fraction(v4.index_key_bytes, 4)
    c128 = Fraction(page_bytes(pool_page(128)), 128 * pool_page(128))
    total = PAGE * (SWA_RATIO_EXACT * swa + c4 * v4.c4 + c128 * v4.c128)
    return cdiv(total.numerator, total.denominator)


def c128_state_bytes(v4: Layers, requests: int) -> int:
    """`_get_c128_state_fixed_bytes`: a 128-row ring per request slot (requests + 1), plus
    ring + 1 rows, rounded up to 128 rows, per HCA layer."""
    rows = (requests + 1) * RINGS[128] + RINGS[128] + 1
    return cdiv(rows, 128) * 128 * v4.c128_state_row * v4.c128


def capacity(architecture: Architecture, deployment: Deployment, budget_bytes: int,
             seq_len: int, context_len: int) -> PoolFigures:  # fmt: skip
    """`DSV4PoolConfigurator.calculate_pool_sizes`: F = int((budget - c128 state) / bytes per
    full token) in pages; SWA = int(F x 0.1) in pages; c4 = F // 4, c128 = F // 128; then
    max_running_requests = min(256, F // 2); requests held by each pool and that cap."""
    check(deployment)
    v4 = layers(architecture)
    requested = deployment.max_num_seqs or MAX_RUNNING_REQUESTS
    fixed = c128_state_bytes(v4, requested)
    per_full = full_token_bytes(v4)
    full = int(max(max(0, budget_bytes) - fixed, 0) / per_full) // PAGE * PAGE
    swa = int(full * SWA_RATIO) // PAGE * PAGE
    pages = cdiv(seq_len, PAGE)
    lines = [f"DSV4 SWA sizing: mode=ratio (explicit), swa_tokens={swa}, "
             f"swa_full_tokens_ratio={SWA_RATIO}"]  # fmt: skip
    if swa <= v4.window + PAGE:
        lines.append(f"SWA pool ({swa} tokens) cannot hold even one request: SGLang refuses "
                     "to start")  # fmt: skip
        return PoolFigures(f"full-pool page of {PAGE}", page_unit_bytes(v4), 0, 0, 0.0,
                           tuple(lines), worst_case_units=pages, requests=0)  # fmt: skip
    requests = min(requested, full // 2)
    lines += [
        f"DSV4 memory calculation: unified=False, unified_fp8=False, dspark_draft_bf16=False, "
        f"bytes_per_full_token={per_full:.2f}, available_bytes={gib_text(budget_bytes)} GB, "
        f"c128_state_fixed={gib_text(fixed)} GB, c2_state_fixed=0.00 GB, swa_fixed=0.00 GB, "
        f"swa_ring_fixed=0.00 GB, c4_state_fixed=0.00 GB, full_token={full}",
        f"DSV4 pool sizes: full={full}, swa={swa}, c4={full // 4}, c128={full // 128}, "
        f"c4_state={swa // PAGE * RINGS[4]}, c128_state=0",
        f"max_total_num_tokens={full}, max_running_requests={requests}, context_len={context_len}",
    ]
    held = min(requests, full // (pages * PAGE), swa // swa_slots(seq_len))
    return PoolFigures(f"full-pool page of {PAGE}", page_unit_bytes(v4), full // PAGE, full,
                       float(requests), tuple(lines), worst_case_units=pages,
                       requests=held)  # fmt: skip
