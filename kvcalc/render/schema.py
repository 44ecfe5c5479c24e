"""`kvcalc schema`: the JSON Schema of each command's JSON output, from its typed records."""

from __future__ import annotations

import json
import sys
from typing import Any

from kvcalc.errors import InputError
from kvcalc.render.records import SCHEMA_VERSION

COMMANDS = (
    "estimate", "speculative", "compare", "sweep", "fit", "gpus", "presets", "inspect", "bench",
)  # fmt: skip


def _record_type(command: str) -> Any:
    """The typed record behind `command --json` (compare and sweep print lists of estimates)."""
    if command in ("estimate", "compare", "sweep"):
        from kvcalc.render.record_types import EstimateRecord

        return EstimateRecord if command == "estimate" else list[EstimateRecord]
    if command == "speculative":
        from kvcalc.render.speculative_view import SpeculationRecord

        return SpeculationRecord
    if command in ("fit", "gpus"):
        from kvcalc.render.fit_json import FitRecord, GpuRecord

        return FitRecord if command == "fit" else list[GpuRecord]
    if command == "presets":
        from kvcalc.render.presets_table import PresetRecord

        return list[PresetRecord]
    if command == "inspect":
        from kvcalc.render.inspect_view import InspectRecord

        return InspectRecord
    if command == "bench":
        from kvcalc.bench.render import BenchRecord

        return BenchRecord
    raise InputError(f"no JSON schema for {command!r}; choose one of {', '.join(COMMANDS)}")


def command_schema(command: str = "estimate") -> dict[str, Any]:
    from pydantic import TypeAdapter

    schema: dict[str, Any] = TypeAdapter(_record_type(command)).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"kvcalc {command} --json, schema_version {SCHEMA_VERSION}"
    if command == "estimate":
        schema["properties"]["schema_version"]["const"] = SCHEMA_VERSION
    return schema


def estimate_schema() -> dict[str, Any]:
    return command_schema("estimate")


def render_schema(command: str = "estimate") -> None:
    print(json.dumps(command_schema(command), indent=2), file=sys.stdout)
