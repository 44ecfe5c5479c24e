"""Many estimates as data: a JSON array of `estimate --json` records, or CSV rows."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable
from typing import TextIO

from kvcalc.planning.compare import SweepRow
from kvcalc.planning.estimation import Estimate
from kvcalc.render.csv_format import COLUMNS, KIND_COLUMNS, csv_row, kind_bytes
from kvcalc.render.records import estimate_record

_CUT = "\x00"  # marks the cells a batch changes; no CSV field of an estimate holds a NUL


def render_json_rows(estimates: Iterable[Estimate], out: TextIO | None = None) -> None:
    """A JSON array, one record per line, written as it is computed (a sweep can be large)."""
    out = out or sys.stdout
    separator = "[\n"
    for single in estimates:
        out.write(separator + json.dumps(estimate_record(single)))
        separator = ",\n"
    out.write("[]\n" if separator == "[\n" else "\n]\n")


# The cells a batch changes; every other cell of a row is its base estimate's.
BATCH_COLUMNS = ("batch", "total_bytes", "total_gib", "total_gb", *KIND_COLUMNS)


def line_pieces(base: Estimate) -> list[str]:
    """The CSV line of `base` cut where the cells of `BATCH_COLUMNS` go, in column order."""
    cells = csv_row(base)
    for column in BATCH_COLUMNS:
        cells[COLUMNS.index(column)] = _CUT
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().split(_CUT)


def batch_cells(row: SweepRow, base_kinds: tuple[int, ...]) -> dict[str, object]:
    """The cells of `BATCH_COLUMNS` for `row`, as `csv_row(row.estimate())` gives them.

    A base at batch 1 scales by the row's batch (`with_batch`); a base estimated at the row's
    own batch (an engine other than default) is the row.
    """
    scale = 1 if row.base.workload.batch == row.batch else row.batch
    total = row.total_bytes
    return {
        "batch": row.batch, "total_bytes": total, "total_gib": total / 1024**3,
        "total_gb": total / 1000**3,
        **{column: scale * size for column, size in zip(KIND_COLUMNS, base_kinds, strict=True)},
    }  # fmt: skip


def render_sweep_csv(rows: Iterable[SweepRow], out: TextIO | None = None) -> None:
    """The CSV of `estimate --format csv`, a row per grid point.

    The rows of one base estimate differ only in the cells a batch changes, so each base is
    rendered once and its line reused: 100,000 rows take a fraction of a second.
    """
    out = out or sys.stdout
    csv.writer(out, lineterminator="\n").writerow(COLUMNS)
    base: Estimate | None = None
    pieces: list[str] = []
    kinds: tuple[int, ...] = ()
    order = sorted(BATCH_COLUMNS, key=COLUMNS.index)
    for row in rows:
        if row.base is not base:
            base = row.base
            pieces, kinds = line_pieces(base), kind_bytes(base)
        cells = batch_cells(row, kinds)
        line = pieces[0]
        for column, piece in zip(order, pieces[1:], strict=True):
            line += f"{cells[column]}{piece}"
        out.write(line)
