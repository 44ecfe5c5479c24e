"""Engine semantics: how each serving engine turns an architecture into allocated bytes.

Each rule, its source file and version, and a worked example are in docs/engines.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kvcalc.engines.kvbytes import GroupBytes, Workload, cache_bytes
from kvcalc.errors import InputError
from kvcalc.model.architecture import Architecture
from kvcalc.model.dtypes import CacheDtype

ENGINES = ("default", "transformers", "vllm", "sglang", "llama.cpp", "naive")


@dataclass(frozen=True)
class EngineOptions:
    """Engine knobs: vLLM block size / SGLang page size (None: the engine's default)."""

    block_size: int | None = None


@dataclass(frozen=True)
class EngineResult:
    groups: tuple[GroupBytes, ...]
    notes: tuple[str, ...] = ()


EngineRule = Callable[[Architecture, Workload, CacheDtype, CacheDtype, EngineOptions], EngineResult]

SEMANTICS = {
    "default": "each layer holds the tokens it can attend to; states once per sequence",
    "transformers": "what a transformers 5.23 DynamicCache holds after a prefill",
    "vllm": "the paged blocks vLLM 0.33 allocates for these requests",
    "sglang": "the token pool slots SGLang 0.5.23 takes for these requests",
    "llama.cpp": "the cells llama.cpp allocates for a context of batch x seq",
    "naive": "the textbook formula on every layer: 2 x layers x kv_heads x head_dim",
}


def _default(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    options: EngineOptions,
) -> EngineResult:  # fmt: skip
    require_dtype("default", dtype, exclude=("fp8_ds_mla",))
    return EngineResult(cache_bytes(architecture, workload, dtype, model))


def require_dtype(
    engine: str, dtype: CacheDtype, *, allowed: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> None:
    """Refuses a cache dtype the engine does not offer."""
    if (allowed and dtype.name not in allowed) or dtype.name in exclude:
        offered = f"; it offers {', '.join(allowed)}" if allowed else ""
        raise InputError(f"--engine {engine} has no {dtype.name} cache{offered}")


def rule(engine: str) -> EngineRule:
    """The sizing rule of `engine`."""
    from kvcalc.engines import llamacpp, naive, sglang, transformers, vllm

    rules: dict[str, EngineRule] = {
        "default": _default,
        "transformers": transformers.allocate,
        "vllm": vllm.allocate,
        "sglang": sglang.allocate,
        "llama.cpp": llamacpp.allocate,
        "naive": naive.allocate,
    }
    found = rules.get(engine.lower())
    if found is None:
        raise InputError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return found
