"""Typed records of estimate JSON, for `kvcalc schema` and type checking (not the hot path)."""

from __future__ import annotations

from typing import Literal

# pydantic reads TypedDicts for `kvcalc schema` only from typing_extensions before Python 3.12.
from typing_extensions import TypedDict


class SourceRecord(TypedDict):
    kind: Literal["preset", "file", "hub"]
    location: str


class MlaRecord(TypedDict):
    kv_lora_rank: int
    qk_rope_head_dim: int
    latent_dim: int


class LayerGroupRecord(TypedDict):
    kind: Literal["full", "sliding", "chunked", "cross", "state", "none"]
    num_layers: int
    window_tokens: int | None
    num_kv_heads: int | None
    k_head_dim: int | None
    v_head_dim: int | None
    tokens_per_sequence: int
    bytes_per_token: int
    total_bytes: int
    detail: str


class EstimateRecord(TypedDict):
    schema_version: int
    model: str
    source: SourceRecord
    model_type: str
    engine: str
    engine_semantics: str
    engine_assumptions: list[str]
    attention: Literal["MHA", "GQA", "MQA", "MLA", "none"]
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    v_head_dim: int
    mla: MlaRecord | None
    dtype: str
    bits_per_element: int | float
    bytes_per_element: int | float
    batch: int
    seq_len: int
    enc_seq: int | None
    bytes_per_token: int
    marginal_bytes_per_token: int
    beyond_max_position_embeddings: bool
    max_position_embeddings: int | None
    total_bytes: int
    total_gib: float
    total_gb: float
    layers: list[LayerGroupRecord]
    formula: str
    notes: list[str]
