"""--engine trtllm against figures worked out by hand from TensorRT-LLM's PyTorch backend
(docs/engines.md §5), target release 1.2.1. That release's source could not be read (its PyPI
artefact is a wheel stub); each rule was read in the stored NVIDIA/TensorRT-LLM versions on
both sides of it (1.1-era and 2026 main) and holds in both:
`KVCacheManager::calculateMaxBlockRequirementsPerBeam` (blocks a request needs),
`KvCacheCreator._cal_max_memory` then `KVCacheManager.calculate_max_num_blocks` (one window:
blocks = (budget // bytes a token) // B), `calculate_max_num_blocks_for_vswa` (equal shares
per window), `KVCacheManager::allocatePools` (the start-up log), `KvCacheCreator.
_create_kv_cache_manager` (MLA: one head of kv_lora_rank + qk_rope_head_dim, CacheType
SELFKONLY) and `MambaCacheManager` (conv (conv_dim, d_conv - 1) in the model dtype, SSM
(heads, head_dim, d_state) in mamba_ssm_cache_dtype, "auto" the model dtype, max_batch_size
slots). bf16, TP = 1, tokens_per_block 32 (`KvCacheConfig` default) unless stated; budgets
of 60 GiB = 64,424,509,440 B.

Sliding windows: `KvCacheConfig.max_attention_window` defaults to None, and then
`KVCacheManager.__init__` (`_torch/pyexecutor/resource_manager.py`, read at the commit whose
`examples/constraints.txt` pins tensorrt_llm==1.2.0rc2) sets `max_attention_window_vec =
[max_seq_len]`: one pool, every layer holding the whole sequence. `py_executor_creator.py` at
that commit passes `kv_cache_config` through untouched, and gpt-oss's `AttentionBlock` gives its
window only to the attention kernel (`attention_window_size`). Per-window pools (VSWA) come only
with `max_attention_window` given, which kvcalc models as `--attention-windows`.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from kvcalc import estimate
from kvcalc.engines import Deployment, capacity
from kvcalc.engines.budget import default_util, estimate_reserve
from kvcalc.errors import UnsupportedConfigError
from kvcalc.model.architecture import Architecture
from kvcalc.model.dialects import read_architecture
from kvcalc.model.dtypes import BF16, FP8
from tests.helpers import FIXTURE_CONFIGS

LLAMA = "meta-llama__Llama-3.1-8B-Instruct.json"
GPT_OSS = "openai__gpt-oss-120b.json"
GEMMA3 = "google__gemma-3-27b-it.json"
DEEPSEEK = "deepseek-ai__DeepSeek-V3.json"
NEMOTRON = "nvidia__Nemotron-H-56B-Base-8K.json"
QWEN3_NEXT = "Qwen__Qwen3-Next-80B-A3B-Thinking.json"
BUDGET = 60 * 1024**3


def architecture(config: str) -> Architecture:
    return read_architecture(json.loads((FIXTURE_CONFIGS / config).read_text()))


def total(config: str, seq: int, batch: int = 1, **knobs: object) -> int:
    deployment = Deployment(**knobs)  # type: ignore[arg-type]
    result = estimate(FIXTURE_CONFIGS / config, seq=seq, batch=batch, dtype="bf16",
                      engine="trtllm", deployment=deployment)  # fmt: skip
    return result.total_bytes


@pytest.mark.parametrize(
    ("config", "seq", "expected"),
    [
        # Llama-3.1-8B: 2 x 32 x 8 x 128 x 2 = 131,072 B a token; cdiv(10,000, 32) = 313 blocks.
        (LLAMA, 10_000, 313 * 32 * 131_072),
        # DeepSeek-V3: K-only latent 576 x 2 B x 61 layers = 70,272 B a token; 313 blocks.
        (DEEPSEEK, 10_000, 313 * 32 * 70_272),
        # gpt-oss-120b at the default (one pool of max_seq_len): all 36 layers hold the
        # sequence, 2 x 36 x 8 x 64 x 2 = 73,728 B a token; 313 blocks.
        (GPT_OSS, 10_000, 313 * 32 * 73_728),
        # 32k: cdiv(32,768, 32) = 1,024 blocks = 2,415,919,104 B.
        (GPT_OSS, 32_768, 1_024 * 32 * 73_728),
        # gemma-3-27b at 32k, default: 62 layers x 2 x 16 x 128 x 2 = 507,904 B a token, the 52
        # sliding (window 1,024) layers too; 1,024 blocks = 16,642,998,272 B.
        (GEMMA3, 32_768, 1_024 * 32 * 507_904),
    ],
)
def test_blocks_per_request(config: str, seq: int, expected: int) -> None:
    assert total(config, seq) == expected


@pytest.mark.parametrize(
    ("config", "seq", "expected"),
    [
        # gpt-oss-120b: 18 full layers 313 blocks; 18 sliding layers (window 128) need
        # cdiv(128, 32) + 1 = 5 blocks (kSWAExtraBlock); 18 x 2 x 8 x 64 x 2 = 36,864 B a token.
        (GPT_OSS, 10_000, 313 * 32 * 36_864 + 5 * 32 * 36_864),
        # A sliding layer whose window holds the whole request needs no extra block: 4 blocks.
        (GPT_OSS, 100, 4 * 32 * 36_864 + 4 * 32 * 36_864),
        # 32k: 1,024 blocks of the full pool and 5 of the window-128 pool: 1,213,857,792 B.
        (GPT_OSS, 32_768, 1_024 * 32 * 36_864 + 5 * 32 * 36_864),
        # gemma-3-27b at 32k: 10 full layers (every sixth) x 2 x 16 x 128 x 2 = 81,920 B a
        # token in 1,024 blocks; 52 sliding layers, 425,984 B a token, in cdiv(1,024, 32) + 1 =
        # 33 blocks: 2,684,354,560 + 449,839,104 = 3,134,193,664 B.
        (GEMMA3, 32_768, 1_024 * 32 * 81_920 + 33 * 32 * 425_984),
    ],
)
def test_blocks_per_request_with_attention_windows(config: str, seq: int, expected: int) -> None:
    """max_attention_window given from the config's windows (--attention-windows)."""
    assert total(config, seq, attention_windows=True) == expected


