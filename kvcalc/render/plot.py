"""`kvcalc plot`: KV-cache size against context length, one line per model and dtype."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from kvcalc.errors import InputError, KvcalcError
from kvcalc.planning.compare import CompareRow
from kvcalc.render.compare_table import format_tokens
from kvcalc.units import GIB

PLOT_HINT = "kvcalc plot needs matplotlib: pip install 'kvcalc[plot]'"
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
DTYPE_STYLES = ("-", "--", "-.", ":")
CAPACITY_STYLES = ((0, (6, 3)), (0, (1, 2)), (0, (6, 2, 1, 2)))


def check_plot_output(path: Path) -> None:
    """Refuse, before any work, a plot that cannot be drawn or an image type we cannot write."""
    if importlib.util.find_spec("matplotlib") is None:
        raise KvcalcError(PLOT_HINT)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"-o {path}: write a {', '.join(IMAGE_SUFFIXES)} file")


def capacity_label(text: str, size: int) -> str:
    """`80GiB` as given, with its GiB figure when given in other units (`80GB = 74.5 GiB`)."""
    gib = size / GIB
    return text if text.lower().endswith("gib") else f"{text} = {gib:,.1f} GiB"


def write_plot(
    rows: Sequence[CompareRow],
    capacities: Sequence[tuple[str, int]],
    batch: int,
    path: Path,
) -> None:
    """Lines of GiB against tokens (log2 axis); each GPU capacity a labelled horizontal line."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(8, 5), layout="constrained")
    axes = figure.add_subplot()
    models = list(dict.fromkeys(row.model for row in rows))
    dtypes = list(dict.fromkeys(row.dtype_request.lower() for row in rows))
    for row in rows:
        points = sorted((one.workload.seq_len, one.total_bytes / GIB) for one in row.estimates)
        color = f"C{models.index(row.model) % 10}"
        style = DTYPE_STYLES[dtypes.index(row.dtype_request.lower()) % len(DTYPE_STYLES)]
        axes.plot(*zip(*points, strict=True), style, marker="o", markersize=3, color=color,
                  label=f"{row.model} {row.estimates[0].dtype.name}")  # fmt: skip
    for index, (text, size) in enumerate(capacities):
        dashes = CAPACITY_STYLES[index % len(CAPACITY_STYLES)]
        axes.axhline(size / GIB, color="0.3", linestyle=dashes, linewidth=1.2,
                     label=f"GPU {capacity_label(text, size)}")  # fmt: skip
    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda tokens, _: _tick(tokens)))
    axes.set_xlabel("context length (tokens per sequence; k = 1,024)")
    axes.set_ylabel("KV cache (GiB)")
    axes.set_ylim(bottom=0)
    axes.set_title(f"KV cache against context length, batch {batch:,}")
    axes.grid(visible=True, alpha=0.3)
    axes.legend(fontsize="small", loc="upper left")
    try:
        # SVG text stays text (searchable, editable) rather than outlines.
        with rc_context({"svg.fonttype": "none"}):
            figure.savefig(path, dpi=120)
    except OSError as error:
        raise KvcalcError(f"cannot write {path}: {error.strerror or error}") from None


def _tick(tokens: float) -> str:
    whole = round(tokens)
    return format_tokens(whole) if whole >= 1 and whole == tokens else f"{tokens:g}"
