"""`--dtype auto` is what each engine caches in at its default, not the config's dtype as is.

- vLLM 0.33.0 `config/model.py` `_resolve_auto_dtype`: a float32 checkpoint runs in the
  platform's first supported dtype, bf16 on Ampere and later; the cache follows the model.
- SGLang 0.5.23 `srt/configs/model_config.py` `_get_and_verify_dtype`: float32 runs in fp16
  ("following the common practice"), in bf16 for the Gemma families.
- llama.cpp: `--cache-type-k/-v` default to f16 whatever the weights (`common/common.h`).
- transformers and the default formula keep the checkpoint's float32.

Llama-3.1-8B with its torch_dtype set to float32, 1,024 tokens: one token is
32 layers x 2 x 8 KV heads x 128 = 65,536 elements. In 4 bytes: 1,024 x 65,536 x 4 =
268,435,456 B. In 2 bytes: 134,217,728 B; vLLM holds cdiv(1,024 + 1, 16) = 65 blocks of 16
(the next token's slot is allocated), 1,040 x 65,536 x 2 = 136,314,880 B.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvcalc.planning.estimation import estimate
from tests.conftest import fixture_config


def float32_copy(tmp_path: Path, name: str) -> Path:
    config = fixture_config(name)
    config["torch_dtype"] = "float32"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("engine", "dtype", "total"),
    [
        ("default", "fp32", 268_435_456),
        ("transformers", "fp32", 268_435_456),
        ("vllm", "bf16", 136_314_880),
        ("sglang", "fp16", 134_217_728),
        ("llama.cpp", "fp16", 134_217_728),
    ],
)
def test_a_float32_checkpoint_is_cached_as_each_engine_runs_it(
    tmp_path: Path, engine: str, dtype: str, total: int
) -> None:
    result = estimate(float32_copy(tmp_path, "meta-llama__Meta-Llama-3.1-8B.json"), seq=1024,
                      engine=engine)  # fmt: skip
    assert (result.dtype.name, result.total_bytes) == (dtype, total)
    if dtype != "fp32":
        assert any(engine in note and "auto" in note for note in result.notes), result.notes


def test_sglang_runs_a_float32_gemma_in_bf16(tmp_path: Path) -> None:
    result = estimate(float32_copy(tmp_path, "google__gemma-2-9b-it.json"), seq=1024,
                      engine="sglang")  # fmt: skip
    assert result.dtype.name == "bf16"


def test_an_explicit_dtype_is_kept_by_every_engine(tmp_path: Path) -> None:
    path = float32_copy(tmp_path, "meta-llama__Meta-Llama-3.1-8B.json")
    for engine in ("vllm", "llama.cpp", "transformers"):
        assert estimate(path, seq=1024, engine=engine, dtype="fp32").dtype.name == "fp32"
