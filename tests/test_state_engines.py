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
from kvcalc.engines import Deployment
from kvcalc.errors import UnsupportedConfigError
from tests.test_dialects import STATE_FAMILIES

SEQ = 10_000


def total(tmp_path: Path, name: str, engine: str, prefix_caching: bool | None = None) -> int:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(copy.deepcopy(STATE_FAMILIES[name][0])))
    dtype = "fp16" if engine == "llama.cpp" else "bf16"
    deployment = Deployment(prefix_caching=prefix_caching)
    return estimate(path, seq=SEQ, dtype=dtype, engine=engine, deployment=deployment).total_bytes


# Falcon-H1-0.5B: 36 layers, each with attention (2 KV heads x 64: 512 B per token) and a Mamba2
# state (conv 1,792 channels, temporal 24 x 64 x 128).
FALCON_H1_STATE_FP32 = 24 * 64 * 128 * 4  # 786,432
EXPECTED = [
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
    ("mamba-130m", "llama.cpp", 24 * (3 * 1536 + 16 * 1536) * 4),
    # ... and llama.cpp: MLA K-only rows of 576 f16 on 10,240 cells; KDA r = 3 x 3 x 32 x 128,
    # s = 128² x 32, f32.
    ("kimi-linear-48b", "llama.cpp", 6 * 1152 * 10_240 + 21 * (3 * 3 * 4096 + 128 * 128 * 32) * 4),
    # Gemma 3n E4B, llama.cpp §3.3/§3.5: 4 full layers on 10,240 cells, 16 sliding layers on
    # PAD(512 + 512, 256) = 1,024 cells, 2 x 512 f16 values per cell; 15 shared layers: nothing.
    ("gemma-3n-e4b", "llama.cpp", 4 * 2048 * 10_240 + 16 * 2048 * 1024),
    # ... transformers §4.1: sliding layers keep 511 tokens, KV-shared layers nothing.
    ("gemma-3n-e4b", "transformers", 4 * 2048 * SEQ + 16 * 2048 * 511),
]  # fmt: skip


@pytest.mark.parametrize(("name", "engine", "expected"), EXPECTED)
def test_engine_rules(tmp_path: Path, name: str, engine: str, expected: int) -> None:
    assert total(tmp_path, name, engine) == expected


# vLLM §1 (10,000 tokens, async scheduling: attention layers hold cdiv(10,001, B) blocks). A
# block id costs `group_size` layer slots of the largest page; Mamba-type groups hold 1 state
# block without prefix caching (mamba_cache_mode none) and 2 with it (align, the default).
VLLM = [
    # Falcon-H1: attention page 512 B per token; Mamba page 3 x 1,792 x 2 + 24 x 64 x 128 x 2
    # = 403,968; block 16 x cdiv(403,968, 16 x 512) = 800, page 409,600; every layer holds
    # attention and state: groups of 36, 13 attention blocks + 1 or 2 state blocks.
    ("falcon-h1-0.5b", False, (13 + 1) * 36 * 409_600),
    ("falcon-h1-0.5b", True, (13 + 2) * 36 * 409_600),
    # Pure Mamba: one page of state per request; prefix caching is off for attention-free
    # models (`is_prefix_caching_supported`): conv (3, 1,536) and temporal (1,536, 16), bf16.
    ("mamba-130m", None, 24 * (3 * 1536 + 1536 * 16) * 2),
    # Kimi Linear: MLA page 1,152 B per token; KDA page 3 x 12,288 x 2 + 32 x 128² x 4 (fp32)
    # = 2,170,880; MLA hybrids align to K = 128: block 1,920, page 2,211,840. 6 MLA and 21 KDA
    # layers: groups of 6 (1 MLA, cdiv(21, 6) = 4 KDA); 6 MLA blocks + 4 x 1 or 4 x 2.
    ("kimi-linear-48b", False, (6 + 4) * 6 * 2_211_840),
    ("kimi-linear-48b", True, (6 + 8) * 6 * 2_211_840),
    # LFM2-350M: attention page 2,048 B per token, block 16 (page 32,768); the short-conv page
    # 4,096 is padded to it. 6 attention and 10 conv layers: groups of 6 (1 + 2); 626 blocks.
    ("lfm2-350m", False, (626 + 2) * 6 * 32_768),
    ("lfm2-350m", True, (626 + 4) * 6 * 32_768),
    # MiniMax-Text-01: attention 4,096 B per token; lightning page 64 x 128² x 2 = 2,097,152;
    # block 16 x cdiv(2,097,152, 65,536) = 512; 10 attention and 70 lightning layers: groups of
    # 10 (1 + 7); cdiv(10,001, 512) = 20 blocks.
    ("minimax-text-01", False, (20 + 7) * 10 * 2_097_152),
    ("minimax-text-01", True, (20 + 14) * 10 * 2_097_152),
    # Gemma 3n E4B: KV-sharing layers get no cache spec (`attn_utils.py`); 4 full and 16
    # sliding layers (window 512) of 2,048 B per token: groups of 4 (1 full, 4 sliding);
    # sliding blocks 626 - (10,000 - 512) // 16 = 33.
    ("gemma-3n-e4b", None, (626 + 4 * 33) * 4 * 16 * 2_048),
]  # fmt: skip


@pytest.mark.parametrize(("name", "prefix_caching", "expected"), VLLM)
def test_vllm_state_rules(
    tmp_path: Path, name: str, prefix_caching: bool | None, expected: int
) -> None:
    assert total(tmp_path, name, "vllm", prefix_caching) == expected


@pytest.mark.parametrize(
    ("name", "engine", "message"),
    [
        ("jamba-v0.1", "sglang", "SGLang 0.5.23 does not run Jamba"),
        ("zamba2-2.7b", "llama.cpp", "has no Zamba2 architecture"),
        ("mamba-130m", "naive", "has no attention"),
    ],
)
def test_unmodelled_engine_rules_are_refused(
    tmp_path: Path, name: str, engine: str, message: str
) -> None:
    with pytest.raises(UnsupportedConfigError, match=message):
        total(tmp_path, name, engine)
