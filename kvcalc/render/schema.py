"""`kvcalc schema`: the JSON Schema of `--json` output, generated from its typed records."""

from __future__ import annotations

import json
import sys
from typing import Any

from kvcalc.render.records import SCHEMA_VERSION, EstimateRecord


def estimate_schema() -> dict[str, Any]:
    from pydantic import TypeAdapter

    schema = TypeAdapter(EstimateRecord).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"kvcalc estimate --json, schema_version {SCHEMA_VERSION}"
    schema["properties"]["schema_version"]["const"] = SCHEMA_VERSION
    return schema


def render_schema() -> None:
    print(json.dumps(estimate_schema(), indent=2), file=sys.stdout)
