"""The bundled model configs in `presets/`: lookup by name, alias or hub id."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from kvcalc.values import value

_PACKAGE = Path(__file__).resolve().parent.parent  # kvcalc/
# How a repo's name announces quantized weights: "Qwen3-8B-FP8", "GLM-5-NVFP4", "...-FP8-dynamic".
# A pattern, compiled by `re` on first use: only `fit` asks, and estimate's start-up need not pay.
_QUANTIZED_TAG = r"-(FP8|NVFP4|MXFP4|FP4|INT4|INT8|AWQ|GPTQ|W4A16|W8A8)(?=-|$)"


def quantized_tag(reference: str) -> str:
    """The quantization a repo's name announces ("FP8", "NVFP4"...); "" for none (BF16...)."""
    found = re.search(_QUANTIZED_TAG, reference.rsplit("/", 1)[-1], re.IGNORECASE)
    return found.group(1).upper() if found else ""


@value
class Preset:
    """One bundled config.json and where it came from."""

    name: str
    hub_id: str
    file: str
    origin: str
    aliases: tuple[str, ...] = ()
    headline: bool = False
    params: int | None = None  # parameter count of the published checkpoint
    params_source: str | None = None  # where `params` comes from
    params_exact: bool = True  # False: a rounded published figure
    weights_dtype: str | None = None  # storage dtype of the checkpoint, if not torch_dtype
    weights_note: str | None = None  # what params x dtype misses for this checkpoint
    family: str | None = None  # "Llama", "Qwen", ... for `kvcalc presets`
    checkpoint_bytes: int | None = None  # exact stored bytes of the published checkpoint
    checkpoint_by_dtype: tuple[tuple[str, int], ...] = ()  # loaded elements per dtype
    checkpoint_source: str | None = None  # where `checkpoint_bytes` comes from
    checkpoint_by_dtype_source: str | None = None  # how `checkpoint_by_dtype` was counted

    @property
    def path(self) -> Path:
        return presets_dir() / self.file

    @property
    def hub_ids(self) -> tuple[str, ...]:
        """The hub repos this preset stands for: its own and every same-architecture variant."""
        return _hub_ids(self.hub_id, self.aliases)

    def matches(self, reference: str) -> bool:
        """`reference` is this preset's name, hub id or an alias, in any case."""
        return _names_match(_names(self.name, self.hub_id, self.aliases), reference)

    def matches_repo_name(self, reference: str) -> bool:
        """`reference` is the repo part of one of its hub ids (`Llama-3.1-8B-Instruct`)."""
        return _repo_name_matches(self.hub_ids, reference)

    def shares_checkpoint(self, reference: str) -> bool:
        """`reference` (its name, hub id or an alias) announces the storage of the preset's own
        hub id: its recorded checkpoint and parameter count size it. A quantized alias of a
        bf16 preset (`Qwen/Qwen3-8B-FP8`) shares the architecture, not the weights."""
        return quantized_tag(reference) == quantized_tag(self.hub_id)

    def mentions(self, text: str) -> bool:
        """`text` occurs in its name, a hub id, an alias or its family, in any case."""
        wanted = text.lower()
        names = (self.name, self.hub_id, *self.aliases, self.family or "")
        return any(wanted in name.lower() for name in names)


def presets_dir() -> Path:
    """`kvcalc/_presets` in an installed wheel; the top-level `presets/` in a source tree."""
    installed = _PACKAGE / "_presets"
    return installed if installed.is_dir() else _PACKAGE.parent / "presets"


@cache
def _index_rows() -> tuple[dict[str, Any], ...]:
    """The rows of presets/index.json, parsed once."""
    index = json.loads((presets_dir() / "index.json").read_text(encoding="utf-8"))
    return tuple(index["presets"])


