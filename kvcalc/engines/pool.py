"""What a KV budget on one GPU buys under a deployment: the engine's pool and whole requests."""

from __future__ import annotations

from collections.abc import Callable

from kvcalc.errors import InputError
from kvcalc.values import value


@value
class PoolFigures:
    """A KV budget in an engine's own terms: `units` of `unit_bytes` each (vLLM's block ids,
    SGLang's token slots), `kv_tokens` (the engine's "KV cache size" in tokens),
    `max_concurrency` (requests, as the engine computes it: vLLM from each request's worst
    case at max_model_len) and `lines`, the engine's own start-up figures in its words."""

    unit: str
    unit_bytes: int
    units: int
    kv_tokens: int
    max_concurrency: float
    lines: tuple[str, ...] = ()
    reserved_units: int = 0  # units the engine keeps for itself (vLLM's null block)
    worst_case_units: int | None = None  # units one request may need; None: its bytes
    # Whole requests the engine holds, where their bytes cannot tell (TensorRT-LLM's window
    # pools split the budget equally); None: the most whose bytes fit.
    requests: int | None = None

    @property
    def admits_one(self) -> bool:
        """Whether one request's worst case fits in the units left for requests."""
        if self.worst_case_units is None:
            return True
        return self.worst_case_units <= self.units - self.reserved_units


def vllm_block_pool(
    block_bytes: int, budget_bytes: int, worst_case_blocks: int, seq_len: int, device: str
) -> PoolFigures:
    """vLLM's figures for a budget of block ids of `block_bytes` each: num_blocks = budget //
    block_bytes; "Maximum concurrency" = num_blocks / the blocks one request may need at
    max_model_len; "GPU KV cache size" = int(that x M) tokens; one null block kept for the pool
    (vLLM 0.33.0 `v1/core/kv_cache_utils.py` `get_max_concurrency_for_kv_cache_config`,
    `get_kv_cache_capacity`; `_check_enough_kv_cache_memory` admits a request only if its worst
    case fits beside the null block). `device` is "CPU" or "GPU", as the log line says."""
    blocks = max(0, budget_bytes) // block_bytes
    concurrency = blocks / worst_case_blocks if worst_case_blocks else 0.0
    tokens = int(concurrency * seq_len)
    lines = (
        f"{device} KV cache size: {tokens:,} tokens",
        f"Maximum concurrency for {seq_len:,} tokens per request: {concurrency:.2f}x",
    )
    return PoolFigures("block", block_bytes, blocks, tokens, concurrency, lines,
                       reserved_units=1, worst_case_units=worst_case_blocks)  # fmt: skip


@value
class Capacity:
    """What a KV budget on one GPU holds for requests of `seq_len` tokens: the engine's
    figures, and `requests`, whole requests held at once while decoding."""

    budget_bytes: int
    seq_len: int
    pool: PoolFigures
    requests: int

    @property
    def admits_one(self) -> bool:
        return self.requests >= 1 and self.pool.admits_one


def most_requests(request_bytes: Callable[[int], int], budget_bytes: int) -> int:
    """The largest batch b with request_bytes(b) <= budget: a doubling, then a bisection.

    Exact for any allocation that grows with the batch (padded cells included)."""
    if budget_bytes < 0 or request_bytes(1) > budget_bytes:
        return 0
    low, high = 1, 2
    while request_bytes(high) <= budget_bytes:
        low, high = high, high * 2
        if high > 1 << 62:
            raise InputError("the KV budget holds an unbounded number of requests")
    while high - low > 1:  # fits(low), not fits(high)
        middle = (low + high) // 2
        low, high = (middle, high) if request_bytes(middle) <= budget_bytes else (low, middle)
    return low


def byte_pool(per_request: int, bytes_per_token: int, budget_bytes: int) -> PoolFigures:
    """For engines without a pool of their own: the budget in bytes, the tokens of every
    layer it holds (before window caps), and the budget over one request's bytes."""
    budget = max(0, budget_bytes)
    tokens = budget // bytes_per_token if bytes_per_token else 0
    concurrency = budget / per_request if per_request else 0.0
    return PoolFigures("byte", 1, budget, tokens, concurrency)
