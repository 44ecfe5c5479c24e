"""vLLM 0.33.0 on DeepSeek V4-Flash: figures worked by hand from vLLM's source (paths relative
to the wheel's `vllm/`), never from kvcalc's formula.

The caches of one layer (fp8_ds_mla, the default `--kv-cache-dtype auto` resolves to:
`models/deepseek_v4/attention.py` `_resolve_dsv4_kv_cache_dtype` L94-129). A page is states x
bytes per state, rounded up to 576 (`v1/kv_cache_interface.py` `_apply_alignment_padding`
L719-726):

- window (`v1/attention/backends/mla/sparse_swa.py` `DeepseekV4SWACache` L76-147): block 64,
  64 rows of 584 B = 37,376 -> **37,440**; every one of the 43 layers.
- compressed K (`attention.py` `DeepseekV4Attention.get_kv_cache_spec` L860-883): block 256,
  256 // ratio rows of 584 B. CSA (ratio 4): 64 x 584 = 37,376 -> **37,440** (21 layers);
  HCA (ratio 128): 2 x 584 = 1,168 -> **1,728** (20 layers).
- indexer K (`DeepseekV4IndexerCache` L911-924, head 128 + 128 // 128 x 4 = 132 B,
  L1023-1030): 64 x 132 = 8,448 -> **8,640** (21 CSA layers).
- compressor states (`models/deepseek_v4/compressor.py` `CompressorStateCache` L139-192),
  fp32 rows of 2 x coff x head_dim: CSA block 4 x 2 x 2 x 512 x 4 = 32,768 -> **32,832**,
  window 8; HCA block 8 x 2 x 1 x 512 x 4 = 32,768 -> **32,832**, window 128; the CSA
  indexer's compressor block 4 x 2 x 2 x 128 x 4 = 8,192 -> **8,640**, window 8.

Grouping (`v1/core/kv_cache_planning.py` `_get_packed_kv_cache_groups` L914-1041; the indexer
backend's BLHNC layout makes the layout block-outermost, `v1/attention/backends/mla/indexer.py`
L349-352). Buckets by spec type and block: full/256 {37,440: 21, 1,728: 20, 8,640: 21} (not
balanced); window/64 {37,440: 43}; CSA states/4 {32,832: 21, 8,640: 21}; HCA states/8
{32,832: 20}. The floor is 21 (the balanced two-page bucket); `_approximate_gcd([43, 21, 20],
21)` pads 4 at d = 22 (1 + 1 + 2), the least, so 22 repeats a group: the windows split into
2 groups (22 and 21 layers), the rest stay whole. Five groups, with pages 21 x 37,440 +
20 x 1,728 + 21 x 8,640 = **1,002,240**, 823,680, 786,240, 870,912 and 656,640 B. One block id
costs the widest: **1,002,240 B** (`_get_kv_cache_bytes_per_block` L574-605).
"""

from __future__ import annotations

import pytest

from kvcalc.engines import Deployment, capacity, size
from kvcalc.engines.kvbytes import Workload
from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.architecture import Architecture
from kvcalc.model.dialects import read_architecture
from kvcalc.model.dtypes import BF16, FP8, FP16
from tests.conftest import fixture_config

BLOCK_ID = 1_002_240
M = 1_048_576  # max_position_embeddings


@pytest.fixture(scope="module")
def flash() -> Architecture:
    return read_architecture(fixture_config("deepseek-ai__DeepSeek-V4-Flash.json"))


def held(architecture: Architecture, seq: int, **deployment: object) -> int:
    result = size("vllm", architecture, Workload(1, seq), BF16, BF16,
                  Deployment(**deployment))  # type: ignore[arg-type]  # fmt: skip
    return result.total_bytes


@pytest.mark.parametrize(
    ("seq", "blocks"),
    [
        # S + 1 slots (async scheduling): compressed K cdiv(S + 1, 256); each window group
        # cdiv(S + 1, 64) - max(0, S - 128) // 64; CSA states cdiv(S + 1, 4) - max(0, S - 8) // 4;
        # HCA states cdiv(S + 1, 8) - max(0, S - 128) // 8.
        (1, 1 + 2 * 1 + 1 + 1),  # one token: one block in each of the 5 groups
        (255, 1 + 2 * 3 + 3 + 17),  # 4 - 1 windows; 64 - 61; 32 - 15
        (256, 2 + 2 * 3 + 3 + 17),  # the 257th slot opens a second 256-token block
        (131_072, 513 + 2 * 3 + 3 + 17),  # 2,049 - 2,046; 32,769 - 32,766; 16,385 - 16,368
        (M, 4_096 + 2 * 2 + 2 + 16),  # slots capped at M: 16,384 - 16,382 and so on
    ],
)
def test_blocks_held_while_decoding(flash: Architecture, seq: int, blocks: int) -> None:
    assert held(flash, seq) == blocks * BLOCK_ID


