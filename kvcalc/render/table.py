"""The default output: an estimate as a Rich table, sizes in GiB, GB and exact bytes."""

from __future__ import annotations

from kvcalc.engines import SEMANTICS
from kvcalc.engines.kvbytes import GroupBytes
from kvcalc.planning.estimation import Estimate
from kvcalc.render.console import stdout_console, table_box
from kvcalc.render.formula import group_formula
from kvcalc.render.safe_text import LINE_MAX_CHARS, table_value
from kvcalc.units import format_bytes, format_gb, format_gib, format_size


def size_text(size: int, units: str = "auto") -> str:
    """`1.00 GiB · 1.07 GB · 1,073,741,824 B`, or only the unit asked for."""
    if units == "gib":
        return format_gib(size)
    if units == "gb":
        return format_gb(size)
    if units == "bytes":
        return format_bytes(size)
    return f"{format_size(size)} · {format_bytes(size)}"


def attention_text(estimate: Estimate) -> str:
    attention = estimate.architecture.attention
    if attention is None:
        return "none (state-space layers only)"
    if attention.mla is not None:
        mla = attention.mla
        return (
            f"MLA · latent {mla.kv_lora_rank} + RoPE key {mla.qk_rope_head_dim} per token "
            f"({attention.num_heads} query heads)"
        )
    dims = (
        str(attention.k_head_dim)
        if attention.k_head_dim == attention.v_head_dim
        else f"{attention.k_head_dim} (K) / {attention.v_head_dim} (V)"
    )
    return (
        f"{attention.kind.value} · {attention.num_kv_heads} KV heads × {dims} head dim "
        f"({attention.num_heads} query heads)"
    )


def _group_text(group: GroupBytes, units: str) -> str:
    layer = group.group
    window = "" if layer.window_tokens is None else f", window {layer.window_tokens:,}"
    attention = layer.attention
    heads = (
        ""
        if attention is None or attention.mla
        else (f", {attention.num_kv_heads} KV heads × {attention.k_head_dim}")
    )
    held = (
        f"{group.tokens_per_sequence:,} tokens per sequence"
        if attention is not None
        else (group.detail or "no cache")
    )
    size = size_text(group.total_bytes, units)
    return f"{layer.count} {layer.kind.value}{window}{heads}: {held} → {size}"


def beyond_text(estimate: Estimate) -> str:
    """` (past the model's max_position_embeddings, 8,192)` when the length is."""
    if not estimate.beyond_max_position_embeddings:
        return ""
    limit = estimate.architecture.max_position_embeddings or 0
    return f" (past the model's max_position_embeddings, {limit:,})"


def next_token_text(estimate: Estimate) -> str:
    """What one more token of one sequence costs at this length, as the engine allocates."""
    following = estimate.workload.seq_len + 1
    return (
        f"{format_bytes(estimate.marginal_bytes_per_token)} (token {following:,} of one sequence)"
    )


def render_table(estimate: Estimate, *, explain: bool = False, units: str = "auto") -> None:
    from rich.table import Table

    console = stdout_console()
    table = Table(
        title=table_value(f"KV-cache estimate: {estimate.source.name}"),
        box=table_box(console),
        show_header=False,
        title_justify="left",
    )
    table.add_column("field", style="bold")
    table.add_column("value")
    # Each cell that echoes a name, a path or a config's words is escaped whole (so a `[` in one
    # value cannot close with a `]` in the next); one that holds several values is cut at a
    # line's length rather than a value's.
    source = estimate.source
    table.add_row("Model", table_value(f"{source.name} ({source.kind}: {source.location})",
                                       LINE_MAX_CHARS))  # fmt: skip
    table.add_row("Attention", attention_text(estimate))
    table.add_row("Layers", f"{estimate.architecture.num_layers}")
    if len(estimate.groups) > 1:
        for group in estimate.groups:
            table.add_row("", table_value(_group_text(group, units), LINE_MAX_CHARS))
    table.add_row(
        "Dtype",
        table_value(f"{estimate.dtype.name} ({estimate.dtype.bytes_per_element} B/element)"),
    )
    table.add_row("Engine", f"{estimate.engine}: {SEMANTICS[estimate.engine]}")
    for index, assumption in enumerate(estimate.assumptions):
        table.add_row("Assumes" if index == 0 else "", table_value(assumption, LINE_MAX_CHARS))
    workload = estimate.workload
    encoder = workload.enc_seq or estimate.architecture.encoder_tokens
    extra = f", encoder {encoder:,} tokens" if encoder else ""
    table.add_row("Workload", f"batch {workload.batch:,} × {workload.seq_len:,} tokens{extra}"
                  f"{beyond_text(estimate)}")  # fmt: skip
    table.add_row("Next token", next_token_text(estimate))
    table.add_row("Per token", f"{format_bytes(estimate.bytes_per_token)} "
                  "(all layers, before window caps)")  # fmt: skip
    table.add_row("KV cache", size_text(estimate.total_bytes, units), style="bold")
    if explain:
        for index, group in enumerate(estimate.groups):
            formula = table_value(group_formula(group, estimate), LINE_MAX_CHARS)
            table.add_row("Formula" if index == 0 else "", formula)
    console.print(table)
