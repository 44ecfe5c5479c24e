"""The arithmetic of an estimate written out with its numbers: `--explain`."""

from __future__ import annotations

from kvcalc.engines.kvbytes import GroupBytes
from kvcalc.planning.estimation import Estimate


def _factors(group: GroupBytes, estimate: Estimate) -> list[object]:
    """K and V per KV head spelled out where the engine stores exactly that; else bytes."""
    attention = group.group.cached_attention
    layers = group.group.count
    per_layer = group.bytes_per_token // layers
    size = f"{estimate.dtype.bytes_per_element} B"
    if per_layer != estimate.dtype.bytes_for(attention.elements_per_token):
        return [layers, f"{per_layer:,} B"]
    if attention.mla is not None:
        dims = [attention.mla.kv_lora_rank, attention.mla.qk_rope_head_dim]
        if attention.mla.indexer_dim:
            dims.append(attention.mla.indexer_dim)
        return [layers, f"({' + '.join(map(str, dims))})", size]
    if attention.k_head_dim == attention.v_head_dim:
        return [2, layers, attention.num_kv_heads, attention.k_head_dim, size]
    return [layers, attention.num_kv_heads, f"({attention.k_head_dim} + {attention.v_head_dim})",
            size]  # fmt: skip


def group_formula(group: GroupBytes, estimate: Estimate) -> str:
    """`batch x tokens x 2 x layers x kv_heads x head_dim x bytes = total`, per layer group."""
    batch = estimate.workload.batch
    if group.group.attention is None:
        if group.total_bytes == 0:
            return f"{group.group.count} layers without cache = 0 B"
        per_layer = group.total_bytes // (batch * group.group.count)
        return (f"{batch} x {group.group.count} x {per_layer:,} B ({group.detail}) "
                f"= {group.total_bytes:,} B")  # fmt: skip
    factors = [batch, group.tokens_per_sequence, *_factors(group, estimate)]
    return f"{' x '.join(map(str, factors))} = {group.total_bytes:,} B"


def formula(estimate: Estimate) -> str:
    """The whole estimate as one line per layer group, summed when there are several."""
    lines = [group_formula(group, estimate) for group in estimate.groups]
    if len(lines) == 1:
        return lines[0]
    parts = [
        f"{group.group.kind.value} ({group.group.count} layers): {line}"
        for group, line in zip(estimate.groups, lines, strict=True)
    ]
    return "; ".join(parts) + f"; total = {estimate.total_bytes:,} B"
