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


# The cells a batch changes, in column order; every other cell of a row is its base's.
BATCH_COLUMNS = ("batch", "total_bytes", "total_gib", "total_gb", *KIND_COLUMNS)
GIB, GB = 1024**3, 1000**3


def line_pieces(base: Estimate) -> tuple[list[str], tuple[int, ...]]:
    """The CSV line of `base` cut where the cells of `BATCH_COLUMNS` go, but the layer kinds
    it has none of (0 at any batch); and the bytes of the kinds it has."""
    cells = csv_row(base)
    kinds = tuple(size for size in kind_bytes(base) if size)
    for column in BATCH_COLUMNS:
        if cells[COLUMNS.index(column)] != 0 or column not in KIND_COLUMNS:
            cells[COLUMNS.index(column)] = _CUT
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().split(_CUT), kinds


def render_sweep_csv(rows: Iterable[SweepRow], out: TextIO | None = None) -> None:
    """The CSV of `estimate --format csv`, a row per grid point.

    The rows of one base estimate differ only in the cells a batch changes, so each base is
    rendered once and its line reused: 100,000 rows take a fraction of a second. A base at
    batch 1 scales by the row's batch (`with_batch`); a base estimated at the row's own batch
    (an engine other than default) is the row.
    """
    out = out or sys.stdout
    csv.writer(out, lineterminator="\n").writerow(COLUMNS)
    base: Estimate | None = None
    lines: list[str] = []
    for row in rows:
        if row.base is not base:
            out.write("".join(lines))
            lines.clear()
            base = row.base
            pieces, kinds = line_pieces(base)
            first, by_batch, by_total, by_gib, by_gb, *by_kind = pieces
            kind_cells = tuple(zip(kinds, by_kind, strict=True))
        total, scale = row.total_bytes, 1 if base.workload.batch == row.batch else row.batch
        lines.append(f"{first}{row.batch}{by_batch}{total}{by_total}{total / GIB}{by_gib}"
                     f"{total / GB}{by_gb}")  # fmt: skip
        lines.extend(f"{scale * size}{piece}" for size, piece in kind_cells)
    out.write("".join(lines))
