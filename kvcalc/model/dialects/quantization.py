"""A checkpoint's own KV-cache quantization, read from its quantization_config as vLLM reads it."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["checkpoint_kv_cache_dtype"]


def checkpoint_kv_cache_dtype(raw: Mapping[str, object]) -> str | None:
    """The string "fp8" when the checkpoint asks for an fp8 KV cache, else None.

    vLLM (vllm-project/vllm, 2026) honours two spellings when --kv-cache-dtype is `auto`:
    - compressed-tensors (llm-compressor): any `kv_cache_scheme` makes the cache fp8
      (`Attention.__init__` in vllm/model_executor/layers/attention/attention.py: "llm-compressor
      mdls need to set cache_dtype to 'fp8' manually"); its
      `CompressedTensorsKVCacheMethod.validate_kv_cache_scheme` accepts 8-bit floats only.
    - ModelOpt: `kv_cache_scheme` {num_bits: 8, type: float, dynamic: false} or
      `kv_cache_quant_algo` "FP8", at the top or under `quantization`
      (`get_kv_cache_quant_algo_string` in vllm/utils/torch_utils.py).
    Other schemes (ModelOpt NVFP4) are cache formats kvcalc does not size: None.
    """
    config = raw.get("quantization_config")
    if not isinstance(config, Mapping):
        return None
    method = config.get("quant_method")
    method = method.lower() if isinstance(method, str) else ""
    if method == "compressed-tensors":
        scheme = config.get("kv_cache_scheme")
        fp8 = isinstance(scheme, Mapping) and scheme.get("num_bits") == 8
        return "fp8" if fp8 else None
    if method.startswith("modelopt"):
        inner = config.get("quantization")
        sources = (inner if isinstance(inner, Mapping) else config, config)
        found = next(
            (s[key] for key in ("kv_cache_scheme", "kv_cache_quant_algo") for s in sources
             if s.get(key)),
            None,
        )  # fmt: skip
        if isinstance(found, Mapping):
            fp8 = (found.get("dynamic") is False and found.get("num_bits") == 8
                   and found.get("type") == "float")  # fmt: skip
            return "fp8" if fp8 else None
        return "fp8" if isinstance(found, str) and found.lower() == "fp8" else None
    return None
