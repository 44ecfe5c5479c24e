"""`kvcalc presets`: the bundled models by family, as a table or JSON."""

from __future__ import annotations

import json
import sys

from typing_extensions import TypedDict

from kvcalc.errors import InputError
from kvcalc.model.dialects import read_architecture
from kvcalc.sources.presets import Preset, presets_by_family
from kvcalc.sources.resolve import read_config_file


class PresetRecord(TypedDict):
    name: str
    hub_id: str
    family: str
    aliases: list[str]
    model_type: str
    attention: str
    num_layers: int
    num_kv_heads: int
    head_dim: int
    max_context: int | None
    origin: str


def preset_row(preset: Preset, family: str) -> PresetRecord:
    from kvcalc.render.records import headline

    architecture = read_architecture(read_config_file(preset.path))
    fields = headline(architecture.attention)
    return {
        "name": preset.name,
        "hub_id": preset.hub_id,
        "family": family,
        "aliases": list(preset.aliases),
        "model_type": architecture.model_type,
        "attention": fields["attention"],
        "num_layers": architecture.num_layers,
        "num_kv_heads": fields["num_kv_heads"],
        "head_dim": fields["head_dim"],
        "max_context": architecture.max_position_embeddings,
        "origin": preset.origin,
    }


def preset_rows(text: str | None = None) -> list[PresetRecord]:
    """One record per preset that mentions `text` (all without one), family by family."""
    groups = presets_by_family(text)
    if not groups:
        raise InputError(
            f"no bundled preset matches {text!r} (in a name, hub id, alias or family); "
            "`kvcalc presets` lists them all"
        )
    return [preset_row(preset, family) for family, members in groups.items() for preset in members]


def render_presets(*, as_json: bool, text: str | None = None) -> None:
    rows = preset_rows(text)
    if as_json:
        print(json.dumps(rows, indent=2), file=sys.stdout)
        return
    from rich.table import Table

    from kvcalc.render.console import stdout_console, table_box
    from kvcalc.render.safe_text import table_value

    console = stdout_console()
    title = table_value("Bundled presets" + (f" matching {text!r}" if text else ""))
    table = Table(title=title, box=table_box(console), title_justify="left")
    numeric = ("layers", "KV heads", "head dim", "max context")
    for column in ("name", "hub id", "attention", "layers", "KV heads", "head dim", "max context"):
        table.add_column(column, justify="right" if column in numeric else "left", no_wrap=True)
    for index, row in enumerate(rows):
        if index == 0 or row["family"] != rows[index - 1]["family"]:
            if index:
                table.add_section()
            table.add_row(f"[bold]{table_value(row['family'])}[/bold]")
        context = row["max_context"]
        table.add_row(
            table_value(f"  {row['name']}"),
            table_value(row["hub_id"]),
            table_value(row["attention"]),
            str(row["num_layers"]),
            str(row["num_kv_heads"]),
            str(row["head_dim"]),
            "-" if context is None else f"{context:,}",
        )
    console.print(table)
