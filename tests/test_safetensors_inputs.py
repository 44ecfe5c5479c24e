"""Checkpoint files as inputs: a safetensors file or index reads the config.json beside it, and
`--dtype auto` takes a checkpoint's own KV-cache quantization as vLLM does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import kvcalc
from kvcalc.errors import ModelNotFoundError
from tests.helpers import FIXTURE_CONFIGS, run_kvcalc
from tests.hubserver import build_safetensors

LLAMA = FIXTURE_CONFIGS / "meta-llama__Llama-3.1-8B-Instruct.json"
TENSORS = {"model.embed_tokens.weight": ("BF16", [1000, 256])}


def checkpoint(tmp_path: Path, config: Path | None = LLAMA) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    if config is not None:
        shutil.copy(config, folder / "config.json")
    (folder / "model-00001-of-00001.safetensors").write_bytes(build_safetensors(TENSORS).to_bytes())
    index = {"weight_map": {"model.embed_tokens.weight": "model-00001-of-00001.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


@pytest.mark.parametrize(
    "name", ["model-00001-of-00001.safetensors", "model.safetensors.index.json"]
)
def test_a_weights_file_reads_the_config_beside_it(tmp_path: Path, name: str) -> None:
    folder = checkpoint(tmp_path)
    found = kvcalc.estimate(folder / name, seq="8k")
    assert found.total_bytes == kvcalc.estimate(LLAMA, seq="8k").total_bytes == 1024**3
    assert found.source.location == str(folder / "config.json")
    result = run_kvcalc("fit", str(folder / name), "--gpu-memory", "80GiB", "--seq", "1k", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["weights"]["total_bytes"] == 1000 * 256 * 2


def test_a_weights_file_without_a_config_says_so(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path, config=None)
    with pytest.raises(ModelNotFoundError, match=r"reads the config\.json beside it"):
        kvcalc.load_model(folder / "model-00001-of-00001.safetensors")
    result = run_kvcalc("estimate", str(folder / "model.safetensors.index.json"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "has none" in result.stderr
    assert "UTF-8" not in result.stderr


# kv_cache_scheme as llm-compressor writes it (e.g. RedHatAI's *-FP8-KV checkpoints), and
# ModelOpt's quantization_config in config.json.
COMPRESSED_TENSORS = {
    "quant_method": "compressed-tensors",
    "kv_cache_scheme": {"num_bits": 8, "type": "float", "strategy": "tensor", "dynamic": False,
                        "symmetric": True},
}  # fmt: skip
MODELOPT = {"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}


def quantized(tmp_path: Path, quantization: dict[str, Any]) -> Path:
    config = {**json.loads(LLAMA.read_text()), "quantization_config": quantization}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("quantization", [COMPRESSED_TENSORS, MODELOPT])
def test_auto_takes_the_checkpoint_kv_cache_dtype(
    tmp_path: Path, quantization: dict[str, Any]
) -> None:
    path = quantized(tmp_path, quantization)
    auto = kvcalc.estimate(path, seq="8k")
    assert auto.dtype.name == "fp8" and auto.total_bytes == 1024**3 // 2
    assert any("quantization_config asks for a fp8 KV cache" in note for note in auto.notes)
    explicit = kvcalc.estimate(path, seq="8k", dtype="bf16")
    assert explicit.total_bytes == 1024**3 and not any(
        "quantization_config" in n for n in explicit.notes
    )


@pytest.mark.parametrize(
    "quantization",
    [
        {"quant_method": "fp8", "activation_scheme": "dynamic"},  # weights only
        {"quant_method": "compressed-tensors", "kv_cache_scheme": None},
        {"quant_method": "modelopt", "kv_cache_quant_algo": "NVFP4"},  # not a dtype kvcalc sizes
    ],
)
def test_weight_only_or_unknown_schemes_keep_the_model_dtype(
    tmp_path: Path, quantization: dict[str, Any]
) -> None:
    assert kvcalc.estimate(quantized(tmp_path, quantization), seq="8k").dtype.name == "bf16"
