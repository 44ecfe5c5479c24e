"""SGLang 0.5.23 against figures worked out by hand from its source (docs/engines.md §2).

Source: the `sglang-0.5.23` wheel, paths under `sglang/srt/`. Each expected number below is
derived in its comment from SGLang's rules, not from kvcalc: `cell` from
`model_executor/pool_configurator.py` `_compute_cell_size`, the token count from
`calculate_pool_sizes`, the Mamba pool from `mem_cache/kv_cache_configurator.py`
`_handle_max_mamba_cache`, max_running_requests from `resolve_max_num_reqs`, the default
mem_fraction_static from `arg_groups/memory_hook.py` `handle_gpu_memory_settings`. The budget
is 60 GiB = 64,424,509,440 B (the `rest` after weights and slack), TP 1, Hopper unless stated.
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path

import pytest

from kvcalc import estimate, load_model
from kvcalc.engines import Deployment, capacity
from kvcalc.engines.budget import default_util, estimate_reserve
from kvcalc.errors import KvcalcError, UnsupportedConfigError
from kvcalc.model.dtypes import BF16, FP8, CacheDtype
from tests.helpers import FIXTURE_CONFIGS
from tests.test_dialects import STATE_FAMILIES

BUDGET = 60 * 2**30
LLAMA = "meta-llama__Llama-3.1-8B-Instruct.json"
GPT_OSS = "openai__gpt-oss-120b.json"
GEMMA3 = "google__gemma-3-27b-it.json"
QWEN3_NEXT = "Qwen__Qwen3-Next-80B-A3B-Thinking.json"
NEMOTRON_H = "nvidia__Nemotron-H-56B-Base-8K.json"
DEEPSEEK_V3 = "deepseek-ai__DeepSeek-V3.json"
DEEPSEEK_V32 = "deepseek-ai__DeepSeek-V3.2.json"
BLACKWELL = Deployment(gpu_arch="blackwell")


def sized(name: str, seq: int, **deployment: object) -> int:
    path = FIXTURE_CONFIGS / name
    found = estimate(path, seq=seq, dtype="bf16", engine="sglang",
                     deployment=Deployment(**deployment))  # type: ignore[arg-type]  # fmt: skip
    return found.total_bytes


def pools(name: str, dtype: CacheDtype = BF16, deployment: Deployment | None = None,
          seq: int = 10_000):  # type: ignore[no-untyped-def]  # fmt: skip
    architecture = load_model(FIXTURE_CONFIGS / name).architecture
    return capacity("sglang", architecture, dtype, BF16, deployment or Deployment(), BUDGET,
                    seq).pool  # fmt: skip


def test_llama_cell_tokens_and_log() -> None:
    # cell = 8 KV heads x (128 + 128) x 32 layers x 2 B = 131,072; page 1 (fa3 on Hopper).
    assert sized(LLAMA, 10_000) == 131_072 * 10_000
    pool = pools(LLAMA)
    # 64,424,509,440 // 131,072 = 491,520 tokens; est = int(491,520 / 131,072 x 512) = 1,920,
    # clamped to 2,048, below T // 2.
    assert (pool.units, pool.unit_bytes, pool.max_concurrency) == (491_520, 131_072, 2048)
    # K size = 491,521 rows x 8 x 128 x 2 B x 32 layers / 2^30 = 30.00 GB.
    assert ("KV Cache is allocated. dtype: torch.bfloat16, #tokens: 491520, K size: 30.00 GB, "
            "V size: 30.00 GB") in pool.lines  # fmt: skip
    # TP 2: 4 KV heads per GPU, cell 65,536, so 983,040 tokens for the same budget.
    assert pools(LLAMA, deployment=Deployment(tp=2)).units == 983_040


def test_page_sizes_per_gpu_arch() -> None:
    # Hopper fa3 page 1; Blackwell trtllm_mha forces 64: 10,000 tokens take 157 pages = 10,048.
    assert sized(LLAMA, 10_000, gpu_arch="blackwell") == 131_072 * 10_048
    assert sized(LLAMA, 10_000, gpu_arch="ampere") == 131_072 * 10_000
    assert sized(LLAMA, 10_000, block_size=16) == 131_072 * 10_000  # 625 pages of 16


def test_gpt_oss_two_pools() -> None:
    # full_pt = swa_pt = 8 x (64 + 64) x 2 = 2,048 B; cell = 18 x 2,048 + 0.8 x 18 x 2,048 =
    # 66,355.2; F = int(64,424,509,440 // 66,355.2) = 970,903; S = int(970,903 x 0.8) = 776,722.
    pool = pools(GPT_OSS)
    assert pool.units == 970_903
    assert "Use sliding window memory pool. full_layer_tokens=970903, swa_layer_tokens=776722" in (
        pool.lines)  # fmt: skip
    # Blackwell (trtllm_mha, page 64): F = 970,880, S = int(970,880 x 0.8) // 64 x 64 = 776,704.
    assert "SWAKVPool mem usage: 60.00 GB, swa size: 776704, full size: 970880" in pools(
        GPT_OSS, deployment=BLACKWELL).lines  # fmt: skip
    # One request of 10,000 tokens: 18 full layers x 2,048 B x 10,000 slots, and in the SWA
    # pool at most window + eviction interval + 2 pages (compute_swa_request_cap) =
    # 127 (sliding_window - 1) + 128 + 2 = 257 slots x 18 x 2,048 B.
    assert sized(GPT_OSS, 10_000) == 18 * 2048 * 10_000 + 18 * 2048 * 257
    # A request shorter than that holds only its own tokens: 200 slots in both pools.
    assert sized(GPT_OSS, 200) == 36 * 2048 * 200


def test_gemma3_sliding_layers_sized_as_full() -> None:
    # Gemma 3 disables the hybrid SWA pool: cell = 16 x 256 x 62 x 2 = 507,904 B.
    assert sized(GEMMA3, 10_000) == 507_904 * 10_000
    assert pools(GEMMA3).units == 64_424_509_440 // 507_904  # 126,843


def test_qwen3_next_mamba_pool_at_defaults() -> None:
    # per_req = 36 x (conv (16x128x2 + 32x128) x 3 x 2 B + temporal 32x128x128 x 4 B)
    # = 36 x (49,152 + 2,097,152) = 77,266,944. Mamba budget 60 x 0.9 / 1.9 GiB:
    # int((30,516,647,073.7 - 77,266,944) // 77,266,944) = 393 slots, 394 x per_req taken;
    # KV gets int((60 - 394 x 77,266,944 / 2^30) x 2^30) = 33,981,333,504 B; cell = 12 x 2
    # x 512 x 2 = 24,576, T = 1,382,704; requests min(2,700, 691,352, 393 // 5) = 78.
    pool = pools(QWEN3_NEXT)
    assert (pool.units, pool.max_concurrency) == (1_382_704, 78)
    assert any(line.startswith("Mamba Cache is allocated. max_mamba_cache_size: 393,")
               for line in pool.lines)  # fmt: skip
    # extra_buffer: 1 working + 2 tracking state slots per request while decoding.
    assert sized(QWEN3_NEXT, 10_000) == 24_576 * 10_000 + 3 * 77_266_944
    # no_buffer: one slot; the cap is 393 // 3 = 131 requests.
    assert sized(QWEN3_NEXT, 10_000, mamba_strategy="no_buffer") == 24_576 * 10_000 + 77_266_944
    no_buffer = pools(QWEN3_NEXT, deployment=Deployment(mamba_strategy="no_buffer"))
    assert no_buffer.max_concurrency == 131
    # Blackwell: trtllm_mha page 64 under extra_buffer (model_overrides/qwen3_5.py).
    assert sized(QWEN3_NEXT, 10_000, gpu_arch="blackwell") == (
        24_576 * 10_048 + 3 * 77_266_944)  # fmt: skip


def test_nemotron_h_mamba_pool_caps_requests() -> None:
    # conv (16,384 + 2 x 8 x 256) x 3 x 2 = 122,880 B; temporal 256 x 64 x 256 x 4 =
    # 16,777,216 B; per_req = 54 x 16,900,096 = 912,605,184. Pool 32 slots; KV cell 10 x 8 x
    # 256 x 2 = 40,960, T = 837,610; requests 32 // 5 = 6.
    pool = pools(NEMOTRON_H, seq=8192)
    assert (pool.units, pool.max_concurrency) == (837_610, 6)
    assert sized(NEMOTRON_H, 8192) == 40_960 * 8192 + 3 * 912_605_184


def test_deepseek_v3_mla() -> None:
    # cell = (512 + 64) x 61 x 2 = 70,272; T = 916,787; est int(916,787 / 163,840 x 512) = 2,864.
    pool = pools(DEEPSEEK_V3)
    assert (pool.units, pool.max_concurrency) == (916_787, 2864)
    assert sized(DEEPSEEK_V3, 10_000) == 70_272 * 10_000
    # Blackwell: trtllm_mla page 64, T = 916,787 // 64 x 64 = 916,736.
    assert pools(DEEPSEEK_V3, deployment=BLACKWELL).units == 916_736


def test_deepseek_v32_dsa_indexer() -> None:
    # Row 576 x 2 = 1,152 B plus the index key 128 + 128 // 128 x 4 = 132 B: cell 61 x 1,284 =
    # 78,324; page 64: T = 64,424,509,440 // 78,324 // 64 x 64 = 822,528.
    assert pools(DEEPSEEK_V32).units == 822_528
    # fp8: trtllm on Blackwell keeps 576 B rows (61 x 708 = 43,188 -> 1,491,712 tokens);
    # flashmla_kv on Hopper writes 656 B rows (61 x 788 = 48,068 -> 1,340,224 tokens).
    assert pools(DEEPSEEK_V32, FP8, BLACKWELL).units == 1_491_712
    assert pools(DEEPSEEK_V32, FP8).units == 1_340_224
    # One request of 10,000 tokens: 157 pages of 64 = 10,048 slots x 78,324 B.
    assert sized(DEEPSEEK_V32, 10_000) == 10_048 * 78_324


@pytest.mark.parametrize(
    ("mib", "expected"),
    [
        # reserved = 512 + 1.5 x 8,192 + 128 + 2 x 256 + 8 x 58 capture sizes = 13,904 MiB.
        (81_559, "0.83"),  # round(67,655 / 81,559, 3)
        (143_771, "0.903"),  # H200: the same 13,904 MiB
        (183_359, "0.854"),  # B200: 512 + 24,576 + 128 + 1,024 + 8 x 74 = 26,832
        (40_960, "0.823"),  # A100-40GB: 512 + 6,144 + 128 + 64 + 8 x 50 = 7,248
        (23_034, "0.684"),  # 24 GB card: 512 + 6,144 + 128 + 96 + 400 = 7,280
    ],
)
def test_default_mem_fraction_static(mib: int, expected: str) -> None:
    llama = load_model(FIXTURE_CONFIGS / LLAMA).architecture
    assert default_util("sglang", llama, Deployment(), mib * 2**20) == Fraction(expected)


def test_mla_fraction_is_taken_as_reserve() -> None:
    # MLA reserves 1,536 MiB of prefill graphs instead of 464: 14,976 MiB, f = 0.816.
    architecture = load_model(FIXTURE_CONFIGS / DEEPSEEK_V3).architecture
    gpu = 81_559 * 2**20
    found = estimate_reserve("sglang", architecture, Deployment(), gpu)
    assert found.total_bytes == -(-gpu * 83 // 100) - -(-gpu * 816 // 1000)
    assert not estimate_reserve("sglang", load_model(FIXTURE_CONFIGS / LLAMA).architecture,
                                Deployment(), gpu).parts  # fmt: skip


def state_family(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(copy.deepcopy(STATE_FAMILIES[name][0])))
    return path


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("jamba-v0.1", "does not run Jamba"),
        ("zamba2-2.7b", "does not run Zamba2"),
        ("minimax-text-01", "does not run MiniMax-Text-01"),
        ("bamba", "does not run Bamba"),
    ],
)
def test_models_sglang_cannot_run_are_refused(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(UnsupportedConfigError, match=message):
        estimate(state_family(tmp_path, name), seq=1000, dtype="bf16", engine="sglang")


@pytest.mark.parametrize(
    "name", ["mamba-130m", "qwen3.5", "kimi-linear-48b", "lfm2-350m", "gemma-3n-e4b",
             "mimo-v2-flash", "falcon-h1-0.5b", "granite-4.0-h-1b"],
)  # fmt: skip
def test_families_sglang_runs_are_sized(tmp_path: Path, name: str) -> None:
    found = estimate(state_family(tmp_path, name), seq=1000, dtype="bf16", engine="sglang")
    assert found.total_bytes > 0


def test_pure_mamba_one_state_slot(tmp_path: Path) -> None:
    # Mamba-130m: 24 layers x (conv 1,536 x 3 x 2 B + temporal 1,536 x 16 x 4 B), one slot.
    found = estimate(state_family(tmp_path, "mamba-130m"), seq=1000, dtype="bf16",
                     engine="sglang")  # fmt: skip
    assert found.total_bytes == 24 * (1536 * 3 * 2 + 1536 * 16 * 4)


def test_every_fixture_config_sizes_or_names_what_sglang_cannot_run() -> None:
    for path in sorted(FIXTURE_CONFIGS.rglob("*.json")):
        try:
            found = estimate(path, seq=2048, batch=2, dtype="bf16", engine="sglang")
        except UnsupportedConfigError as error:
            assert "\n" not in str(error) and "not" in str(error), (path.name, str(error))
            continue
        except KvcalcError as error:  # pragma: no cover - a failure names the config
            pytest.fail(f"{path.name}: {error}")
        assert found.total_bytes > 0, path.name
