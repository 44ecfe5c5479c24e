"""`kvcalc inspect`: the architecture read from a config, and the keys behind it."""

from __future__ import annotations

import json
import sys
from typing import Any

from typing_extensions import TypedDict

from kvcalc.model.architecture import LayerGroup
from kvcalc.planning.estimation import LoadedModel


def group_record(group: LayerGroup) -> dict[str, Any]:
    attention, state = group.attention, group.state
    return {
        "kind": group.kind.value,
        "num_layers": group.count,
        "window_tokens": group.window_tokens,
        "attention": None if attention is None else {
            "kind": attention.kind.value,
            "num_heads": attention.num_heads,
            "num_kv_heads": attention.num_kv_heads,
            "k_head_dim": attention.k_head_dim,
            "v_head_dim": attention.v_head_dim,
            "mla_latent_dim": attention.mla.latent_dim if attention.mla else None,
            "indexer_dim": attention.mla.indexer_dim if attention.mla else None,
        },
        "compression": None if group.compression is None else {
            "ratio": group.compression.ratio,
            "indexer_dim": group.compression.indexer_dim,
        },
        "state": None if state is None else {
            "conv_channels": state.conv_channels,
            "conv_kernel": state.conv_kernel,
            "recurrent_shape": list(state.recurrent_shape),
        },
    }  # fmt: skip


class SourceInfo(TypedDict):
    kind: str
    location: str


class ReadFrom(TypedDict):
    what: str
    key: str


class InspectRecord(TypedDict):
    model: str
    source: SourceInfo
    model_type: str
    num_layers: int
    max_position_embeddings: int | None
    config_dtype: str | None
    encoder_tokens: int | None
    groups: list[dict[str, Any]]
    read_from: list[ReadFrom]


def inspect_record(loaded: LoadedModel) -> InspectRecord:
    architecture = loaded.architecture
    return {
        "model": loaded.source.name,
        "source": {"kind": loaded.source.kind, "location": loaded.source.location},
        "model_type": architecture.model_type,
        "num_layers": architecture.num_layers,
        "max_position_embeddings": architecture.max_position_embeddings,
        "config_dtype": architecture.config_dtype,
        "encoder_tokens": architecture.encoder_tokens,
        "groups": [group_record(group) for group in architecture.groups],
        "read_from": [{"what": what, "key": key} for what, key in architecture.provenance],
    }


def _group_line(group: dict[str, Any]) -> str:  # one layer group, for the table
    parts = [f"{group['num_layers']} × {group['kind']}"]
    if group["window_tokens"]:
        parts.append(f"window {group['window_tokens']:,}")
    attention = group["attention"]
    if attention and attention["mla_latent_dim"]:
        parts.append(f"MLA latent {attention['mla_latent_dim']}")
    elif attention:
        heads = f"{attention['num_kv_heads']} KV heads × {attention['k_head_dim']}"
        parts.append(f"{attention['kind']} {attention['num_heads']} heads, {heads}")
    if group["compression"]:
        compression = group["compression"]
        indexer = compression["indexer_dim"]
        parts.append(f"compressed 1:{compression['ratio']}"
                     + (f" + indexer keys × {indexer}" if indexer else ""))  # fmt: skip
    if group["state"]:
        state = group["state"]
        parts.append(f"conv {state['conv_channels']} × {state['conv_kernel']}, "
                     f"state {' × '.join(map(str, state['recurrent_shape']))}")  # fmt: skip
    return ", ".join(parts)


def render_inspect(loaded: LoadedModel, *, as_json: bool) -> None:
    record = inspect_record(loaded)
    if as_json:
        print(json.dumps(record, indent=2), file=sys.stdout)
        return
    from rich.table import Table

    from kvcalc.render.console import stdout_console, table_box
    from kvcalc.render.safe_text import LINE_MAX_CHARS, table_value

    console = stdout_console()
    # Every value here comes from the config or its path: each cell is escaped whole.
    title = table_value(f"How {record['model']} was read ({record['model_type']})", LINE_MAX_CHARS)
    table = Table(title=title, box=table_box(console), title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for index, group in enumerate(record["groups"]):
        table.add_row("Layer groups" if index == 0 else "", table_value(_group_line(group)))
    table.add_row("Max positions", table_value(record["max_position_embeddings"] or "-"))
    table.add_row("Dtype", table_value(record["config_dtype"] or "-"))
    for index, row in enumerate(record["read_from"]):
        read_from = table_value(f"{row['what']}: {row['key']}")
        table.add_row("Read from" if index == 0 else "", read_from)
    console.print(table)