def _preset(row: dict[str, Any]) -> Preset:
    bytes_, by_dtype, source, by_dtype_source = _checkpoint(row)
    return Preset(
        name=row["name"],
        hub_id=row["hub_id"],
        file=row["file"],
        origin=row["origin"],
        aliases=tuple(row.get("aliases", ())),
        headline=bool(row.get("headline", False)),
        params=row.get("params"),
        params_source=row.get("params_source"),
        params_exact=bool(row.get("params_exact", True)),
        weights_dtype=row.get("weights_dtype"),
        weights_note=row.get("weights_note"),
        family=row.get("family"),
        checkpoint_bytes=bytes_,
        checkpoint_by_dtype=by_dtype,
        checkpoint_source=source,
        checkpoint_by_dtype_source=by_dtype_source,
    )


@cache
def all_presets() -> tuple[Preset, ...]:
    return tuple(_preset(row) for row in _index_rows())


def _names(name: str, hub_id: str, aliases: Iterable[str]) -> tuple[str, ...]:
    """What a preset answers to: its name, its hub id and its aliases."""
    return (name, hub_id, *aliases)


def _hub_ids(hub_id: str, aliases: Iterable[str]) -> tuple[str, ...]:
    """Its own hub repo and every alias that is one (has an org)."""
    return (hub_id, *(alias for alias in aliases if "/" in alias))


def _names_match(names: tuple[str, ...], reference: str) -> bool:
    wanted = reference.lower()
    return any(wanted == name.lower() for name in names)


def _repo_name_matches(hub_ids: tuple[str, ...], reference: str) -> bool:
    wanted = reference.lower()
    return "/" not in wanted and any(
        wanted == hub_id.rsplit("/", 1)[1].lower() for hub_id in hub_ids
    )


def _checkpoint(
    row: dict[str, object],
) -> tuple[int | None, tuple[tuple[str, int], ...], str | None, str | None]:
    """The `checkpoint` entry of an index row: the hub's exact bytes, the elements per dtype
    that transformers loads (scripts/record_checkpoints.py), and the source of each."""
    entry = row.get("checkpoint")
    if not isinstance(entry, dict):
        return None, (), None, None
    total, by_dtype = entry.get("bytes"), entry.get("parameters_by_dtype")
    source, by_dtype_source = entry.get("source"), entry.get("parameters_by_dtype_source")
    counts = tuple(
        (str(name), count) for name, count in sorted((by_dtype or {}).items())
        if isinstance(count, int) and not isinstance(count, bool)
    )  # fmt: skip
    return (total if isinstance(total, int) else None, counts,
            source if isinstance(source, str) else None,
            by_dtype_source if isinstance(by_dtype_source, str) else None)  # fmt: skip


def find_preset(reference: str) -> Preset | None:
    """The preset called `reference` (name, alias or hub id, or a hub id's repo part without
    its org; any case), if there is one. Only that preset is built: `estimate <preset>` runs
    in shell loops."""
    rows = _index_rows()
    exact = (row for row in rows
             if _names_match(_names(row["name"], row["hub_id"], row.get("aliases", ())),
                             reference))  # fmt: skip
    by_repo = (row for row in rows
               if _repo_name_matches(_hub_ids(row["hub_id"], row.get("aliases", ())),
                                     reference))  # fmt: skip
    found = next(exact, None) or next(by_repo, None)
    return None if found is None else _preset(found)


def presets_by_family(text: str | None = None) -> dict[str, tuple[Preset, ...]]:
    """The presets that mention `text` (all without one), by family in alphabetical order,
    each family in index order."""
    chosen = [preset for preset in all_presets() if text is None or preset.mentions(text)]
    families = sorted({preset.family or "Other" for preset in chosen}, key=str.lower)
    return {
        family: tuple(preset for preset in chosen if (preset.family or "Other") == family)
        for family in families
    }


def close_names(reference: str) -> list[str]:
    """Preset names that look like `reference`, best first."""
    names = [preset.name for preset in all_presets()]
    return difflib.get_close_matches(reference.lower(), names, n=3, cutoff=0.6)
