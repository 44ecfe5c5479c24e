"""--engine llama.cpp against figures worked out by hand from llama.cpp 0c1e57098 (docs/engines.md
§3): `src/llama-context.cpp` (n_ctx, streams), `src/llama-kv-cache.cpp` (rows per cell),
`src/llama-kv-cache-iswa.cpp` (sliding cells), `src/llama-kv-cache-dsa.cpp` (indexer keys),
`src/llama-memory-recurrent.cpp` (f32 state rows). f16 rows: row(f16, n) = 2n bytes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from kvcalc import estimate
from kvcalc.engines import Deployment
from kvcalc.errors import UnsupportedConfigError
from tests.helpers import FIXTURE_CONFIGS
from tests.test_dialects import STATE_FAMILIES

LLAMA = "meta-llama__Llama-3.1-8B-Instruct.json"
GPT_OSS = "openai__gpt-oss-120b.json"
GEMMA3 = "google__gemma-3-27b-it.json"


def total(
    config: str | Path, seq: int, batch: int = 1, dtype: str = "fp16",
    unified: bool | None = None,
) -> int:  # fmt: skip
    path = config if isinstance(config, Path) else FIXTURE_CONFIGS / config
    deployment = Deployment(kv_unified=unified)
    result = estimate(path, seq=seq, batch=batch, dtype=dtype, engine="llama.cpp",
                      deployment=deployment)  # fmt: skip
    return result.total_bytes


# Llama-3.1-8B: 32 layers x (K + V) rows of 8 x 128 f16 = 32 x 2 x 2,048 = 131,072 B per cell.
def test_streams_divide_the_padded_context() -> None:
    # 3 x 10,000 = 30,000 -> n_ctx PAD 30,208; not unified: n_ctx_seq = PAD(30,208 // 3 =
    # 10,069) = 10,240 cells in each of 3 streams (llama-context.cpp L294-305).
    assert total(LLAMA, 10_000, batch=3) == 3 * 10_240 * 131_072


def test_unified_is_one_stream_of_the_padded_context() -> None:
    # --kv-unified: n_ctx_seq = n_ctx = 30,208 cells in one stream (L292-293).
    assert total(LLAMA, 10_000, batch=3, unified=True) == 30_208 * 131_072


# gpt-oss-120b: 18 full + 18 sliding (window 128) layers, 8 KV heads x 64: 2 x 1,024 B a cell.
def test_llama_server_defaults_gpt_oss() -> None:
    # llama-server: 4 slots, unified, n_ctx 131,072 (4 x 32,768). Full: 18 x 2,048 x 131,072;
    # sliding: PAD(min(131,072, 128 x 4 + 512), 256) = 1,024 cells (iswa L73).
    full = 18 * 2_048 * 131_072
    assert full == 4_831_838_208
    assert total(GPT_OSS, 32_768, batch=4, unified=True) == full + 18 * 2_048 * 1_024


def test_four_streams_gpt_oss() -> None:
    # -np 4 without -kvu: 4 streams of 32,768 cells; sliding PAD(min(32,768, 128 + 512), 256)
    # = 768 cells in each stream.
    assert total(GPT_OSS, 32_768, batch=4) == 4_831_838_208 + 4 * 18 * 2_048 * 768


# Gemma 3 27B: 10 full + 52 sliding (window 1,024) layers, 16 KV heads x 128: 8,192 B a cell.
def test_gemma3_sliding_cells() -> None:
    # One sequence of 32,768: sliding PAD(min(32,768, 1,024 + 512), 256) = 1,536 cells.
    assert total(GEMMA3, 32_768) == 10 * 8_192 * 32_768 + 52 * 8_192 * 1_536


def test_gemma3_unified_sliding_cells_grow_with_the_sequences() -> None:
    # 4 x 8,192 unified: n_ctx 32,768; sliding PAD(min(32,768, 1,024 x 4 + 512), 256) = 4,608.
    assert total(GEMMA3, 8_192, batch=4, unified=True) == (10 * 8_192 * 32_768 + 52 * 8_192 * 4_608)


def test_families_llama_cpp_does_not_window_hold_every_cell(tmp_path: Path) -> None:
    # Mistral 7B as v0.1 shipped it (sliding_window 4,096): the llama architecture sets no
    # swa_type, so every layer keeps all 16,384 cells: 32 x 2 x 2,048 B x 16,384.
    config = json.loads(
        (FIXTURE_CONFIGS / "derived/mistralai__Mistral-7B-Instruct-v0.2.finetune-resave.json")
        .read_text()
    )  # fmt: skip
    config["sliding_window"] = 4096
    path = tmp_path / "mistral-v0.1-like.json"
    path.write_text(json.dumps(config))
    assert total(path, 16_384) == 32 * 2 * 2_048 * 16_384


@pytest.mark.parametrize(
    ("dtype", "row"),
    [
        # f16: MLA K row 576 x 2 = 1,152 B plus an indexer key of 128 x 2 = 256 B.
        ("fp16", 1_152 + 256),
        # q8_0 (34 B per 32 values): 18 x 34 = 612 plus 4 x 34 = 136 B.
        ("q8_0", 612 + 136),
    ],
)
def test_deepseek_v32_indexer_keys(dtype: str, row: int) -> None:
    # llama_kv_cache_dsa: the MLA cache plus a K-only indexer cache in the K type, 61 layers,
    # n_ctx 163,840.
    assert total("deepseek-ai__DeepSeek-V3.2.json", 163_840, dtype=dtype) == 61 * row * 163_840


def test_glm5_indexer_on_every_layer() -> None:
    # GLM-5: n_ctx_train 202,752 < 1,048,576, so every layer's indexer is full (glm-dsa.cpp):
    # 78 layers x 1,408 B x 202,752 cells.
    assert total("zai-org__GLM-5.json", 202_752) == 22_267_035_648


def test_t5_caches_decoder_self_attention_only() -> None:
    # t5-small: 6 decoder layers, 8 heads x d_kv 64 -> rows of 512 f16: 6 x 2 x 1,024 B a cell,
    # 4,096 cells; cross-attention is recomputed from the encoder output (t5.cpp): 0 B.
    config = FIXTURE_CONFIGS / "derived/google-t5__t5-small.resaved.json"
    result = estimate(config, seq=4_096, dtype="fp16", engine="llama.cpp", enc_seq=512)
    assert result.total_bytes == 6 * 2 * 1_024 * 4_096
    assert [g.total_bytes for g in result.groups if g.group.kind.value == "cross"] == [0]


def test_nemotron_h_recurrent_rows_per_sequence() -> None:
    # Nemotron-H-56B, 2 sequences of 8,192: attention 10 layers x 2 x 2,048 B x 8,192 cells per
    # stream; 54 Mamba2 layers of f32 r = 3 x (16,384 + 2 x 8 x 256) and s = 256 x 16,384:
    # 54 x 4 x (61,440 + 4,194,304) = 919,240,704 B per sequence.
    attention = 10 * 2 * 2_048 * 8_192
    assert total("nvidia__Nemotron-H-56B-Base-8K.json", 8_192, batch=2) == 2 * (
        attention + 919_240_704
    )


def test_minimax_lightning_state(tmp_path: Path) -> None:
    # MiniMax-Text-01: every 8th layer attention (minimax-01.cpp), 10 x 2 x 2,048 B x 10,240
    # cells; 70 lightning layers of s = head_dim² x heads = 128 x 128 x 64 f32, no r.
    path = tmp_path / "minimax.json"
    path.write_text(json.dumps(copy.deepcopy(STATE_FAMILIES["minimax-text-01"][0])))
    assert total(path, 10_000) == 10 * 2 * 2_048 * 10_240 + 70 * 128 * 128 * 64 * 4


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("NbAiLab__nb-whisper-small-beta.json", "has no Whisper architecture"),
    ],
)
def test_what_llama_cpp_cannot_run_is_refused(config: str, message: str) -> None:
    with pytest.raises(UnsupportedConfigError, match=message):
        total(config, 2_048)


def test_assumptions_name_the_defaults() -> None:
    result = estimate(FIXTURE_CONFIGS / LLAMA, seq=4_096, dtype="fp16", engine="llama.cpp")
    assert any("kv_unified off" in line for line in result.assumptions)
