"""The presets' weights by dtype, as transformers 5.23.0 loads them (recorded in
presets/index.json by scripts/record_checkpoints.py), against figures from outside: the hub's
file totals (`checkpoint.bytes`, safetensors `metadata.total_size`) and its parameter counts
(`params`, the hub API's `safetensors.total`)."""

from __future__ import annotations

import json

from kvcalc.sources.presets import Preset, all_presets, find_preset
from kvcalc.sources.weights import DTYPE_BITS
from tests.helpers import run_kvcalc

# What the hub's files hold and transformers does not load, per preset, exactly. Llama 2's
# safetensors still carry every layer's rotary `inv_freq` (head_dim 128 / 2 = 64 float32
# values), saved when it was a persistent buffer; transformers 5.23 registers it with
# persistent=False (LlamaRotaryEmbedding), so no state dict has it. Llama-2-7b: 32 layers x 64
# x 4 B = 8,192 B = 13,476,839,424 (hub) - 2 x 6,738,415,616 (loaded, fp16).
FILE_ONLY_BYTES = {"llama-2-7b": 32 * 64 * 4}
# The same buffers in the hub's parameter counts: Llama-2-7b 6,738,417,664 - 6,738,415,616 =
# 2,048 = 32 x 64; Llama-2-70b 68,976,653,312 - 68,976,648,192 = 5,120 = 80 x 64.
FILE_ONLY_ELEMENTS = {"llama-2-7b": 32 * 64, "llama-2-70b": 80 * 64}


def loaded_bytes(preset: Preset) -> int:
    return sum(count * DTYPE_BITS[name] // 8 for name, count in preset.checkpoint_by_dtype)


def recorded() -> list[Preset]:
    return [preset for preset in all_presets() if preset.checkpoint_by_dtype]


def test_every_recorded_preset_names_its_method_and_known_dtypes() -> None:
    assert len(recorded()) >= 55
    for preset in recorded():
        assert {name for name, _ in preset.checkpoint_by_dtype} <= set(DTYPE_BITS), preset.name
        source = preset.checkpoint_by_dtype_source or ""
        assert "transformers 5.23.0" in source and "meta device" in source, preset.name


def test_loaded_bytes_equal_the_hubs_file_total() -> None:
    """Every preset with both figures: 14 agree to the byte; Llama-2-7b's files hold 8,192 B
    of rotary buffers more (FILE_ONLY_BYTES)."""
    compared = [p for p in recorded() if p.checkpoint_bytes is not None]
    assert len(compared) >= 14
    for preset in compared:
        assert preset.checkpoint_bytes is not None
        difference = preset.checkpoint_bytes - loaded_bytes(preset)
        assert difference == FILE_ONLY_BYTES.get(preset.name, 0), preset.name


def test_loaded_elements_equal_the_hubs_parameter_count() -> None:
    """Unquantized presets with an exact hub count: the elements loaded are that count, but
    for Llama 2's stored rotary buffers (FILE_ONLY_ELEMENTS)."""
    compared = [p for p in recorded()
                if p.params is not None and p.params_exact and not p.weights_note]  # fmt: skip
    assert len(compared) >= 26
    for preset in compared:
        assert preset.params is not None
        elements = sum(count for _, count in preset.checkpoint_by_dtype)
        assert preset.params - elements == FILE_ONLY_ELEMENTS.get(preset.name, 0), preset.name


def test_deepseek_v3_is_the_fp8_checkpoint_without_its_mtp_module() -> None:
    """DeepSeek-V3's 671,026,419,200 parameters are the checkpoint's tensors without the
    multi-token-prediction layer and without the fp32 block scales (index.json params_source).
    transformers loads exactly those as bf16 and fp8, plus fp32: the router's
    e_score_correction_bias (58 MoE layers x 256 experts, kept in fp32) and the scales."""
    preset = find_preset("deepseek-v3")
    assert preset is not None
    counts = dict(preset.checkpoint_by_dtype)
    router_bias = 58 * 256
    assert counts["BF16"] + counts["F8_E4M3"] + router_bias == 671_026_419_200
    assert counts["F32"] > router_bias  # the rest are weight_scale_inv


def fit_weights(*argv: str) -> dict[str, object]:
    result = run_kvcalc("fit", *argv, "--json")
    assert result.returncode in (0, 4), result.stderr
    weights = json.loads(result.stdout)["weights"]
    assert isinstance(weights, dict)
    return weights


def test_fit_prices_presets_from_the_loaded_figures() -> None:
    qwen = fit_weights("qwen3-8b", "--gpu", "l4")
    assert qwen["total_bytes"] == 16_381_470_720  # = the hub's total_size
    assert qwen["bytes_by_dtype"] == {"BF16": 16_381_470_720}
    assert "transformers 5.23.0" in str(qwen["basis"])
    deepseek = fit_weights("deepseek-v3", "--gpu", "h200", "--gpus", "8")
    # transformers' loaded counts (index.json) at 2, 4 and 1 bytes; bf16 and fp8 elements
    # plus the fp32 router biases are the hub's parameter count (see the test above).
    by_dtype = {"BF16": 3_921_590_272, "F32": 163_412_320, "F8_E4M3": 669_065_609_216}
    assert by_dtype["BF16"] // 2 + by_dtype["F8_E4M3"] + 58 * 256 == 671_026_419_200
    assert deepseek["bytes_by_dtype"] == by_dtype
    assert deepseek["total_bytes"] == sum(by_dtype.values()) == 673_150_611_808
    assert "FineGrainedFP8HfQuantizer" in str(deepseek["basis"])


def test_fit_notes_where_the_files_hold_more_than_a_loader() -> None:
    result = run_kvcalc("fit", "llama-2-7b", "--gpu", "h100", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["weights"]["total_bytes"] == 13_476_831_232
    assert "13,476,839,424" in result.stderr


def test_mxfp4_presets_keep_the_hubs_file_total() -> None:
    """transformers cannot build gpt-oss's stored MXFP4 layout on the meta device
    (docs/engines.md), so fit prices the hub's total_size."""
    weights = fit_weights("gpt-oss-20b", "--gpu", "h100")
    assert weights["total_bytes"] == 13_761_264_768
    assert "total_size" in str(weights["basis"])


def test_a_quantized_alias_is_not_sized_by_its_bf16_presets_checkpoint() -> None:
    """Offline, zai-org/GLM-5-FP8 takes the config of preset glm-5 (zai-org/GLM-5, bf16), whose
    1,487,822,475,264 B would be twice its fp8 weights: a wrong exit 4 on 8 x H200. It is
    refused (exit 1) with the option to pass instead; the preset's own repo is still sized."""
    refused = run_kvcalc("fit", "zai-org/GLM-5-FP8", "--gpu", "h200", "--gpus", "8")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "stored FP8" in refused.stderr and "--weights SIZE" in refused.stderr
    own = run_kvcalc("fit", "zai-org/GLM-5", "--gpu", "h200", "--gpus", "8", "--json")  # offline
    assert json.loads(own.stdout)["weights"]["total_bytes"] == 1_487_822_475_264
    preset = find_preset("glm-5")
    assert preset is not None and preset.shares_checkpoint("zai-org/GLM-5")
    assert not preset.shares_checkpoint("nvidia/GLM-5-NVFP4")
