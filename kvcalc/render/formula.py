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
    if attention.shared_kv:  # one row serves as key and value (DeepSeek V4)
        return [layers, attention.num_kv_heads, attention.k_head_dim, size]
    if attention.k_head_dim == attention.v_head_dim:
        return [2, layers, attention.num_kv_heads, attention.k_head_dim, size]
    return [layers, attention.num_kv_heads, f"({attention.k_head_dim} + {attention.v_head_dim})",
            size]  # fmt: skip


def _multiplies_out(group: GroupBytes, batch: int) -> bool:
    """Whether batch x tokens x layers x bytes per layer (a state: batch x layers x bytes per
    layer) is the group's total; an engine that rounds, pads or compresses breaks it."""
    count, total = group.group.count, group.total_bytes
    if group.group.attention is None:
        return total % (batch * count) == 0
    return (group.bytes_per_token % count == 0
            and batch * group.tokens_per_sequence * group.bytes_per_token == total)  # fmt: skip


def group_formula(group: GroupBytes, estimate: Estimate) -> str:
    """`batch x tokens x 2 x layers x kv_heads x head_dim x bytes = total`, per layer group;
    the engine's own factors where it counts otherwise (blocks, block ids), and never a
    product that does not come to the total."""
    batch, total = estimate.workload.batch, group.total_bytes
    if group.factors:
        shown = " x ".join(f"{count:,} {what}" for count, what in group.factors)
        return f"{batch} x {shown} = {total:,} B"
    if group.group.attention is None:
        if total == 0:
            return f"{group.group.count} layers without cache = 0 B"
        if _multiplies_out(group, batch):  # a state: say which (e.g. "3 Mamba-pool slots")
            per_layer = total // (batch * group.group.count)
            return (f"{batch} x {group.group.count} x {per_layer:,} B ({group.detail}) "
                    f"= {total:,} B")  # fmt: skip
    elif _multiplies_out(group, batch):
        factors = [batch, group.tokens_per_sequence, *_factors(group, estimate)]
        return f"{' x '.join(map(str, factors))} = {total:,} B"
    how = f" ({group.detail})" if group.detail else ""
    if total % batch == 0:
        return f"{batch} x {total // batch:,} B per sequence{how} = {total:,} B"
    return f"{total:,} B{how}"


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
