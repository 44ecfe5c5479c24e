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
