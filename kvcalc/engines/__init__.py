"""Engine semantics: how each serving engine turns an architecture into allocated bytes.

This is the one sizing path. `size` answers, for a deployment (engine, TP, PP, block size,
the engine's scheduling knobs), what one GPU holds for a workload; `capacity` how a KV budget
on one GPU turns into blocks, tokens and concurrency. `estimate` is `size` on one GPU; `fit`,
`compare`, `sweep` and `plot` call the same two functions. Each rule, its source file and
version, and worked examples are in docs/engines.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kvcalc.engines.deployment import Deployment
from kvcalc.engines.kvbytes import GroupBytes, Workload, cache_bytes
from kvcalc.errors import InputError
from kvcalc.model.architecture import Architecture
from kvcalc.model.dtypes import CacheDtype, parse_dtype
from kvcalc.values import value

if TYPE_CHECKING:  # a budget's figures (engines.pool) are imported only by `capacity`
    from types import ModuleType

    from kvcalc.engines.pool import Capacity, PoolFigures

__all__ = [
    "ENGINES",
    "SEMANTICS",
    "Deployment",
    "EngineResult",
    "capacity",
    "require_dtype",
    "rule",
    "size",
]

ENGINES = ("default", "transformers", "vllm", "sglang", "llama.cpp", "trtllm", "naive")


@value
class EngineResult:
    """What one GPU holds: each layer group's bytes, how the engine got there, and what it
    assumed (defaults it applied that the user did not choose)."""

    groups: tuple[GroupBytes, ...]
    notes: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(group.total_bytes for group in self.groups)


EngineRule = Callable[[Architecture, Workload, CacheDtype, CacheDtype, Deployment], EngineResult]
PoolRule = Callable[
    [Architecture, CacheDtype, CacheDtype, Deployment, int, int, int | None], "PoolFigures | None"
]

SEMANTICS = {
    "default": "each layer holds the tokens it can attend to; states once per sequence",
    "transformers": "what a transformers 5.23 DynamicCache holds after a prefill",
    "vllm": "the paged blocks vLLM 0.33 holds for these requests while decoding",
    "sglang": "the token pool slots SGLang 0.5.23 takes for these requests",
    "llama.cpp": "the cells llama.cpp allocates for a context of batch x seq",
    "trtllm": "the paged KV blocks TensorRT-LLM (PyTorch backend) holds for these requests",
    "naive": "the textbook formula on every layer: 2 x layers x kv_heads x head_dim",
}


def _default(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    deployment: Deployment,
) -> EngineResult:  # fmt: skip
    require_dtype("default", dtype, exclude=("fp8_ds_mla",))
    return EngineResult(cache_bytes(architecture, workload, dtype, model))


def compute_dtype(
    engine: str, model_type: str, config: CacheDtype
) -> tuple[CacheDtype, tuple[str, ...]]:
    """The dtype `engine` runs a checkpoint in at its default (`--dtype auto`), given the
    checkpoint's own: the engine module's `run_dtype` hook (vLLM and SGLang run a float32
    checkpoint in 16 bits); elsewhere the config's dtype."""
    hook = getattr(engine_module(engine), "run_dtype", None)
    return hook(model_type, config) if hook is not None else (config, ())


def auto_cache_dtype(
    engine: str, architecture: Architecture, config: CacheDtype
) -> tuple[CacheDtype, tuple[str, ...]]:
    """The KV-cache dtype `--dtype auto` means under `engine` for a checkpoint in `config`: the
    engine module's `AUTO_CACHE_DTYPE` where it caches in one dtype whatever the weights
    (llama.cpp's f16); else the one the checkpoint's quantization_config asks for, unless the
    module sets `READS_KV_CACHE_SCHEME` False (transformers keeps the model dtype); else the
    dtype it runs the model in."""
    module = engine_module(engine)
    fixed: CacheDtype | None = getattr(module, "AUTO_CACHE_DTYPE", None)
    if fixed is not None:
        shown = () if config.bytes_for(1) == fixed.bytes_for(1) and (
            architecture.kv_cache_dtype is None) else (
            f"{engine.lower()}: --dtype auto is its default cache type, {fixed.name}",)  # fmt: skip
        return fixed, shown
    if architecture.kv_cache_dtype is not None and getattr(module, "READS_KV_CACHE_SCHEME", True):
        return parse_dtype(architecture.kv_cache_dtype), (
            f"--dtype auto: the checkpoint's quantization_config asks for a "
            f"{architecture.kv_cache_dtype} KV cache; pass --dtype to size another",
        )
    return compute_dtype(engine, architecture.model_type, config)


