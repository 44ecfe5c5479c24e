"""SGLang 0.5.23: token-pool slots taken by these requests (docs/engines.md §2)."""

from __future__ import annotations

from kvcalc.engines import EngineOptions, EngineResult, require_dtype
from kvcalc.engines.kvbytes import GroupBytes, Workload, size_groups, state_bytes
from kvcalc.engines.vllm import cdiv, page_per_token
from kvcalc.errors import UnsupportedConfigError
from kvcalc.model.architecture import Architecture, LayerGroup, LayerKind
from kvcalc.model.dtypes import BF16, FP32, CacheDtype

# is_hybrid_swa_model: these size sliding layers in a separate pool by a ratio.
HYBRID_SWA = frozenset(
    {"gpt_oss", "llama4_text", "gemma4_text", "mimo_v2", "mimo_v2_flash", "step3p5"}
)
# Families whose state docs/engines.md §2.6 gives: the Mamba2 form, and Qwen3-Next's mapping.
MAMBA_POOL = frozenset({"qwen3_next", "nemotron_h", "falcon_h1", "granitemoehybrid"})


def _refuse_unmodelled(architecture: Architecture) -> None:
    kinds = {group.kind for group in architecture.groups}
    if architecture.model_type in HYBRID_SWA and kinds & {LayerKind.SLIDING, LayerKind.CHUNKED}:
        raise UnsupportedConfigError(
            f"--engine sglang: model_type {architecture.model_type!r} keeps its sliding layers "
            "in a separate pool sized by swa_full_tokens_ratio (0.8 of the full pool), not "
            "per request; use --engine vllm, transformers or default"
        )
    if LayerKind.CROSS in kinds:
        raise UnsupportedConfigError("--engine sglang: encoder-decoder caches are not modelled")
    if LayerKind.STATE in kinds and architecture.model_type not in MAMBA_POOL:
        raise UnsupportedConfigError(
            f"--engine sglang: the Mamba-pool state of model_type {architecture.model_type!r} "
            "is not modelled"
        )
    if "kv-shared-layers" in architecture.quirks:
        raise UnsupportedConfigError(
            "--engine sglang: KV-sharing layers (num_kv_shared_layers) are not modelled"
        )


def allocate(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    options: EngineOptions,
) -> EngineResult:  # fmt: skip
    """Attention layers take whole pages of slots (page size 1 by default); sliding layers of
    non-hybrid-SWA models (Gemma 2/3) are sized as full; Mamba states live in their own pool,
    one slot per request: conv (kernel - 1) in bf16 and the SSM state in fp32."""
    require_dtype("sglang", dtype, allowed=("fp16", "bf16", "fp8", "fp8_ds_mla"))
    _refuse_unmodelled(architecture)
    page = options.block_size or 1
    slots = cdiv(workload.seq_len, page) * page
    groups = size_groups(
        architecture, workload,
        lambda state: (state_bytes(state, state.conv_kernel - 1, BF16, FP32), "1 Mamba-pool slot"),
        lambda group: _attention(group, workload, dtype, slots, page),
    )  # fmt: skip
    return EngineResult(groups)


def _attention(
    group: LayerGroup, workload: Workload, dtype: CacheDtype, slots: int, page: int
) -> GroupBytes:
    per_token = group.count * page_per_token(group, dtype, "sglang")
    return GroupBytes(group, slots, per_token, workload.batch * slots * per_token,
                      f"{slots:,} slots, page {page}")  # fmt: skip
