"""SGLang 0.5.23 on DeepSeek V4, against figures worked out by hand from its source.

Source: the `sglang-0.5.23` wheel, paths under `sglang/srt/` (docs/engines.md §2.9).
DeepSeek-V4-Flash has 43 layers: 2 sliding only, 21 CSA (compress ratio 4, indexer keys of
128) and 20 HCA (ratio 128); window 128, head dim 448 + 64.

Rows (`kernels/ops/attention/dsv4/kv_layout.py`, FlashMLA's V4 layout): 576 data + 8 scale
bytes = 584 B a token, a page padded to a multiple of 576 B. Page 256 (the dsv4 backend):
an SWA page of 256 rows is ceil(256 x 584 / 576) x 576 = 149,760 B (585 B a token); a c4
page of 256 / 4 = 64 entries 37,440 B (585 B an entry); a c128 page of 2 entries 1,728 B
(864 B an entry). A c4 index key is 128 + 4 = 132 B (`get_dsv4_indexer_bytes_per_token`).
Compressor states are fp32 (`CompressStatePool`): a c4 row 2 x 2 x (512 + 128) x 4 =
10,240 B, 8 rows per SWA page; a c128 row 2 x 512 x 4 = 4,096 B, 128 rows per request slot.

`DSV4PoolConfigurator` (`model_executor/pool_configurator.py`):
- an SWA token: 585 x 43 + 8 / 256 x 10,240 x 21 = 25,155 + 6,720 = 31,875 B;
- a full-pool token: 0.1 x 31,875 + 21 x (585 / 4 + 132 / 4) + 20 x 864 / 128
  = 3,187.5 + 3,764.25 + 135 = 7,086.75 B, so a 256-token page 1,814,208 B;
- fixed c128 state for max_running_requests 256 (`apply_deepseek_v4_defaults`):
  ceil128(257 x 128 + 129) = 33,152 rows x 4,096 x 20 = 2,715,811,840 B.
At a 60 GiB budget (64,424,509,440 B): F = int(61,708,697,600 / 7,086.75) = 8,707,619, in
pages 8,707,584; SWA = int(870,758.4) = 870,758, in pages 870,656; c4 = F // 4 = 2,176,896;
c128 = F // 128 = 68,028; c4 state = 870,656 / 256 x 8 = 27,208 rows; max_running_requests
= min(256, F // 2) = 256.

One request of S tokens while decoding holds pad(S, 256) full-pool slots (c4 and c128 pages
of them), min(pad(S, 256), 128 + 128 + 2 x 256 = 768) SWA slots (`compute_swa_request_cap`)
with their c4 state rows, and a c128 state ring of 128 x 4,096 x 20 = 10,485,760 B.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from kvcalc import estimate, load_model
from kvcalc.engines import Deployment, capacity
from kvcalc.engines.budget import default_util, kv_budget
from kvcalc.engines.pool import PoolFigures
from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.dtypes import BF16, FP8
from tests.helpers import FIXTURE_CONFIGS

FLASH = FIXTURE_CONFIGS / "deepseek-ai__DeepSeek-V4-Flash.json"
BUDGET = 60 * 2**30


def request_bytes(seq: int, **deployment: object) -> int:
    found = estimate(FLASH, seq=seq, dtype="bf16", engine="sglang",
                     deployment=Deployment(**deployment))  # type: ignore[arg-type]  # fmt: skip
    return found.total_bytes


def pools(budget: int = BUDGET, seq: int = 131_072, **deployment: object) -> PoolFigures:
    architecture = load_model(FLASH).architecture
    found = capacity("sglang", architecture, BF16, BF16,
                     Deployment(**deployment), budget, seq)  # type: ignore[arg-type]  # fmt: skip
    return found.pool


def test_one_request_at_128k() -> None:
    # 512 pages. c4 layers: 512 x (37,440 + 64 x 132) x 21 = 493,387,776; c128 layers:
    # 512 x 1,728 x 20 = 17,694,720; SWA: 768 slots x 31,875 = 24,480,000 (3 pages x 149,760
    # x 43 and 3 x 8 state rows x 10,240 x 21); c128 state 10,485,760.
    assert request_bytes(131_072) == 493_387_776 + 17_694_720 + 24_480_000 + 10_485_760
    assert request_bytes(131_072) == 546_048_256


def test_short_requests_hold_whole_pages() -> None:
    # 100 tokens: 1 page, 256 SWA slots. c4 layer 149,760 + 8 x 10,240 + 45,888 = 277,568;
    # c128 layer 149,760 + 1,728 + 524,288 = 675,776; sliding layer 149,760.
    assert request_bytes(100) == 21 * 277_568 + 20 * 675_776 + 2 * 149_760 == 19_643_968
    # 1,000 tokens: 4 pages, 768 SWA slots (3 pages). c4 layer 3 x 149,760 + 24 x 10,240 +
    # 4 x 45,888 = 878,592; c128 layer 449,280 + 4 x 1,728 + 524,288 = 980,480.
    assert request_bytes(1_000) == 21 * 878_592 + 20 * 980_480 + 2 * 449_280 == 38_958_592
    # The same page: bytes change only at a page edge.
    assert request_bytes(1_024) == request_bytes(1_000)
    assert request_bytes(1_025) - request_bytes(1_024) == 21 * 45_888 + 20 * 1_728


def test_batch_is_linear_and_fp8_is_the_same_pool() -> None:
    one = request_bytes(4_096)
    found = estimate(FLASH, seq=4_096, batch=3, dtype="fp8", engine="sglang")
    assert found.total_bytes == 3 * one


def test_pool_sizes_for_60_gib() -> None:
    pool = pools()
    assert (pool.kv_tokens, pool.units, pool.unit_bytes) == (8_707_584, 34_014, 1_814_208)
    assert pool.max_concurrency == 256
    assert pool.lines == (
        "DSV4 SWA sizing: mode=ratio (explicit), swa_tokens=870656, swa_full_tokens_ratio=0.1",
        "DSV4 memory calculation: unified=False, unified_fp8=False, dspark_draft_bf16=False, "
        "bytes_per_full_token=7086.75, available_bytes=60.00 GB, c128_state_fixed=2.53 GB, "
        "c2_state_fixed=0.00 GB, swa_fixed=0.00 GB, swa_ring_fixed=0.00 GB, "
        "c4_state_fixed=0.00 GB, full_token=8707584",
        "DSV4 pool sizes: full=8707584, swa=870656, c4=2176896, c128=68028, c4_state=27208, "
        "c128_state=0",
        "max_total_num_tokens=8707584, max_running_requests=256, context_len=1048576",
    )


@pytest.mark.parametrize(
    ("seq", "held"),
    [
        (131_072, 66),  # the full pool: 8,707,584 // 131,072
        (65_536, 132),  # 8,707,584 // 65,536
        (32_768, 256),  # 265 fit the full pool, 1,133 the SWA pool: max_running_requests
        (1_000, 256),
    ],
)
def test_requests_held_at_60_gib(seq: int, held: int) -> None:
    assert pools(seq=seq).requests == held


def test_a_small_budget_is_bound_by_the_swa_pool() -> None:
    # 3 GiB: F = int(505,413,632 / 7,086.75) = 71,318, in pages 71,168; SWA = 7,116 -> 6,912.
    # At 4,096 tokens (768 SWA slots each): 6,912 // 768 = 9 requests, the full pool 17.
    pool = pools(3 * 2**30, seq=4_096)
    assert (pool.kv_tokens, pool.requests) == (71_168, 9)


def test_a_budget_below_the_fixed_state_holds_nothing() -> None:
    # 2 GiB < the 2,715,811,840 B c128 state: F = 0; SGLang refuses to start.
    pool = pools(2 * 2**30)
    assert (pool.kv_tokens, pool.requests) == (0, 0)
    assert "cannot hold even one request" in pool.lines[-1]


def test_max_running_requests_sets_the_fixed_state() -> None:
    # --max-num-seqs 64: ceil128(65 x 128 + 129 = 8,449) = 8,576 rows x 4,096 x 20 =
    # 702,545,920 B; F = int(63,721,963,520 / 7,086.75) = 8,991,704 -> in pages 8,991,488.
    pool = pools(max_num_seqs=64)
    assert (pool.kv_tokens, pool.max_concurrency) == (8_991_488, 64)


def test_blackwell_sizes_alike() -> None:
    assert pools(gpu_arch="blackwell") == pools()
    assert request_bytes(4_096, gpu_arch="blackwell") == request_bytes(4_096)


@pytest.mark.parametrize("arch", ["ampere", "ada", "cpu"])
def test_refused_where_sglang_has_no_kernel(arch: str) -> None:
    with pytest.raises(UnsupportedConfigError, match="runs DeepSeek V4 only on Hopper") as error:
        request_bytes(4_096, gpu_arch=arch)
    assert "\n" not in str(error.value)


def test_the_page_is_fixed() -> None:
    with pytest.raises(InputError, match="pages DeepSeek V4 by 256"):
        request_bytes(4_096, block_size=64)
    assert request_bytes(4_096, block_size=256) == request_bytes(4_096)


def test_fp8_and_bf16_give_the_same_pools() -> None:
    architecture = load_model(FLASH).architecture
    fp8 = capacity("sglang", architecture, FP8, BF16, Deployment(), BUDGET, 4_096).pool
    assert fp8 == pools(seq=4_096)


def test_default_mem_fraction_static_has_no_prefill_graph_term() -> None:
    """H200 (nvidia-smi 143,771 MiB), TP 8: `handle_gpu_memory_settings` tiers give chunked
    prefill 8,192 and decode max_bs 512 (tp >= 4). SGLang turns the breakable prefill CUDA
    graph off for V4 (`cuda_graph_hook.py` `disable_breakable_cudagraph_if_incompatible`, run
    in `handle_cuda_graph_config` before `handle_gpu_memory_settings`), so
    `reserve_for_graph_mb` is 2 x 512 = 1,024 MiB with no 8 x 58 capture sizes. reserved =
    512 + 1.5 x 8,192 + 8 x 1 / 8 x 1,024 + 1,024 = 14,848 MiB (above the 10,240 floor);
    f = round((143,771 - 14,848) / 143,771, 3) = round(0.896725, 3) = 0.897. A model with the
    prefill graph reserves 464 MiB more: round(128,459 / 143,771, 3) = 0.893.
    The usable memory: ceil(150,754,820,096 x 0.897) = 135,227,073,627 B, 603,019,281 B more
    than at 0.893."""
    v4 = load_model(FLASH).architecture
    llama = load_model(FIXTURE_CONFIGS / "meta-llama__Llama-3.1-8B-Instruct.json").architecture
    h200, tp8 = 143_771 * 2**20, Deployment(tp=8)
    assert default_util("sglang", v4, tp8, h200) == Fraction(897, 1000)
    assert default_util("sglang", llama, tp8, h200) == Fraction(893, 1000)
    budget = kv_budget("sglang", v4, tp8, gpu_bytes=h200, weights_bytes=0)
    assert (budget.usable_bytes, budget.kv_budget_bytes) == (135_227_073_627, 135_227_073_627)
