"""Each engine's rule against worked examples derived by hand from its source (docs/engines.md).

vLLM 0.33.0, SGLang 0.5.23, llama.cpp 0c1e57098 and transformers 5.23.0: every expected figure
below is the one worked out in docs/engines.md from those sources, not recomputed by kvcalc.
"""

from __future__ import annotations

import json

import pytest

from kvcalc import estimate
from kvcalc.engines import ENGINES
from kvcalc.errors import KvcalcError, UnsupportedConfigError
from tests.conftest import fixture_config_path
from tests.helpers import FIXTURE_CONFIGS, run_kvcalc

QWEN3_NEXT = "Qwen__Qwen3-Next-80B-A3B-Thinking.json"


def total(model: str, engine: str, seq: int, dtype: str = "bf16", **options: object) -> int:
    path = str(fixture_config_path(model)) if model.endswith(".json") else model
    return estimate(path, seq=seq, dtype=dtype, engine=engine, **options).total_bytes  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "engine", "seq", "dtype", "expected"),
    [
        # vLLM §1 (async scheduling: a decoding request already holds the next token's slot,
        # cdiv(S + 1, 16) blocks): Llama-3.1-8B 626 blocks x 2,097,152 B at 10,000 tokens.
        ("llama-3.1-8b", "vllm", 10_000, "bf16", 626 * 2_097_152),
        # At max_model_len (131,072) slots stop there (`allocate_slots` caps at M): 8,192.
        ("llama-3.1-8b", "vllm", 131_072, "bf16", 8_192 * 2_097_152),
        # gpt-oss: groups of 18 layers, a block id 18 x 16 x 2,048 B = 589,824 B; full 626
        # blocks, sliding 626 - (10,000 - 128) // 16 = 9.
        ("gpt-oss-120b", "vllm", 10_000, "bf16", (626 + 9) * 589_824),
        # DeepSeek-V3 at its 163,840-token limit on Hopper: bf16 FLASH_ATTN_MLA (16): 10,240
        # blocks x 16 x 61 x 1,152 B; fp8 FLASHMLA (64): 2,560 blocks x 64 x 61 x 576 B.
        ("deepseek-v3", "vllm", 163_840, "bf16", 10_240 * 1_124_352),
        ("deepseek-v3", "vllm", 163_840, "fp8", 2_560 * 2_248_704),
        # Qwen3-Next, prefix caching on (align, the default): block 576, a block id 12 x 576 x
        # 2,048 B; cdiv(10,001, 576) = 18 attention blocks + 3 GDN groups x 2 state blocks.
        (QWEN3_NEXT, "vllm", 10_000, "bf16", (18 + 6) * 12 * 576 * 2_048),
        # SGLang §2.7: 131,072 B per token (Llama-3.1-8B), 70,272 (DeepSeek-V3), page 1.
        ("llama-3.1-8b", "sglang", 10_000, "bf16", 1_310_720_000),
        ("deepseek-v3", "sglang", 10_000, "bf16", 702_720_000),
        # ... Qwen3-Next: KV cell 24,576 B per token plus 3 Mamba slots of 77,266,944 B
        # (extra_buffer, the default: 1 working + 2 tracking states; §2.6).
        (QWEN3_NEXT, "sglang", 10_000, "bf16", 24_576 * 10_000 + 3 * 77_266_944),
        # llama.cpp §3.7: 10,000 tokens become 10,240 cells; q8_0 and q4_0 rows at 131,072.
        ("llama-3.1-8b", "llama.cpp", 10_000, "fp16", 1_342_177_280),
        ("llama-3.1-8b", "llama.cpp", 131_072, "fp16", 17_179_869_184),
        ("llama-3.1-8b", "llama.cpp", 131_072, "q8_0", 9_126_805_504),
        ("llama-3.1-8b", "llama.cpp", 131_072, "q4_0", 4_831_838_208),
        ("gpt-oss-120b", "llama.cpp", 131_072, "fp16", 4_831_838_208 + 28_311_552),
        ("deepseek-v3", "llama.cpp", 163_840, "fp16", 11_513_364_480),
        ("deepseek-v3", "llama.cpp", 163_840, "q8_0", 6_116_474_880),
        # Qwen3-Next at 262,144: attention 6,442,450,944 B plus 79,036,416 B of f32 state.
        (QWEN3_NEXT, "llama.cpp", 262_144, "fp16", 6_442_450_944 + 79_036_416),
        # transformers §4.5 at 10,000 tokens.
        ("llama-3.1-8b", "transformers", 10_000, "bf16", 1_310_720_000),
        ("gpt-oss-120b", "transformers", 10_000, "bf16", 373_321_728),
        ("deepseek-v3", "transformers", 10_000, "bf16", 702_720_000),
        (QWEN3_NEXT, "transformers", 10_000, "bf16", 323_616_768),
    ],
)
def test_worked_examples(model: str, engine: str, seq: int, dtype: str, expected: int) -> None:
    assert total(model, engine, seq, dtype) == expected