def test_tokens_per_block_option() -> None:
    # tokens_per_block 64: cdiv(10,000, 64) = 157 blocks of 64 tokens.
    assert total(LLAMA, 10_000, block_size=64) == 157 * 64 * 131_072


def test_deepseek_v32_indexer_and_block_of_64() -> None:
    # DSACacheManager asserts tokens_per_block 64; the indexer pool adds 128 fp8 keys and one
    # fp32 scale per token and layer: (1,152 + 132) x 61 = 78,324 B; cdiv(10,000, 64) = 157.
    assert total("deepseek-ai__DeepSeek-V3.2.json", 10_000) == 157 * 64 * 78_324


def test_mamba_state_slot_per_request() -> None:
    # Nemotron-H-56B: 10 attention layers, 2 x 8 x 128 x 2 x 10 = 40,960 B a token, 256 blocks
    # at 8,192; per Mamba2 layer conv (16,384 + 2 x 8 x 256) x 3 x 2 = 122,880 B and SSM
    # 256 x 64 x 256 x 2 = 8,388,608 B (bf16: mamba_ssm_cache_dtype auto), 54 layers.
    per_slot = 54 * (122_880 + 8_388_608)
    assert per_slot == 459_620_352
    assert total(NEMOTRON, 8_192, batch=2) == 2 * (256 * 32 * 40_960 + per_slot)


def test_qwen3_next_gated_deltanet_slot() -> None:
    # Qwen3-Next: 12 attention layers x 2 x 2 x 256 x 2 = 24,576 B a token, 313 blocks; 36 GDN
    # layers of conv (32 x 128 + 2 x 16 x 128) x 3 x 2 = 49,152 B and 32 x 128 x 128 x 2 B.
    assert total(QWEN3_NEXT, 10_000) == 313 * 32 * 24_576 + 36 * (49_152 + 1_048_576)


def test_mamba_slots_for_max_batch_size_are_noted() -> None:
    result = estimate(FIXTURE_CONFIGS / NEMOTRON, seq=8_192, dtype="bf16", engine="trtllm")
    # 2,048 x 459,620,352 B = 876.66 GiB allocated at start-up.
    assert any("2,048 slots at start-up: 876.66 GiB" in note for note in result.notes)


def test_capacity_one_window_llama() -> None:
    # max_tokens = 64,424,509,440 // 131,072 = 491,520; 15,360 blocks of 32 (4 MiB each);
    # a request of 10,000 needs 313 blocks: 15,360 // 313 = 49 requests.
    found = capacity("trtllm", architecture(LLAMA), BF16, BF16, Deployment(), BUDGET, 10_000)
    assert (found.pool.units, found.pool.unit_bytes, found.requests) == (15_360, 4_194_304, 49)
    assert (
        "[MemUsageChange] Allocated 60.00 GiB for max tokens in paged KV cache (491520)."
        in found.pool.lines
    )


def test_capacity_one_pool_for_sliding_layers_by_default() -> None:
    # gpt-oss, max_attention_window unset: one window of max_seq_len, 73,728 B a token;
    # max_tokens = 64,424,509,440 // 73,728 = 873,813, 27,306 blocks (873,792 tokens,
    # 64,422,936,576 B = 60.00 GiB); 27,306 // 313 = 87 requests of 10,000.
    found = capacity("trtllm", architecture(GPT_OSS), BF16, BF16, Deployment(), BUDGET, 10_000)
    assert (found.pool.units, found.pool.kv_tokens, found.requests) == (27_306, 873_792, 87)
    assert not any(line.startswith("Window size") for line in found.pool.lines)
    assert (
        "[MemUsageChange] Allocated 60.00 GiB for max tokens in paged KV cache (873792)."
        in found.pool.lines
    )


