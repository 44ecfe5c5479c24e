"""`--format csv`: a header and one row per estimate, in a fixed, documented column order."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable

from kvcalc.planning.estimation import Estimate
from kvcalc.render.records import estimate_record

COLUMNS = (
    "model", "source_kind", "source_location", "model_type", "attention", "num_layers",
    "num_kv_heads", "head_dim", "dtype", "bits_per_element", "batch", "seq_len",
    "bytes_per_token", "total_bytes",
)  # fmt: skip


def csv_row(estimate: Estimate) -> list[object]:
    record = estimate_record(estimate)
    flat: dict[str, object] = {
        **record,
        "source_kind": record["source"]["kind"],
        "source_location": record["source"]["location"],
    }
    return [flat[column] for column in COLUMNS]


def render_csv(estimates: Iterable[Estimate]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(COLUMNS)
    for estimate in estimates:
        writer.writerow(csv_row(estimate))
