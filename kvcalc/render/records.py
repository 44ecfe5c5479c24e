"""An estimate as the plain JSON record of `--json` (its types: render/record_types.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kvcalc.engines.kvbytes import GroupBytes
from kvcalc.model.architecture import Attention
from kvcalc.planning.estimation import Estimate
from kvcalc.render.formula import formula

if TYPE_CHECKING:
    from kvcalc.render.record_types import EstimateRecord, LayerGroupRecord

SCHEMA_VERSION = 1


def layer_record(group: GroupBytes) -> LayerGroupRecord:
    attention = group.group.attention
    return {
        "kind": group.group.kind.value,
        "num_layers": group.group.count,
        "window_tokens": group.group.window_tokens,
        "num_kv_heads": attention.num_kv_heads if attention else None,
        "k_head_dim": attention.k_head_dim if attention else None,
        "v_head_dim": attention.v_head_dim if attention else None,
        "tokens_per_sequence": group.tokens_per_sequence,
        "bytes_per_token": group.bytes_per_token,
        "total_bytes": group.total_bytes,
        "detail": group.detail,
    }


def headline(attention: Attention | None) -> dict[str, Any]:
    """The model's main attention as flat fields: MLA is one latent 'head'."""
    if attention is None:
        return {"attention": "none", "num_attention_heads": 0, "num_kv_heads": 0,
                "head_dim": 0, "v_head_dim": 0, "mla": None}  # fmt: skip
    mla = attention.mla
    return {
        "attention": attention.kind.value,
        "num_attention_heads": attention.num_heads,
        "num_kv_heads": 1 if mla else attention.num_kv_heads,
        "head_dim": mla.latent_dim if mla else attention.k_head_dim,
        "v_head_dim": 0 if mla else attention.v_head_dim,
        "mla": None if mla is None else {
            "kv_lora_rank": mla.kv_lora_rank,
            "qk_rope_head_dim": mla.qk_rope_head_dim,
            "latent_dim": mla.latent_dim,
        },
    }  # fmt: skip


def estimate_record(estimate: Estimate) -> EstimateRecord:
    """Every figure of `estimate`; byte counts are exact integers."""
    from kvcalc.engines import SEMANTICS

    total = estimate.total_bytes
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model": estimate.source.name,
        "source": {"kind": estimate.source.kind, "location": estimate.source.location},
        "model_type": estimate.architecture.model_type,
        "engine": estimate.engine,
        "engine_semantics": SEMANTICS[estimate.engine],
        "engine_assumptions": list(estimate.assumptions),
        **headline(estimate.architecture.attention),
        "num_layers": estimate.architecture.num_layers,
        "dtype": estimate.dtype.name,
        "bits_per_element": estimate.dtype.bits_per_element,
        "bytes_per_element": estimate.dtype.bytes_per_element,
        "batch": estimate.workload.batch,
        "seq_len": estimate.workload.seq_len,
        "enc_seq": estimate.workload.enc_seq or estimate.architecture.encoder_tokens,
        "bytes_per_token": estimate.bytes_per_token,
        "marginal_bytes_per_token": estimate.marginal_bytes_per_token,
        "beyond_max_position_embeddings": estimate.beyond_max_position_embeddings,
        "max_position_embeddings": estimate.architecture.max_position_embeddings,
        "total_bytes": total,
        "total_gib": total / 1024**3,
        "total_gb": total / 1000**3,
        "layers": [layer_record(group) for group in estimate.groups],
        "formula": formula(estimate),
        "notes": list(estimate.notes),
    }
    return record  # type: ignore[return-value]