def test_capacity_window_pools_split_the_budget_equally() -> None:
    # gpt-oss with --attention-windows: windows 128 and 131,072, 36,864 B a token each; each
    # gets half the budget: 32,212,254,720 // (36,864 x 32) = 27,306 blocks. At 10,000 tokens
    # the full pool binds: min(27,306 // 5, 27,306 // 313) = min(5,461, 87) = 87, not the 171
    # the bytes would hold.
    windows = Deployment(attention_windows=True)
    found = capacity("trtllm", architecture(GPT_OSS), BF16, BF16, windows, BUDGET, 10_000)
    assert found.requests == 87
    assert found.pool.units == 27_306
    assert found.pool.kv_tokens == 2 * 27_306 * 32  # getNumPrimaryBlocks sums the windows
    assert "Window size = 128, primary_blocks: 27306, secondary_blocks: 0" in found.pool.lines


def test_capacity_mamba_slots_stay_outside_the_kv_budget() -> None:
    # Nemotron-H: 1,572,864 tokens = 49,152 blocks; 49,152 // 313 = 157 requests of 10,000
    # (the Mamba slots were allocated before the budget was measured).
    found = capacity("trtllm", architecture(NEMOTRON), BF16, BF16, Deployment(), BUDGET, 10_000)
    assert (found.pool.units, found.requests) == (49_152, 157)


def test_capacity_reproduces_a_real_mla_log_line() -> None:
    # A TensorRT-LLM log of Kimi K2.5 (fp8 cache): "primary blocks=158543" and "[MemUsageChange]
    # Allocated 166.02 GiB for max tokens in paged KV cache (5073376)". Kimi K2's MLA rows:
    # 61 x 576 x 1 B = 35,136 B a token; a budget of exactly 158,543 blocks prints the same.
    budget = 158_543 * 32 * 35_136
    config = architecture("moonshotai__Kimi-K2-Instruct.json")
    found = capacity("trtllm", config, FP8, BF16, Deployment(), budget, 8_192)
    assert found.pool.units == 158_543
    assert (
        "[MemUsageChange] Allocated 166.02 GiB for max tokens in paged KV cache (5073376)."
        in found.pool.lines
    )


def test_default_fraction_and_reserve() -> None:
    assert default_util("trtllm", architecture(LLAMA), Deployment(), 80 * 1024**3) == Fraction(
        9, 10
    )
    reserve = estimate_reserve("trtllm", architecture(LLAMA), Deployment(), 80 * 1024**3)
    assert "max_num_tokens" in reserve.basis and reserve.total_bytes > 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("derived/google-t5__t5-small.resaved.json", "encoder-decoder cache of model_type 't5'"),
        ("google__gemma-4-26B-A4B.json", "different head sizes"),
    ],
)
def test_unmodelled_layouts_are_refused(config: str, message: str) -> None:
    with pytest.raises(UnsupportedConfigError, match=message):
        estimate(FIXTURE_CONFIGS / config, seq=2_048, dtype="bf16", engine="trtllm", enc_seq=512)


def test_fp8_cache_is_one_byte_an_element() -> None:
    """FP8 KV (`DataType.FP8`, chosen when the checkpoint quantises the KV cache): Llama-3.1-8B
    2 x 32 x 8 x 128 x 1 B = 65,536 B a token; cdiv(10,000, 32) = 313 blocks."""
    result = estimate(FIXTURE_CONFIGS / LLAMA, seq=10_000, dtype="fp8", engine="trtllm")
    assert result.total_bytes == 313 * 32 * 65_536


def test_deepseek_v4_is_refused_for_1_2_1() -> None:
    """TensorRT-LLM 1.2.1 has no DeepSeek V4 model: support was on the feat/deepseek_v4 branch
    in late April 2026 (NVIDIA/TensorRT-LLM PR #13434) and ships in 1.3.0 release candidates."""
    with pytest.raises(UnsupportedConfigError, match=r"TensorRT-LLM 1\.2\.1 has no DeepSeek V4"):
        total("deepseek-ai__DeepSeek-V4-Flash.json", 4_096)


def test_assumptions_name_the_defaults() -> None:
    result = estimate(FIXTURE_CONFIGS / GPT_OSS, seq=4_096, dtype="bf16", engine="trtllm")
    assert any("tokens_per_block 32" in line for line in result.assumptions)
    assert any("max_attention_window unset" in line and "max_seq_len" in line
               for line in result.assumptions)  # fmt: skip
    windows = estimate(FIXTURE_CONFIGS / GPT_OSS, seq=4_096, dtype="bf16", engine="trtllm",
                       deployment=Deployment(attention_windows=True))  # fmt: skip
    assert any("VSWA" in line and "--attention-windows" in line for line in windows.assumptions)
