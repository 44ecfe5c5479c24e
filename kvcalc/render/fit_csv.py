"""`kvcalc fit --format csv`: a header and one row, for spreadsheets and shell scripts."""

from __future__ import annotations

import csv
import sys

from kvcalc.planning.fit import Fit
from kvcalc.render.fit_json import fit_record

COLUMNS = (
    "model", "engine", "gpu", "gpus", "tp", "pp", "kv_dtype", "batch", "seq_len", "fits",
    "reason", "weights_bytes_per_gpu", "reserve_bytes_per_gpu", "kv_budget_bytes_per_gpu",
    "kv_bytes_per_gpu", "kv_tokens_per_gpu", "max_concurrency", "max_batch", "max_seq_len",
)  # fmt: skip


def render_fit_csv(result: Fit) -> None:
    record = fit_record(result)
    row = {
        **{key: record[key] for key in COLUMNS if key in record},  # type: ignore[literal-required]
        "gpu": record["gpu"]["name"],
        "weights_bytes_per_gpu": record["weights"]["bytes_per_gpu"],
        "fits": "yes" if record["fits"] else "no",
        "reason": record["reason"] or "",
        "max_seq_len": "" if record["max_seq_len"] is None else record["max_seq_len"],
    }
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerow([row[column] for column in COLUMNS])
