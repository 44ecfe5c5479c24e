"""Weight bytes from safetensors headers (local folder, hub) and from parameter counts."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from kvcalc.errors import ConfigError, InputError
from kvcalc.sources.presets import all_presets
from kvcalc.sources.weights import local_weights, parse_params, read_header
from tests.helpers import ROOT, run_kvcalc
from tests.hubserver import HubContext, build_safetensors

pytest_plugins = ["tests.conftest_hub"]

CONFIG = ROOT / "presets" / "meta-llama__Llama-3.2-1B-Instruct.json"

# An fp8 checkpoint as DeepSeek stores it: fp8 weights, one fp32 scale per 128 x 128 block,
# a bf16 embedding and norm. Stored bytes: 256*512*1 + 2*4*4 + 1000*256*2 + 256*2.
FP8_TENSORS = {
    "model.embed_tokens.weight": ("BF16", [1000, 256]),
    "model.layers.0.mlp.up_proj.weight": ("F8_E4M3", [512, 256]),
    "model.layers.0.mlp.up_proj.weight_scale_inv": ("F32", [4, 2]),
    "model.norm.weight": ("BF16", [256]),
}
FP8_BYTES = 512 * 256 + 4 * 2 * 4 + 1000 * 256 * 2 + 256 * 2
# GPTQ int4 as stored: eight 4-bit values packed per int32, fp16 scales per group of 128.
GPTQ_TENSORS = {
    "model.layers.0.mlp.up_proj.qweight": ("I32", [256 // 8, 512]),
    "model.layers.0.mlp.up_proj.qzeros": ("I32", [256 // 128, 512 // 8]),
    "model.layers.0.mlp.up_proj.scales": ("F16", [256 // 128, 512]),
    "model.layers.0.mlp.up_proj.g_idx": ("I32", [256]),
}
GPTQ_BYTES = 32 * 512 * 4 + 2 * 64 * 4 + 2 * 512 * 2 + 256 * 4
# MXFP4 as gpt-oss stores its experts: 4-bit values packed two per byte in blocks of 32
# (16 bytes), one uint8 E8M0 scale per block; bf16 router and biases.
MXFP4_TENSORS = {
    "model.layers.0.mlp.experts.gate_up_proj_blocks": ("U8", [4, 512, 8, 16]),
    "model.layers.0.mlp.experts.gate_up_proj_scales": ("U8", [4, 512, 8]),
    "model.layers.0.mlp.experts.gate_up_proj_bias": ("BF16", [4, 512]),
    "model.layers.0.mlp.router.weight": ("BF16", [4, 256]),
}
MXFP4_BYTES = 4 * 512 * 8 * 16 + 4 * 512 * 8 + 4 * 512 * 2 + 4 * 256 * 2


def model_folder(tmp_path: Path, files: dict[str, dict[str, tuple[str, list[int]]]]) -> Path:
    """A model folder: a real config.json and safetensors files with real headers."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(CONFIG, folder / "config.json")
    for name, tensors in files.items():
        (folder / name).write_bytes(build_safetensors(tensors).to_bytes())
    return folder


