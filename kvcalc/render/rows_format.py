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
from kvcalc.render.csv_format import COLUMNS, csv_row
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


def line_pieces(base: Estimate) -> tuple[str, str, str]:
    """The CSV line of `base` cut where its batch and total go, the cells a batch changes."""
    cells = csv_row(base)
    cells[COLUMNS.index("batch")] = cells[COLUMNS.index("total_bytes")] = _CUT
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    before, between, after = buffer.getvalue().split(_CUT)
    return before, between, after


def render_sweep_csv(rows: Iterable[SweepRow], out: TextIO | None = None) -> None:
    """The CSV of `estimate --format csv`, a row per grid point.

    The rows of one base estimate differ only in batch and total, so each base is rendered once
    and its line reused: 100,000 rows take a fraction of a second.
    """
    out = out or sys.stdout
    csv.writer(out, lineterminator="\n").writerow(COLUMNS)
    base: Estimate | None = None
    before = between = after = ""
    for row in rows:
        if row.base is not base:
            base = row.base
            before, between, after = line_pieces(base)
        out.write(f"{before}{row.batch}{between}{row.total_bytes}{after}")
