"""Records each preset's weights, element count per dtype, as transformers builds the model.

A maintainer script, not part of the package: it needs torch and transformers (the
`conformance` extra) and, for compressed-tensors checkpoints, `compressed-tensors`. Run from the
repository root:

    python scripts/record_checkpoints.py              # every preset
    python scripts/record_checkpoints.py qwen3-8b     # some presets
    python scripts/record_checkpoints.py --dry-run    # report only, leave index.json alone

For each preset it builds the class named by the config's `architectures` from the bundled
config, on the meta device (no memory, no weights), in the config's dtype. A checkpoint stored
quantized (`quantization_config`) goes through transformers' own quantizer as
`from_pretrained` does for a pre-quantized checkpoint (`preprocess_model`), so fp8 weights and
their fp32 block scales are the modules transformers would load them into. It then counts the
state dict's elements by dtype, each tensor once (tied embeddings are one tensor, as safetensors
stores them; non-persistent buffers are not in a state dict), with the dtype transformers loads
each tensor in (its `_keep_in_fp32_modules` plan). The counts go to
`checkpoint.parameters_by_dtype` in presets/index.json, keyed by safetensors dtype names, with
`checkpoint.parameters_by_dtype_source` naming the method and versions. A recorded hub total
(`checkpoint.bytes`) is kept; tests/test_checkpoints.py compares the two.

A preset is left out, with the reason printed, when transformers does not know its
`model_type` (no remote code here), when its checkpoint's quantization is not in the bundled
config, when transformers' quantizer cannot build the stored layout on the meta device, or
when building takes longer than the time limit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "presets" / "index.json"
TIME_LIMIT_SECONDS = 180

# torch dtype name -> safetensors dtype name (the keys of kvcalc.sources.weights.DTYPE_BITS).
SAFETENSORS_DTYPES = {
    "torch.bool": "BOOL", "torch.uint8": "U8", "torch.int8": "I8",
    "torch.float8_e4m3fn": "F8_E4M3", "torch.float8_e5m2": "F8_E5M2",
    "torch.float8_e8m0fnu": "F8_E8M0", "torch.int16": "I16", "torch.float16": "F16",
    "torch.bfloat16": "BF16", "torch.int32": "I32", "torch.float32": "F32",
    "torch.int64": "I64", "torch.float64": "F64",
}  # fmt: skip

# Quantized checkpoints whose quantization lives outside config.json (ModelOpt's
# hf_quant_config.json): the bundled config describes the unquantized model.
QUANTIZED_REPO_SUFFIX = re.compile(r"-(FP8|NVFP4|FP4|MXFP4|INT4|INT8|AWQ|GPTQ)$", re.IGNORECASE)

# Quantizers whose loaded layout is not the stored one, or that need something absent here.
UNSUPPORTED_QUANT_METHODS = {
    "mxfp4": (
        "transformers' Mxfp4HfQuantizer fetches its triton kernels from the hub at "
        "replace_with_mxfp4_linear and then holds the blocks as one uint8 tensor with the "
        "scales inside a kernel precision config and fp32 biases, not the stored "
        "*_blocks/*_scales/bf16-bias tensors; on CPU it dequantizes to bf16"
    ),
}


class Skipped(Exception):
    """A preset whose weights this script does not record, and why."""


@dataclass(frozen=True)
class Measured:
    elements_by_dtype: dict[str, int]
    tensors: int
    method: str
    seconds: float


def _load_config(raw: dict[str, Any]) -> Any:
    from transformers import CONFIG_MAPPING, AutoConfig

    model_type = raw.get("model_type")
    if model_type not in CONFIG_MAPPING:
        raise Skipped(f"transformers does not know model_type {model_type!r} (needs remote code)")
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config.json").write_text(json.dumps(raw), encoding="utf-8")
        return AutoConfig.from_pretrained(folder)


def _model_class(config: Any) -> Any:
    """The class `architectures` names; else the auto class transformers maps the config to
    (image-text-to-text for a multimodal checkpoint, causal LM otherwise)."""
    import transformers
    from transformers.models.auto import modeling_auto

    names = getattr(config, "architectures", None) or []
    for name in names:
        found = getattr(transformers, name, None)
        if found is not None:
            return found
    for mapping in (modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING,
                    modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING):  # fmt: skip
        if type(config) in mapping:
            return mapping[type(config)]
    raise Skipped(f"transformers has no class named in architectures {names}")


def _dtype(config: Any) -> tuple[Any, str]:
    import torch

    for where, holder in (("config", config), ("text_config", config.get_text_config())):
        value = getattr(holder, "dtype", None)
        if value is not None:
            chosen = getattr(torch, value) if isinstance(value, str) else value
            return chosen, f"dtype {str(chosen).removeprefix('torch.')} from the {where}"
    # A quantized checkpoint stores its unquantized tensors (embeddings, norms, router) in
    # bf16; the configs that omit dtype (gpt-oss, MiniMax-M2.5) are such checkpoints.
    if _quantization(config) is not None:
        return torch.bfloat16, "dtype bfloat16 (the config names none)"
    raise Skipped("the config names no dtype, so the stored dtype is unknown")


def _quantization(config: Any) -> Any:
    """The config's quantization, looked up as transformers' get_hf_quantizer does."""
    return getattr(config, "quantization_config", None) or getattr(
        config.get_text_config(decoder=True), "quantization_config", None)  # fmt: skip


def _quantizer(config: Any) -> Any:
    quantization = _quantization(config)
    if quantization is None:
        return None
    from transformers.quantizers.auto import AutoHfQuantizer

    method = quantization.get("quant_method") if isinstance(quantization, dict) else getattr(
        quantization, "quant_method", None)  # fmt: skip
    method = str(getattr(method, "value", method))
    if method in UNSUPPORTED_QUANT_METHODS:
        raise Skipped(f"quant_method {method}: {UNSUPPORTED_QUANT_METHODS[method]}")
    try:
        quantizer = AutoHfQuantizer.from_config(quantization, pre_quantized=True)
    except (ImportError, ValueError) as error:
        raise Skipped(f"quant_method {method}: {str(error).splitlines()[0]}") from error
    # accelerate, which it may ask for, places weights on devices: building on meta needs none.
    with contextlib.suppress(ImportError):
        quantizer.validate_environment(device_map=None)
    # Without a GPU, validate_environment turns a pre-quantized fp8 checkpoint into a dequantized
    # bf16 model; on the GPUs kvcalc plans for, the weights stay quantized as stored.
    if getattr(quantizer.quantization_config, "dequantize", False):
        quantizer.quantization_config.dequantize = False
    return quantizer


def _held_dtypes(model: Any, dtype: Any) -> Callable[[str, Any], str]:
    """The dtype each state-dict entry is loaded in: its meta dtype, or fp32 where the model's
    keep-in-fp32 plan names it (transformers core_model_loading, dtype_plan)."""
    from transformers.core_model_loading import build_glob_alternation

    plan = model._get_dtype_plan(dtype)
    pattern = build_glob_alternation(list(plan))[0] if plan else None

    def held(name: str, tensor: Any) -> str:
        if pattern is not None and pattern.search(name):
            return "F32"
        return SAFETENSORS_DTYPES[str(tensor.dtype)]

    return held


def _check_quantized(model: Any) -> None:
    """A quantized checkpoint stores most of its elements quantized; if the quantizer left most
    in a float dtype, it did not reach the model's bulk (e.g. fused MoE experts that a
    Linear-only scheme does not match), and the count would be the unquantized model's."""
    import torch

    floats = (torch.bfloat16, torch.float16, torch.float32)
    total = sum(tensor.numel() for tensor in model.state_dict().values())
    unquantized = sum(t.numel() for t in model.state_dict().values() if t.dtype in floats)
    if 2 * unquantized > total:
        raise Skipped(
            f"the quantizer left {unquantized:,} of {total:,} elements unquantized on the meta "
            "model, so the stored layout is not what transformers builds here"
        )