def test_vllm_tensor_block_size_option() -> None:
    # --block-size 32: 10,000 tokens take cdiv(10000, 32) = 313 blocks of 32 tokens.
    assert total("llama-3.1-8b", "vllm", 10_000, block_size=32) == 313 * 32 * 131_072


def test_vllm_fp8_ds_mla_row_is_656_bytes() -> None:
    # DeepSeek-V3.2's sparse backends store fp8 as fp8_ds_mla rows: 656 B of latent plus the
    # 132 B indexer key, 61 layers, blocks of 64 (the indexer's): cdiv(10,001, 64) = 157.
    for dtype in ("fp8", "fp8_ds_mla"):
        found = total("deepseek-ai__DeepSeek-V3.2.json", "vllm", 10_000, dtype)
        assert found == 61 * (656 + 132) * 157 * 64
    with pytest.raises(UnsupportedConfigError, match="sparse-attention"):
        total("deepseek-v3", "vllm", 10_000, "fp8_ds_mla")


def test_vllm_without_prefix_caching_keeps_one_state_block() -> None:
    # Qwen3-Next, mamba_cache_mode none: block 544 (16 x cdiv(1,097,728, 16 x 2,048)), a block
    # id 12 x 544 x 2,048 B = 13,369,344 B; 19 attention blocks + 3 GDN groups x 1.
    from kvcalc.engines import Deployment

    found = estimate(str(fixture_config_path(QWEN3_NEXT)), seq=10_000, engine="vllm",
                     deployment=Deployment(prefix_caching=False)).total_bytes  # fmt: skip
    assert found == 22 * 13_369_344 == 294_125_568


def test_vllm_llama4_chunked_layers_are_allocated_as_full() -> None:
    path = "RedHatAI__Llama-4-Scout-17B-16E-Instruct-FP8-dynamic.json"
    vllm = total(path, "vllm", 32_768)
    # all 48 layers, 8 KV heads x 128, bf16, cdiv(32,769, 16) = 2,049 blocks of 16
    assert vllm == 48 * 2 * 8 * 128 * 2 * 2_049 * 16


def test_naive_is_every_layer_full() -> None:
    # gpt-oss: 36 layers x 2 x 8 KV heads x 64 x 2 B, ignoring the 18 sliding layers
    assert total("gpt-oss-120b", "naive", 10_000) == 36 * 2 * 8 * 64 * 2 * 10_000


@pytest.mark.parametrize(
    ("engine", "dtype", "message"),
    [
        ("transformers", "fp8", "--engine transformers has no fp8 cache"),
        ("llama.cpp", "fp8", "--engine llama.cpp has no fp8 cache"),
        ("vllm", "q8_0", "--engine vllm has no q8_0 cache"),
        ("default", "fp8_ds_mla", "--engine default has no fp8_ds_mla cache"),
        ("tgi", "bf16", "unknown engine 'tgi'"),
    ],
)
def test_engine_dtype_refusals(engine: str, dtype: str, message: str) -> None:
    result = run_kvcalc("estimate", "llama-3.1-8b", "--engine", engine, "--dtype", dtype)
    assert result.returncode == 1 and result.stdout == ""
    assert message in result.stderr


CONFIGS = sorted(FIXTURE_CONFIGS.rglob("*.json"))


@pytest.mark.skipif(not CONFIGS, reason="shared configs not present")
@pytest.mark.parametrize("engine", ENGINES)
def test_every_fixture_config_under_every_engine(engine: str) -> None:
    """Each config estimates, or is refused with a message naming what is not modelled."""
    dtype = "fp16" if engine == "llama.cpp" else "bf16"
    for path in CONFIGS:
        try:
            result = estimate(path, seq=2048, batch=2, dtype=dtype, engine=engine, enc_seq=512)
        except UnsupportedConfigError as error:
            assert "not" in str(error), (path.name, str(error))
            continue
        except KvcalcError as error:  # pragma: no cover - a failure names the config
            pytest.fail(f"{path.name} under {engine}: {error}")
        assert result.total_bytes > 0, path.name


def test_table_and_json_show_the_engine_and_groups() -> None:
    result = run_kvcalc("estimate", "gemma-3-27b", "--seq", "32k", "--engine", "vllm", "--json")
    data = json.loads(result.stdout)
    assert data["engine"] == "vllm"
    assert [layer["kind"] for layer in data["layers"]] == ["full", "sliding"]
    assert "52 of 62 layers capped" in result.stderr


def test_inspect_names_the_keys() -> None:
    result = run_kvcalc("inspect", "gemma-3-27b", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert [(g["kind"], g["num_layers"]) for g in data["groups"]] == [("full", 10), ("sliding", 52)]
    keys = {row["key"] for row in data["read_from"]}
    assert "text_config.sliding_window" in keys
    table = run_kvcalc("inspect", str(fixture_config_path("nvidia__Nemotron-H-56B-Base-8K.json")))
    assert table.returncode == 0 and "hybrid_override_pattern" in table.stdout
