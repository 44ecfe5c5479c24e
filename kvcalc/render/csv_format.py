"""`--format csv`: a header and one row per estimate, in a fixed, documented column order."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable

from kvcalc.planning.estimation import Estimate
from kvcalc.render.records import estimate_record

# The layer kinds that hold bytes, each a `<kind>_bytes` column; they add up to total_bytes.
KINDS = ("full", "sliding", "chunked", "state", "cross")
KIND_COLUMNS = tuple(f"{kind}_bytes" for kind in KINDS)
# Columns are only ever appended: scripts read them by name or by position.
COLUMNS = (
    "model", "source_kind", "source_location", "model_type", "attention", "num_layers",
    "num_kv_heads", "head_dim", "dtype", "bits_per_element", "batch", "seq_len",
    "bytes_per_token", "total_bytes", "engine", "total_gib", "total_gb", *KIND_COLUMNS,
    "marginal_bytes_per_token", "beyond_max_position_embeddings",
)  # fmt: skip


def kind_bytes(estimate: Estimate) -> tuple[int, ...]:
    """The cache's bytes by layer kind, in `KINDS` order."""
    totals = dict.fromkeys(KINDS, 0)
    for group in estimate.groups:
        kind = group.group.kind.value
        if kind in totals:
            totals[kind] += group.total_bytes
    return tuple(totals.values())


def csv_row(estimate: Estimate) -> list[object]:
    record = estimate_record(estimate)
    flat: dict[str, object] = {
        **record,
        "source_kind": record["source"]["kind"],
        "source_location": record["source"]["location"],
        **dict(zip(KIND_COLUMNS, kind_bytes(estimate), strict=True)),
        "beyond_max_position_embeddings": str(estimate.beyond_max_position_embeddings).lower(),
    }
    return [flat[column] for column in COLUMNS]


def render_csv(estimates: Iterable[Estimate]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(COLUMNS)
    for estimate in estimates:
        writer.writerow(csv_row(estimate))
