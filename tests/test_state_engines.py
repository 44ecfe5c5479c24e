"""Engine rules for state-space, linear-attention and KV-sharing families (docs/engines.md).

Every expected figure is worked out by hand below from the rules of docs/engines.md (vLLM §1.3,
§1.5, §1.6; SGLang §2.2, §2.6; llama.cpp §3.2-§3.6; transformers §4.1, §4.4) at published dims,
not recomputed by kvcalc. Workload: one sequence of 10,000 tokens, 2-byte cache elements.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from kvcalc import estimate
from kvcalc.errors import UnsupportedConfigError
from tests.test_dialects import STATE_FAMILIES

SEQ = 10_000


def total(tmp_path: Path, name: str, engine: str) -> int:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(copy.deepcopy(STATE_FAMILIES[name][0])))
    dtype = "fp16" if engine == "llama.cpp" else "bf16"
    return estimate(path, seq=SEQ, dtype=dtype, engine=engine).total_bytes


# Falcon-H1-0.5B: 36 layers, each with attention (2 KV heads x 64: 512 B per token) and a Mamba2
# state (conv 1,792 channels, temporal 24 x 64 x 128).
FALCON_H1_STATE_FP32 = 24 * 64 * 128 * 4  # 786,432
EXPECTED = [
    # vLLM §1.5: attention page 512 B per token; Mamba page 3 x 1,792 x 2 + 24 x 64 x 128 x 2
    # = 403,968; block 16 x cdiv(403,968, 16 x 512) = 800, page 409,600; 36 layers x
    # cdiv(10,000, 800) = 13 blocks, plus one padded state block for each of 36 layers.
    ("falcon-h1-0.5b", "vllm", 36 * 13 * 409_600 + 36 * 409_600),
    # SGLang §2.6: 36 x 512 x 10,000 slots, plus 3 Mamba slots (extra_buffer: 1 working + 2
    # tracking): bf16 conv (3 taps), fp32 SSM.
    ("falcon-h1-0.5b", "sglang",
     36 * 512 * SEQ + 3 * 36 * (3 * 1792 * 2 + FALCON_H1_STATE_FP32)),
    # llama.cpp §3.6: 10,240 cells; r = 3 x (1,536 + 2 x 128), s = 128 x 1,536, both f32.
    ("falcon-h1-0.5b", "llama.cpp", 36 * 512 * 10_240 + 36 * (3 * 1792 + 128 * 1536) * 4),
    # transformers §4.4: the conv keeps all 4 taps in bf16; the SSM state is fp32.
    ("falcon-h1-0.5b", "transformers",
     36 * 512 * SEQ + 36 * (4 * 1792 * 2 + FALCON_H1_STATE_FP32)),
    # The default: kernel - 1 taps in the model dtype, fp32 state.
    ("falcon-h1-0.5b", "default", 36 * 512 * SEQ + 36 * (3 * 1792 * 2 + FALCON_H1_STATE_FP32)),
    # Pure Mamba under vLLM: one page of state per request, no alignment: conv (3, 1,536) and
    # temporal (1,536, 16), model dtype.
    ("mamba-130m", "vllm", 24 * (3 * 1536 + 1536 * 16) * 2),
    ("mamba-130m", "llama.cpp", 24 * (3 * 1536 + 16 * 1536) * 4),
    # Kimi Linear under vLLM: MLA page 576 x 2 = 1,152 B per token; KDA page 3 x 12,288 x 2 +
    # 32 x 128 x 128 x 4 (fp32 by default) = 2,170,880; MLA hybrids align to K = 128:
    # block 128 x cdiv(2,170,880, 128 x 1,152) = 1,920, page 2,211,840; 6 MLA layers x 6 blocks.
    ("kimi-linear-48b", "vllm", 6 * 6 * 2_211_840 + 21 * 2_211_840),
    # ... and llama.cpp: MLA K-only rows of 576 f16 on 10,240 cells; KDA r = 3 x 3 x 32 x 128,
    # s = 128² x 32, f32.
    ("kimi-linear-48b", "llama.cpp", 6 * 1152 * 10_240 + 21 * (3 * 3 * 4096 + 128 * 128 * 32) * 4),
    # LFM2-350M under vLLM: attention page 8 x 128 x 2 = 2,048 B per token; short-conv page
    # 2 x 1,024 x 2 = 4,096 fits one 16-token block (32,768 B, to which it is padded).
    ("lfm2-350m", "vllm", 6 * 625 * 32_768 + 10 * 32_768),
    # MiniMax-Text-01 under vLLM: attention 4,096 B per token; lightning page 64 x 128 x 128 x 2
    # = 2,097,152; block 16 x cdiv(2,097,152, 65,536) = 512, page 2,097,152 (no padding).
    ("minimax-text-01", "vllm", 10 * 20 * 2_097_152 + 70 * 2_097_152),
    # Gemma 3n E4B, llama.cpp §3.3/§3.5: 4 full layers on 10,240 cells, 16 sliding layers on
    # PAD(512 + 512, 256) = 1,024 cells, 2 x 512 f16 values per cell; 15 shared layers: nothing.
    ("gemma-3n-e4b", "llama.cpp", 4 * 2048 * 10_240 + 16 * 2048 * 1024),
    # ... transformers §4.1: sliding layers keep 511 tokens, KV-shared layers nothing.
    ("gemma-3n-e4b", "transformers", 4 * 2048 * SEQ + 16 * 2048 * 511),
]  # fmt: skip


@pytest.mark.parametrize(("name", "engine", "expected"), EXPECTED)
def test_engine_rules(tmp_path: Path, name: str, engine: str, expected: int) -> None:
    assert total(tmp_path, name, engine) == expected


@pytest.mark.parametrize(
    ("name", "engine", "message"),
    [
        ("jamba-v0.1", "sglang", "SGLang 0.5.23 does not run Jamba"),
        ("gemma-3n-e4b", "vllm", "KV-sharing layers"),
        ("mimo-v2-flash", "vllm", "different page sizes"),
        ("zamba2-2.7b", "llama.cpp", "has no Zamba2 architecture"),
        ("mamba-130m", "naive", "has no attention"),
    ],
)
def test_unmodelled_engine_rules_are_refused(
    tmp_path: Path, name: str, engine: str, message: str
) -> None:
    with pytest.raises(UnsupportedConfigError, match=message):
        total(tmp_path, name, engine)