def measure(raw: dict[str, Any]) -> Measured:
    """The model of config `raw` on the meta device: elements of its state dict by dtype."""
    import torch
    import transformers
    from transformers.initialization import no_init_weights

    start = time.monotonic()
    config = _load_config(raw)
    cls = _model_class(config)
    dtype, dtype_note = _dtype(config)
    quantizer = _quantizer(config)
    with torch.device("meta"), no_init_weights():
        model = cls._from_config(config, dtype=dtype)
        if quantizer is not None:
            quantizer.preprocess_model(model=model, dtype=dtype, device_map=None,
                                       checkpoint_files=None, use_kernels=False)  # fmt: skip
        model.tie_weights()  # as from_pretrained does once the weights are in
    if quantizer is not None:
        _check_quantized(model)
    held = _held_dtypes(model, dtype)
    unique: dict[int, tuple[str, Any]] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        unique.setdefault(id(tensor), (name, tensor))
    counts: dict[str, int] = {}
    for name, tensor in unique.values():
        key = held(name, tensor)
        counts[key] = counts.get(key, 0) + tensor.numel()
    quantized = (
        f" + {type(quantizer).__name__}.preprocess_model (pre-quantized)" if quantizer else ""
    )
    method = (
        f"transformers {transformers.__version__} (torch {torch.__version__}): "
        f"{cls.__name__}._from_config(bundled config, {dtype_note}) on the meta device"
        f"{quantized}; state-dict elements by dtype, each tensor once (tied weights stored "
        "once), non-persistent buffers excluded, keep-in-fp32 modules as fp32; counts the "
        "tensors transformers loads, not the files: layers it drops (multi-token prediction) "
        "are not counted"
    )
    return Measured(dict(sorted(counts.items())), len(unique), method, time.monotonic() - start)


