"""Byte arithmetic of the KV cache: pure functions over integers."""

from __future__ import annotations

from dataclasses import dataclass

from kvcalc.architecture import Architecture, LayerGroup, LayerKind
from kvcalc.dtypes import CacheDtype


@dataclass(frozen=True)
class Workload:
    """What is being served: `batch` sequences of `seq_len` tokens each."""

    batch: int
    seq_len: int

    def __post_init__(self) -> None:
        if self.batch <= 0 or self.seq_len <= 0:
            raise ValueError("batch and seq_len must be positive")


@dataclass(frozen=True)
class GroupBytes:
    """The cache of one layer group under one workload."""

    group: LayerGroup
    tokens_per_sequence: int
    bytes_per_token: int  # one token of one sequence, across the group's layers
    total_bytes: int


def tokens_held(group: LayerGroup, seq_len: int) -> int:
    """Tokens a layer of `group` keeps for one sequence of `seq_len` tokens.

    Full attention keeps every token. A sliding window keeps the last `window_tokens`;
    chunked attention needs at most one whole chunk, which is what must be reserved for a
    sequence that grows to `seq_len`.
    """
    if group.kind is LayerKind.FULL or group.window_tokens is None:
        return seq_len
    return min(seq_len, group.window_tokens)


def layer_bytes_per_token(group: LayerGroup, dtype: CacheDtype) -> int:
    """Bytes one token adds to one layer: 2 x kv_heads x head_dim (K and V), or one MLA latent."""
    return dtype.bytes_for(group.attention.elements_per_token)


def group_bytes(group: LayerGroup, workload: Workload, dtype: CacheDtype) -> GroupBytes:
    """batch x tokens held x layers x bytes per token and layer."""
    per_token = group.count * layer_bytes_per_token(group, dtype)
    tokens = tokens_held(group, workload.seq_len)
    return GroupBytes(group, tokens, per_token, workload.batch * tokens * per_token)


def cache_bytes(
    architecture: Architecture, workload: Workload, dtype: CacheDtype
) -> tuple[GroupBytes, ...]:
    """The cache of every layer group of `architecture`."""
    return tuple(group_bytes(group, workload, dtype) for group in architecture.groups)
