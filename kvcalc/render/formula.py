"""The arithmetic of an estimate written out with its numbers: `--explain`."""

from __future__ import annotations

from kvcalc.estimation import Estimate
from kvcalc.kvbytes import GroupBytes


def _element_size(estimate: Estimate) -> str:
    size = estimate.dtype.bytes_per_element
    return f"{size} B"


def group_formula(group: GroupBytes, estimate: Estimate) -> str:
    """`batch x tokens x 2 x layers x kv_heads x head_dim x bytes = total`, per layer group."""
    attention = group.group.attention
    batch, tokens, layers = estimate.workload.batch, group.tokens_per_sequence, group.group.count
    if attention.mla is not None:
        per_layer = f"({attention.mla.kv_lora_rank} + {attention.mla.qk_rope_head_dim})"
        factors = [batch, tokens, layers, per_layer]
    elif attention.k_head_dim == attention.v_head_dim:
        factors = [batch, tokens, 2, layers, attention.num_kv_heads, attention.k_head_dim]
    else:
        dims = f"({attention.k_head_dim} + {attention.v_head_dim})"
        factors = [batch, tokens, layers, attention.num_kv_heads, dims]
    product = " x ".join(str(factor) for factor in factors)
    return f"{product} x {_element_size(estimate)} = {group.total_bytes:,} B"


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
