"""`kvcalc plot`: KV-cache size against context length, one line per model and dtype."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kvcalc.errors import InputError, KvcalcError
from kvcalc.planning.compare import CompareRow
from kvcalc.render.compare_table import format_tokens
from kvcalc.units import GIB

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from kvcalc.planning.gpus import Gpu

PLOT_HINT = "kvcalc plot needs matplotlib: pip install 'kvcalc[plot]'"
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
DTYPE_STYLES = ("-", "--", "-.", ":")
CAPACITY_STYLES = ((0, (6, 3)), (0, (1, 2)), (0, (6, 2, 1, 2)))
BEYOND_ALPHA = 0.35


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


def memory_line(text: str, size: int) -> tuple[str, int]:
    """The line of `--gpu-memory 80GB`: its label and bytes."""
    return f"GPU {capacity_label(text, size)}", size


def gpu_line(gpu: Gpu) -> tuple[str, int]:
    """The line of `--gpu h100`: the catalogue's label and the memory `fit` divides."""
    size = gpu.budget_bytes
    limit = ", working-set limit" if size != gpu.memory_bytes else ""
    return f"{gpu.label} = {size / GIB:,.1f} GiB{limit}", size


def plot_title(rows: Sequence[CompareRow], batch: int) -> str:
    """What the lines are: batch, engine and cache dtypes."""
    engines = ", ".join(dict.fromkeys(row.estimates[0].engine for row in rows))
    dtypes = ", ".join(dict.fromkeys(row.estimates[0].dtype.name for row in rows))
    return f"KV cache by context length: batch {batch:,}, engine {engines}, {dtypes} cache"


def write_plot(
    rows: Sequence[CompareRow],
    capacities: Sequence[tuple[str, int]],
    batch: int,
    path: Path,
) -> None:
    """Lines of GiB against tokens (log2 axis), faded with crosses past the model's context;
    each GPU capacity (`memory_line`, `gpu_line`) a labelled horizontal line."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(8, 5), layout="constrained")
    axes = figure.add_subplot()
    _draw_rows(axes, rows)
    for index, (label, size) in enumerate(capacities):
        dashes = CAPACITY_STYLES[index % len(CAPACITY_STYLES)]
        axes.axhline(size / GIB, color="0.3", linestyle=dashes, linewidth=1.2, label=label)
    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda tokens, _: _tick(tokens)))
    axes.set_xlabel("context length (tokens per sequence; k = 1,024)")
    axes.set_ylabel("KV cache (GiB)")
    axes.set_ylim(bottom=0)
    axes.set_title(plot_title(rows, batch), fontsize="medium")
    axes.grid(visible=True, alpha=0.3)
    axes.legend(fontsize="small", loc="upper left")
    try:
        # SVG text stays text (searchable, editable) rather than outlines.
        with rc_context({"svg.fonttype": "none"}):
            figure.savefig(path, dpi=120)
    except OSError as error:
        raise KvcalcError(f"cannot write {path}: {error.strerror or error}") from None


def _draw_rows(axes: Axes, rows: Sequence[CompareRow]) -> None:
    """A line per model and dtype: colour by model, dash by dtype; the part past the model's
    max_position_embeddings faded, with crosses, and one legend entry saying so."""
    from matplotlib.lines import Line2D

    models = list(dict.fromkeys(row.model for row in rows))
    dtypes = list(dict.fromkeys(row.dtype_request.lower() for row in rows))
    beyond_any = False
    for row in rows:
        points = sorted(
            (one.workload.seq_len, one.total_bytes / GIB, one.beyond_max_position_embeddings)
            for one in row.estimates
        )
        color = f"C{models.index(row.model) % 10}"
        style = DTYPE_STYLES[dtypes.index(row.dtype_request.lower()) % len(DTYPE_STYLES)]
        within = [(seq, gib) for seq, gib, beyond in points if not beyond]
        # The faded part starts at the last point within, so the line stays unbroken.
        past = within[-1:] + [(seq, gib) for seq, gib, beyond in points if beyond]
        label = f"{row.model} {row.estimates[0].dtype.name}"
        if within:
            axes.plot(*zip(*within, strict=True), style, marker="o", markersize=3, color=color,
                      label=label)  # fmt: skip
        if len(past) > len(within[-1:]):
            beyond_any = True
            axes.plot(*zip(*past, strict=True), style, marker="x", markersize=4, color=color,
                      alpha=BEYOND_ALPHA, label=None if within else label)  # fmt: skip
    if beyond_any:
        axes.add_line(Line2D([], [], color="0.3", marker="x", alpha=BEYOND_ALPHA,
                             label="past max_position_embeddings"))  # fmt: skip


def _tick(tokens: float) -> str:
    whole = round(tokens)
    return format_tokens(whole) if whole >= 1 and whole == tokens else f"{tokens:g}"