def test_128k_request_holds_539_block_ids(flash: Architecture) -> None:
    assert held(flash, 131_072) == 539 * 1_002_240 == 540_207_360


def test_budget_of_80_gib_at_128k(flash: Architecture) -> None:
    # num_blocks = 85,899,345,920 // 1,002,240 = 85,707. Worst case at M = 131,072, T = 2 x
    # 8,192 (vllm serve default, async): compressed cdiv(131,072, 256) = 512; windows
    # cdiv(127 + 16,384, 64) + 1 = 259, twice; CSA states cdiv(7 + 16,384, 4) + 1 = 4,099;
    # HCA states cdiv(127 + 16,384, 8) + 1 = 2,065: 7,194 blocks.
    pool = capacity("vllm", flash, BF16, BF16, Deployment(), 80 << 30, 131_072).pool
    assert (pool.unit_bytes, pool.units, pool.worst_case_units) == (BLOCK_ID, 85_707, 7_194)
    assert pool.max_concurrency == 85_707 / 7_194  # 11.91x
    assert pool.kv_tokens == 1_561_549  # int(11.913678... x 131,072)
    assert pool.lines == ("GPU KV cache size: 1,561,549 tokens",
                          "Maximum concurrency for 131,072 tokens per request: 11.91x")  # fmt: skip


def test_worst_case_at_max_model_len(flash: Architecture) -> None:
    # 4,096 + 2 x 259 + 4,099 + 2,065: the windows' admission term does not grow with M.
    pool = capacity("vllm", flash, FP8, BF16, Deployment(), 20 * BLOCK_ID, M).pool
    assert pool.worst_case_units == 10_778 and pool.units == 20 and not pool.admits_one


def test_whole_requests_in_the_budget_leave_the_null_block(flash: Architecture) -> None:
    # 540 block ids: the null block and one 128k request's 539.
    fit = capacity("vllm", flash, BF16, BF16, Deployment(), 540 * BLOCK_ID, 131_072)
    assert fit.requests == 1
    fit = capacity("vllm", flash, BF16, BF16, Deployment(), 540 * BLOCK_ID - 1, 131_072)
    assert fit.requests == 0


def test_cpu_has_no_lookahead_slot_and_a_smaller_batch(flash: Architecture) -> None:
    # Async scheduling off: cdiv(131,072, 256) = 512, windows 2,048 - 2,046 = 2, CSA states
    # 32,768 - 32,766 = 2, HCA 16,384 - 16,368 = 16.
    assert held(flash, 131_072, gpu_arch="cpu") == (512 + 2 * 2 + 2 + 16) * BLOCK_ID
    # T = 2,048 (CPU batch default, one batch in flight): windows cdiv(2,175, 64) + 1 = 35,
    # CSA states cdiv(2,055, 4) + 1 = 515, HCA cdiv(2,175, 8) + 1 = 273.
    pool = capacity("vllm", flash, BF16, BF16, Deployment(gpu_arch="cpu"), 10**9, 131_072).pool
    assert pool.worst_case_units == 512 + 2 * 35 + 515 + 273
    assert pool.lines[0].startswith("CPU KV cache size")


def test_blackwell_and_tp_change_nothing(flash: Architecture) -> None:
    # Every V4 spec has one KV head and max_tp_shards=1: each TP rank holds all of it.
    assert held(flash, 131_072, gpu_arch="blackwell") == 539 * BLOCK_ID
    assert held(flash, 131_072, tp=8) == 539 * BLOCK_ID


@pytest.mark.parametrize(
    ("deployment", "dtype", "error", "message"),
    [
        ({"gpu_arch": "ampere"}, BF16, InputError, "not on ampere"),
        ({"gpu_arch": "ada"}, BF16, InputError, "not on ada"),
        ({}, FP16, InputError, r"fp8 cache \(fp8_ds_mla\) only, not fp16"),
        ({"block_size": 16}, BF16, InputError, "take block 256"),
        ({"pp": 2}, BF16, UnsupportedConfigError, "pipeline parallelism is not modelled"),
    ],
)
def test_refusals_name_vllm_in_one_line(
    flash: Architecture, deployment: dict[str, object], dtype: object, error: type[Exception],
    message: str,
) -> None:  # fmt: skip
    with pytest.raises(error, match=message) as raised:
        size("vllm", flash, Workload(1, 4_096), dtype, BF16, Deployment(**deployment))  # type: ignore[arg-type]
    assert "\n" not in str(raised.value) and "vllm" in str(raised.value).lower()