def require_dtype(
    engine: str, dtype: CacheDtype, *, allowed: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> None:
    """Refuses a cache dtype the engine does not offer."""
    if (allowed and dtype.name not in allowed) or dtype.name in exclude:
        offered = f"; it offers {', '.join(allowed)}" if allowed else ""
        raise InputError(f"--engine {engine} has no {dtype.name} cache{offered}")


def engine_module(engine: str) -> ModuleType | None:
    """The module of `engine`'s rules and hooks (None for `default`, which has neither)."""
    import importlib

    modules = {"transformers": "transformers", "vllm": "vllm", "sglang": "sglang",
               "llama.cpp": "llamacpp", "trtllm": "trtllm", "naive": "naive"}  # fmt: skip
    name = engine.lower()
    if name == "default":
        return None
    if name not in modules:
        raise InputError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return importlib.import_module(f"kvcalc.engines.{modules[name]}")


def _rules(engine: str) -> tuple[EngineRule, PoolRule | None]:
    """An engine module's `allocate`, and its `capacity` if it has a pool of its own."""
    module = engine_module(engine)
    if module is None:
        return _default, None
    allocate: EngineRule = module.allocate
    pool: PoolRule | None = getattr(module, "capacity", None)
    return allocate, pool


def rule(engine: str) -> EngineRule:
    """The sizing rule of `engine` on one unsplit GPU (an error for an unknown engine)."""
    return _rules(engine)[0]


def _busiest_gpu(
    architecture: Architecture, deployment: Deployment, engine: str
) -> tuple[Architecture, tuple[str, ...]]:
    """`parallel.shard`, imported only for a deployment over several GPUs."""
    if deployment.tp == deployment.pp == 1:
        return architecture, ()
    from kvcalc.engines.parallel import shard

    return shard(architecture, deployment, engine.lower())


def size(
    engine: str, architecture: Architecture, workload: Workload, dtype: CacheDtype,
    model_dtype: CacheDtype, deployment: Deployment | None = None,
) -> EngineResult:  # fmt: skip
    """What the busiest GPU of `deployment` holds for `workload` (its share of the batch is
    the caller's to give): the model split by TP and PP as the engine splits it, then the
    engine's allocation rule on that share."""
    deployment = deployment or Deployment()
    allocate = rule(engine)
    local, notes = _busiest_gpu(architecture, deployment, engine)
    result = allocate(local, workload, dtype, model_dtype, deployment)
    if not notes:
        return result
    return EngineResult(result.groups, (*notes, *result.notes), result.assumptions)


def capacity(
    engine: str, architecture: Architecture, dtype: CacheDtype, model_dtype: CacheDtype,
    deployment: Deployment, budget_bytes: int, seq_len: int, enc_seq: int | None = None,
    *, count_requests: bool = True,
) -> Capacity:  # fmt: skip
    """How `budget_bytes` of KV memory on the busiest GPU serves requests of `seq_len` tokens:
    the engine's own figures where it has a pool (vLLM's blocks, SGLang's token slots), else
    bytes; and the whole requests that `size` says fit (with `count_requests` False, only
    whether one does: 1 or 0)."""
    from kvcalc.engines.pool import Capacity, byte_pool, most_requests

    allocate, engine_pool = _rules(engine)
    local, _ = _busiest_gpu(architecture, deployment, engine)

    def request_bytes(batch: int) -> int:
        workload = Workload(batch, seq_len, enc_seq)
        return allocate(local, workload, dtype, model_dtype, deployment).total_bytes

    one = allocate(local, Workload(1, seq_len, enc_seq), dtype, model_dtype, deployment)
    pool = None
    if engine_pool is not None:
        pool = engine_pool(local, dtype, model_dtype, deployment, budget_bytes, seq_len, enc_seq)
    if pool is None:
        per_token = sum(group.bytes_per_token for group in one.groups)
        pool = byte_pool(one.total_bytes, per_token, budget_bytes)
    usable = budget_bytes - pool.reserved_units * pool.unit_bytes
    if pool.requests is not None:
        return Capacity(budget_bytes, seq_len, pool, pool.requests)
    if not count_requests:  # the caller asks only whether one request fits
        return Capacity(budget_bytes, seq_len, pool, int(request_bytes(1) <= usable))
    return Capacity(budget_bytes, seq_len, pool, most_requests(request_bytes, usable))