def fit_json(*args: str, env: dict[str, str] | None = None, hub: HubContext | None = None) -> dict:
    argv = ("fit", *args, "--gpu-memory", "80GiB", "--seq", "1k", "--json")
    result = hub.kvcalc(*argv, env=env) if hub else run_kvcalc(*argv, env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_safetensors_package_file_counts_elements_times_dtype_size(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    save_file = pytest.importorskip("safetensors.numpy").save_file
    folder = model_folder(tmp_path, {})
    arrays = {"a": np.zeros((4, 8), np.float16), "b": np.zeros(3, np.int32),
              "c": np.zeros((), np.float32)}  # fmt: skip
    save_file(arrays, str(folder / "model.safetensors"))
    weights = local_weights(folder)
    assert weights is not None
    assert (weights.total_bytes, weights.params) == (32 * 2 + 3 * 4 + 4, 32 + 3 + 1)
    assert dict(weights.bytes_by_dtype) == {"F16": 64, "I32": 12, "F32": 4}


def test_fp8_and_packed_int4_count_their_stored_bytes(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, {"a.safetensors": FP8_TENSORS, "b.safetensors": GPTQ_TENSORS})
    weights = local_weights(folder)
    assert weights is not None and weights.dtype is None
    assert weights.total_bytes == FP8_BYTES + GPTQ_BYTES
    data = fit_json(str(folder))
    assert data["weights"]["source"] == "safetensors"
    assert data["weights"]["total_bytes"] == FP8_BYTES + GPTQ_BYTES
    assert data["weights"]["bytes_by_dtype"]["F8_E4M3"] == 512 * 256


def test_mxfp4_fp8_and_gptq_weights_are_the_sum_of_tensor_bytes(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, {"model-00001-of-00003.safetensors": MXFP4_TENSORS,
                                     "model-00002-of-00003.safetensors": FP8_TENSORS,
                                     "model-00003-of-00003.safetensors": GPTQ_TENSORS})  # fmt: skip
    data = fit_json(str(folder))
    assert data["weights"]["total_bytes"] == MXFP4_BYTES + FP8_BYTES + GPTQ_BYTES
    assert data["weights"]["bytes_by_dtype"]["U8"] == 4 * 512 * 8 * 16 + 4 * 512 * 8


def test_sharded_folder_reads_the_shards_its_index_names(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, {"model-00001-of-00002.safetensors": FP8_TENSORS,
                                     "model-00002-of-00002.safetensors": GPTQ_TENSORS,
                                     "stray-copy.safetensors": FP8_TENSORS})  # fmt: skip
    index = {
        "weight_map": {
            **dict.fromkeys(FP8_TENSORS, "model-00001-of-00002.safetensors"),
            **dict.fromkeys(GPTQ_TENSORS, "model-00002-of-00002.safetensors"),
        }
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))  # fmt: skip
    weights = local_weights(folder)
    assert weights is not None and weights.total_bytes == FP8_BYTES + GPTQ_BYTES


def test_weights_dtype_prices_the_stored_elements(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, {"model.safetensors": FP8_TENSORS})
    elements = 1000 * 256 + 512 * 256 + 8 + 256
    data = fit_json(str(folder), "--weights-dtype", "bf16")
    assert data["weights"]["params"] == elements
    assert data["weights"]["total_bytes"] == 2 * elements
    assert data["weights"]["dtype"] == "bf16"


def test_params_option_uses_the_config_dtype(tmp_path: Path) -> None:
    data = fit_json("llama-3.2-1b", "--params", "1.5B")
    assert data["weights"]["total_bytes"] == 3_000_000_000  # bf16 from the config
    assert parse_params("8_030_261_248") == 8_030_261_248
    assert parse_params("70B") == 70_000_000_000
    for bad in ("1.2345678901B", "0", "abc", "-5"):
        with pytest.raises(InputError):
            parse_params(bad)


def test_preset_weights_are_params_times_the_config_dtype() -> None:
    # chatglm2-6b needs remote code, so no loaded figures are recorded: its count x fp16.
    weights = fit_json("chatglm2-6b")["weights"]
    assert "when the model loads" in weights.pop("basis")
    assert weights == {
        "source": "preset", "location": "chatglm2-6b", "params": 6_243_584_000, "dtype": "fp16",
        "bytes_by_dtype": {}, "total_bytes": 12_487_168_000, "bytes_per_gpu": 12_487_168_000,
    }  # fmt: skip


def test_every_preset_has_exact_weights_or_fit_asks_for_them() -> None:
    for preset in all_presets():
        if preset.checkpoint_bytes or preset.checkpoint_by_dtype:
            assert preset.checkpoint_source or not preset.checkpoint_bytes, preset.name
            assert preset.checkpoint_by_dtype_source or not preset.checkpoint_by_dtype, preset.name
        elif preset.params is not None and not preset.weights_note:
            assert preset.params_source, preset.name
    bare = next(p for p in all_presets() if p.params is None and not p.checkpoint_bytes
                and not p.checkpoint_by_dtype)  # fmt: skip
    refused = run_kvcalc("fit", bare.name, "--gpu", "h100", "--gpus", "1")
    assert refused.returncode == 1 and "--weights SIZE" in refused.stderr


def test_malformed_headers_are_one_line_errors(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, {})
    file = folder / "model.safetensors"
    file.write_bytes(struct.pack("<Q", 1000) + b'{"a": 1}')  # shorter than announced
    with pytest.raises(ConfigError, match="truncated"):
        read_header(file)
    lying = {"a": {"dtype": "F16", "shape": [4], "data_offsets": [0, 4]}}  # 4 F16 need 8 bytes
    encoded = json.dumps(lying).encode()
    file.write_bytes(struct.pack("<Q", len(encoded)) + encoded + bytes(4))
    result = run_kvcalc("fit", str(folder), "--gpu", "h100")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("kvcalc: error: ") and result.stderr.count("\n") == 1
    assert "contradict" in result.stderr


def test_folder_without_weights_asks_for_params(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, {})
    result = run_kvcalc("fit", str(folder), "--gpu", "h100")
    assert result.returncode == 1
    assert "--params" in result.stderr and result.stderr.count("\n") == 1


REPO = "test-org/tiny-llama"


@pytest.mark.parametrize("shards", [1, 3])
def test_hub_weights_from_safetensors_metadata(hub: HubContext, shards: int) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG.read_bytes()})
    tensors = {**FP8_TENSORS, **GPTQ_TENSORS}
    layout = hub.server.add_safetensors(REPO, tensors, shards=shards)
    data = fit_json(REPO, hub=hub)
    assert data["weights"]["source"] == "hub"
    assert data["weights"]["total_bytes"] == layout.total_size == FP8_BYTES + GPTQ_BYTES
    assert data["weights"]["params"] == layout.total_parameters
    reads = [r for r in hub.server.requests_for(filename="*.safetensors") if r.method == "GET"]
    assert len(reads) >= shards  # one header read per file, never a whole file
    assert all(r.range and r.body_bytes_sent <= 100_001 for r in reads)  # the client reads 100 kB


def test_hub_repo_without_safetensors(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG.read_bytes(), "pytorch_model.bin": b"0"})
    result = hub.kvcalc("fit", REPO, "--gpu", "h100")
    assert result.returncode == 1, result.stderr
    assert "no model.safetensors" in result.stderr and result.stderr.count("\n") == 1


def test_offline_hub_id_of_a_preset_uses_the_bundled_count(hub: HubContext) -> None:
    env = hub.env_with(HF_HUB_OFFLINE="1")
    data = fit_json("meta-llama/Llama-3.2-1B-Instruct", env=env, hub=hub)
    assert data["weights"]["source"] == "preset"
    assert data["weights"]["total_bytes"] == 2 * 1_235_814_400


def test_a_fifo_safetensors_is_refused_not_read(tmp_path: Path) -> None:
    import os

    folder = model_folder(tmp_path, {})
    os.mkfifo(folder / "model.safetensors")
    result = run_kvcalc("fit", str(folder), "--gpu", "h100", "--gpus", "1", "--seq", "1k",
                        timeout=20)  # fmt: skip
    assert result.returncode == 1 and "not a regular file" in result.stderr
