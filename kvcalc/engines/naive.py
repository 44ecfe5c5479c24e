"""The textbook formula most calculators print: every layer full, 2 x KV heads x head dim."""

from __future__ import annotations

from kvcalc.engines import Deployment, EngineResult, require_dtype
from kvcalc.engines.kvbytes import Workload, attention_group
from kvcalc.errors import UnsupportedConfigError
from kvcalc.model.architecture import Architecture, Attention, LayerGroup, LayerKind
from kvcalc.model.dtypes import CacheDtype

READS_KV_CACHE_SCHEME = False  # the textbook formula in the model dtype


def allocate(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    deployment: Deployment,
) -> EngineResult:  # fmt: skip
    """batch x seq x 2 x layers x kv_heads x head_dim x bytes, with the config's raw figures."""
    require_dtype("naive", dtype, exclude=("fp8_ds_mla",))
    naive = architecture.naive
    if naive is None:
        raise UnsupportedConfigError(f"model_type {architecture.model_type!r} has no attention")
    kv = naive.num_kv_heads
    group = LayerGroup(
        LayerKind.FULL, naive.num_layers, Attention(kv, kv, naive.head_dim, naive.head_dim)
    )
    per_layer = dtype.bytes_for(2 * kv * naive.head_dim)
    return EngineResult(
        (attention_group(group, workload, workload.seq_len, per_layer, "every layer full"),)
    )
