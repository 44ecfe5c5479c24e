"""`kvcalc presets`: the bundled models as a table or JSON."""

from __future__ import annotations

import json
import sys

from typing_extensions import TypedDict

from kvcalc.model.dialects import read_architecture
from kvcalc.sources.presets import Preset, all_presets
from kvcalc.sources.resolve import read_config_file


class PresetRecord(TypedDict):
    name: str
    hub_id: str
    model_type: str
    attention: str
    num_layers: int
    num_kv_heads: int
    head_dim: int
    max_context: int | None
    origin: str


def preset_row(preset: Preset) -> PresetRecord:
    from kvcalc.render.records import headline

    architecture = read_architecture(read_config_file(preset.path))
    fields = headline(architecture.attention)
    return {
        "name": preset.name,
        "hub_id": preset.hub_id,
        "model_type": architecture.model_type,
        "attention": fields["attention"],
        "num_layers": architecture.num_layers,
        "num_kv_heads": fields["num_kv_heads"],
        "head_dim": fields["head_dim"],
        "max_context": architecture.max_position_embeddings,
        "origin": preset.origin,
    }


def render_presets(*, as_json: bool) -> None:
    rows = [preset_row(preset) for preset in all_presets()]
    if as_json:
        print(json.dumps(rows, indent=2), file=sys.stdout)
        return
    from rich.table import Table

    from kvcalc.render.console import stdout_console, table_box

    console = stdout_console()
    table = Table(title="Bundled presets", box=table_box(console), title_justify="left")
    numeric = ("layers", "KV heads", "head dim", "max context")
    for column in ("name", "hub id", "attention", "layers", "KV heads", "head dim", "max context"):
        table.add_column(column, justify="right" if column in numeric else "left", no_wrap=True)
    for row in rows:
        context = row["max_context"]
        table.add_row(
            str(row["name"]),
            str(row["hub_id"]),
            str(row["attention"]),
            str(row["num_layers"]),
            str(row["num_kv_heads"]),
            str(row["head_dim"]),
            "-" if context is None else f"{context:,}",
        )
    console.print(table)
