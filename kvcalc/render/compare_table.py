"""`kvcalc compare` and `kvcalc sweep --format table`: estimates side by side in a Rich table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from kvcalc.planning.compare import CompareRow, SweepRow
from kvcalc.planning.grid import SeqValue
from kvcalc.render.console import stdout_console, table_box
from kvcalc.render.safe_text import table_value
from kvcalc.units import format_bytes, format_gb, format_gib

if TYPE_CHECKING:
    from rich.box import Box
    from rich.console import Console, RenderableType
    from rich.table import Table

BAR_WIDTH = 16
BEYOND_MARK = "*"  # ASCII: it survives any terminal encoding
BEYOND_CAPTION = f"{BEYOND_MARK} past max_position_embeddings"


def format_tokens(tokens: int) -> str:
    """`8k`, `128k`, `1m` where the count is a whole number of them (k = 1,024), else `8,000`."""
    for suffix, size in (("m", 1024**2), ("k", 1024)):
        if tokens % size == 0:
            return f"{tokens // size}{suffix}"
    return f"{tokens:,}"


def change_text(saving: Fraction) -> str:
    """The size change a saving means: `-50%`, `+100%`, `same`."""
    percent = -saving * 100
    if percent == 0:
        return "same"
    return f"{float(percent):+.0f}%" if percent.denominator == 1 else f"{float(percent):+.1f}%"


def size_cell(size: int, stacked: bool) -> str:
    """GiB and GB of `size`, on one line or two."""
    return f"{format_gib(size)}{chr(10) if stacked else ' · '}{format_gb(size)}"


def _longest(row: CompareRow) -> int:
    return max(single.total_bytes for single in row.estimates)


def _change(row: CompareRow) -> str:
    return "own" if row.dtype_request.lower() == "auto" else change_text(row.saving)


def compare_table(
    rows: Sequence[CompareRow],
    seqs: Sequence[SeqValue],
    batch: int,
    box: Box | None,
    *,
    stacked: bool,
    bars: bool,
) -> Table:
    """The table of `render_compare`: sizes on one line or two, with or without bars."""
    from rich.bar import Bar
    from rich.table import Table

    with_change = any(row.dtype_request.lower() != "auto" for row in rows)
    beyond = any(one.beyond_max_position_embeddings for row in rows for one in row.estimates)
    engines = {one.engine for row in rows for one in row.estimates}
    engine = f", engine {', '.join(sorted(engines))}" if engines != {"default"} else ""
    title = f"KV cache, batch {batch:,}{engine}, by tokens per sequence (k = 1,024)"
    caption = "GiB = 1024³ bytes, GB = 10⁹ bytes" + (f"; {BEYOND_CAPTION}" if beyond else "")
    table = Table(
        title=title,
        caption=caption,
        min_width=max(len(title), len(caption)),  # a narrow table would fold them
        box=box,
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("model", no_wrap=True)
    table.add_column("dtype", no_wrap=True)
    for seq in seqs:
        table.add_column("max" if seq == "max" else format_tokens(seq), justify="right")
    if with_change:
        table.add_column("vs own dtype" if not stacked else "vs own", justify="right")
    if bars:
        table.add_column("size", no_wrap=True)
    largest = max((_longest(row) for row in rows), default=0) or 1
    for row in rows:
        cells: list[RenderableType] = [table_value(row.model),
                                       table_value(row.estimates[0].dtype.name)]  # fmt: skip
        for seq, single in zip(seqs, row.estimates, strict=True):
            held = f" ({format_tokens(single.workload.seq_len)})" if seq == "max" else ""
            mark = f" {BEYOND_MARK}" if single.beyond_max_position_embeddings else ""
            cells.append(size_cell(single.total_bytes, stacked) + held + mark)
        cells += [_change(row)] if with_change else []
        cells += [Bar(largest, 0, _longest(row), width=BAR_WIDTH, color="cyan")] if bars else []
        table.add_row(*cells)
    return table


def render_compare(
    rows: Sequence[CompareRow],
    seqs: Sequence[SeqValue],
    batch: int,
    console: Console | None = None,
) -> None:
    """Rows model x dtype, a column per length; in a terminal a bar of each row's largest size.

    The widest layout that fits: sizes on one line, then on two, then (terminal) without bars.
    """
    from rich.measure import Measurement

    console = console or stdout_console()
    unbounded = console.options.update(max_width=10**6)  # measure the natural width, not a cut
    layouts = [(False, True), (True, True)] if console.is_terminal else [(False, False)]
    for stacked, bars in [*layouts, (True, False)]:
        table = compare_table(rows, seqs, batch, table_box(console), stacked=stacked, bars=bars)
        natural = Measurement.get(console, unbounded, table).maximum
        if natural <= console.width:
            break
    # Too wide even stacked: let the terminal wrap the lines rather than cut columns away.
    console.print(table, width=max(natural, console.width))


def render_sweep_table(rows: Iterable[SweepRow], console: Console | None = None) -> None:
    """One line per grid point: for small grids (CSV is the format for large ones)."""
    from rich.table import Table

    console = console or stdout_console()
    table = Table(box=table_box(console), title="KV cache sweep", title_justify="left",
                  caption_justify="left")  # fmt: skip
    engines: set[str] = set()
    for header in ("model", "dtype", "tokens", "batch", "GiB", "GB", "bytes"):
        table.add_column(header, justify="left" if header in ("model", "dtype") else "right")
    for row in rows:
        base = row.base
        mark = f" {BEYOND_MARK}" if base.beyond_max_position_embeddings else ""
        if mark:
            table.caption = BEYOND_CAPTION
        engines.add(base.engine)
        table.add_row(
            table_value(base.source.name),
            table_value(base.dtype.name),
            f"{base.workload.seq_len:,}{mark}",
            f"{row.batch:,}",
            format_gib(row.total_bytes).removesuffix(" GiB"),
            format_gb(row.total_bytes).removesuffix(" GB"),
            format_bytes(row.total_bytes).removesuffix(" B"),
        )
    if engines != {"default"}:
        table.title = f"KV cache sweep, engine {', '.join(sorted(engines))}"
    table.min_width = max(len(str(table.title)), len(str(table.caption or "")))
    console.print(table)
