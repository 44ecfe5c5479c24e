"""The public Python API, as documented in the README."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kvcalc
from kvcalc import AttentionKind, KvcalcError, estimate, load_model


def test_public_names() -> None:
    assert set(kvcalc.__all__) == {
        "Architecture", "Attention", "AttentionKind", "Estimate", "KvcalcError", "LayerGroup",
        "LayerKind", "estimate", "load_model",
    }  # fmt: skip


def test_readme_example() -> None:
    result = estimate("llama-3-8b", seq=8192, batch=1, dtype="bf16")
    assert result.total_bytes == 1_073_741_824
    assert result.bytes_per_token == 131_072
    assert result.architecture.attention.kind is AttentionKind.GQA


def test_loaded_model_is_reused(tmp_path: Path) -> None:
    config = {"model_type": "llama", "num_hidden_layers": 4, "num_attention_heads": 8,
              "num_key_value_heads": 8, "hidden_size": 512}  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    model = load_model(path)
    sizes = [estimate(model, seq=seq, dtype="fp8").total_bytes for seq in (1, 2, "1k")]
    # 4 layers x 2 (K, V) x 8 KV heads x 64 dims x 1 byte per token
    assert sizes == [4096, 8192, 4096 * 1024]


def test_errors_carry_exit_codes() -> None:
    with pytest.raises(KvcalcError) as caught:
        estimate("llama-3-8b", seq=0)
    assert caught.value.exit_code == 1
