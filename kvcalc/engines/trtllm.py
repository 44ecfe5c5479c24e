"""TensorRT-LLM (PyTorch backend): paged KV blocks of tokens_per_block (docs/engines.md §5)."""

from __future__ import annotations

from kvcalc.engines import Deployment, EngineResult, PoolFigures
from kvcalc.engines.kvbytes import Workload
from kvcalc.errors import UnsupportedConfigError
from kvcalc.model.architecture import Architecture
from kvcalc.model.dtypes import CacheDtype


def allocate(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    deployment: Deployment,
) -> EngineResult:  # fmt: skip
    raise UnsupportedConfigError("--engine trtllm is not available yet")


def capacity(
    architecture: Architecture, dtype: CacheDtype, model: CacheDtype, deployment: Deployment,
    budget_bytes: int, seq_len: int,
) -> PoolFigures | None:  # fmt: skip
    return None