def _child(raw: dict[str, Any], pipe: Connection) -> None:
    try:
        pipe.send(measure(raw))
    except Skipped as skipped:
        pipe.send(skipped)
    except Exception as error:  # reported, not raised: one preset never stops the others
        pipe.send(Skipped(f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"))


def measure_in_child(raw: dict[str, Any], limit: float) -> Measured | Skipped:
    """`measure` in a forked process, given up after `limit` seconds."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(raw, send))
    process.start()
    send.close()
    if receive.poll(limit):
        result: Measured | Skipped = receive.recv()
        process.join()
        return result
    process.kill()
    process.join()
    return Skipped(f"building took longer than {limit:.0f} s")


def _not_in_config(row: dict[str, Any], raw: dict[str, Any]) -> str | None:
    repo = str(row["hub_id"]).rsplit("/", 1)[-1]
    if QUANTIZED_REPO_SUFFIX.search(repo) and "quantization_config" not in raw:
        return (
            f"{row['hub_id']} is a quantized checkpoint whose quantization is not in the bundled "
            "config (hf_quant_config.json), so the config describes other weights"
        )
    return None


def record(names: list[str], dry_run: bool, limit: float) -> int:
    import torch  # imported before forking, so each child starts with it loaded
    import transformers  # noqa: F401

    del torch
    index = json.loads(INDEX.read_text(encoding="utf-8"))
    results: dict[str, Measured] = {}
    for row in index["presets"]:
        if names and row["name"] not in names:
            continue
        raw = json.loads((INDEX.parent / row["file"]).read_text(encoding="utf-8"))
        reason = _not_in_config(row, raw)
        result = Skipped(reason) if reason else measure_in_child(raw, limit)
        if isinstance(result, Skipped):
            print(f"{row['name']}: not recorded: {result}", flush=True)
            continue
        results[row["name"]] = result
        print(f"{row['name']}: {result.seconds:.1f} s, {result.tensors} tensors, "
              f"{result.elements_by_dtype}", flush=True)  # fmt: skip
    if not dry_run and results:
        _write(results)
    return 0


def _uncommitted(path: Path) -> bool:
    """`path` has changes git has not committed (another edit in progress)."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", str(path)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return bool(status.stdout.strip())


def _write(results: dict[str, Measured]) -> None:
    """Re-reads index.json just before writing, so rows added meanwhile are kept; refuses while
    it has uncommitted changes, which are someone else's edit."""
    if _uncommitted(INDEX):
        raise SystemExit(f"{INDEX} has uncommitted changes: commit them first, then run again")
    index = json.loads(INDEX.read_text(encoding="utf-8"))
    for row in index["presets"]:
        found = results.get(row["name"])
        if found is None:
            continue
        entry = row.setdefault("checkpoint", {})
        entry["parameters_by_dtype"] = found.elements_by_dtype
        entry["parameters_by_dtype_source"] = found.method
    text = json.dumps(index, indent=2) + "\n"
    INDEX.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="preset names (default: every preset)")
    parser.add_argument("--dry-run", action="store_true", help="print, do not write index.json")
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT_SECONDS)
    options = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return record(options.names, options.dry_run, options.time_limit)


if __name__ == "__main__":
    sys.exit(main())
