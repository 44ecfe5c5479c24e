"""`kvcalc fit` and `kvcalc gpus` as Rich tables; the memory bar chart only in a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvcalc.planning.fit import Fit
from kvcalc.planning.gpus import CATALOGUE
from kvcalc.render.console import stdout_console, table_box
from kvcalc.units import format_bytes, format_size

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

BAR_WIDTH = 40


def size_text(size: int) -> str:
    """`1.00 GiB · 1.07 GB · 1,073,741,824 B`; a negative size reads as a shortfall."""
    if size < 0:
        return f"short by {size_text(-size)}"
    return f"{format_size(size)} · {format_bytes(size)}"


def _weights_text(result: Fit) -> str:
    weights = result.weights
    if weights.dtype is None:
        kinds = ", ".join(dtype for dtype, _ in weights.bytes_by_dtype)
        how = f"stored tensors ({kinds}) of {weights.location}"
    else:
        how = f"{weights.params:,} parameters x {weights.dtype} ({weights.source})"
    return f"{size_text(result.report.weights_bytes_per_gpu)}  [{how}]"


def _rows(result: Fit) -> list[tuple[str, str]]:
    report, par = result.report, result.report.parallelism
    util = f"{float(report.util):g}"
    limit = result.architecture.max_position_embeddings
    longest = report.max_seq_len
    longest_text = "no limit (every layer windowed)" if longest is None else f"{longest:,} tokens"
    if longest and limit and longest > limit:
        longest_text += f" (the model's own limit is {limit:,})"
    batch_text = "no limit" if report.max_batch is None else f"{report.max_batch:,}"
    speculation = (
        [("Speculative decoding", f"{size_text(report.speculative_bytes_per_request)} per request "
          f"(draft cache + write-ahead slots), draft weights "
          f"{size_text(report.draft_weights_bytes_per_gpu)} per GPU, both included above")]
        if report.draft_weights_bytes_per_gpu or report.speculative_bytes_per_request
        else []
    )  # fmt: skip
    return [
        ("Model", f"{result.source.name} ({result.source.kind}: {result.source.location})"),
        ("GPU", f"{result.gpu.label} · {size_text(result.gpu.memory_bytes)}"),
        ("GPUs", f"{par.gpus} = {par.replicas} replica(s) of tp {par.tp} x pp {par.pp}"),
        ("Usable per GPU", f"{size_text(report.usable_bytes)}  [floor(memory x {util})]"),
        ("Weights per GPU", _weights_text(result)),
        ("KV budget per GPU", f"{size_text(report.budget_bytes)}  [usable - weights]"),
        ("KV per token", f"{format_bytes(report.kv_bytes_per_token)} per GPU "
                         f"({result.kv_dtype.name})"),
        ("KV per request", f"{size_text(report.kv_bytes_per_request)} per GPU at "
                           f"{report.seq_len:,} tokens"),
        ("KV per GPU", f"{size_text(report.kv_bytes)} for batch {report.batch_per_replica:,}"
                       " per replica"),
        *speculation,
        ("Free per GPU", size_text(report.free_bytes)),
        (f"Largest batch at {report.seq_len:,}", batch_text),
        (f"Longest context at batch {report.batch:,}", longest_text),
        ("Fits", "yes" if report.fits else "NO"),
    ]  # fmt: skip


def render_fit_table(result: Fit, console: Console | None = None) -> None:
    """The fit as a two-column table, then (terminal only) each part's share of one GPU."""
    from rich.table import Table

    console = console or stdout_console()
    table = Table(
        title=f"Fit: {result.source.name} on {result.gpu.name}",
        box=table_box(console),
        show_header=False,
        title_justify="left",
    )
    table.add_column("field", style="bold")
    table.add_column("value")
    for field, value in _rows(result):
        style = "bold" if field == "Fits" else None
        table.add_row(field, value, style=style)
    console.print(table)
    if console.is_terminal:
        console.print(memory_chart(result))


def memory_parts(result: Fit) -> list[tuple[str, int, str]]:
    """(part, bytes, colour) of one GPU: weights, KV cache, free, and what util holds back."""
    report = result.report
    return [
        ("weights", report.weights_bytes_per_gpu, "blue"),
        ("KV cache", report.kv_bytes, "magenta" if report.fits else "red"),
        ("free", max(0, report.free_bytes), "green"),
        ("held back", report.gpu_bytes - report.usable_bytes, "bright_black"),
    ]


def memory_chart(result: Fit) -> Table:
    """One bar per part, scaled to the GPU's memory (or to the demand, if that is larger)."""
    from rich.table import Table
    from rich.text import Text

    parts = memory_parts(result)
    scale = max(result.report.gpu_bytes, sum(size for _, size, _ in parts))
    chart = Table(box=None, show_header=False, title="Share of one GPU", title_justify="left")
    for justify in ("left", "left", "right", "right"):
        chart.add_column(justify=justify)
    for name, size, colour in parts:
        cells = round(BAR_WIDTH * size / scale)
        bar = Text("█" * cells, style=colour) + Text("·" * (BAR_WIDTH - cells), style="dim")
        share = f"{100 * size / result.report.gpu_bytes:.1f}%"
        chart.add_row(name, bar, share, format_size(size))
    return chart


def render_gpus_table(console: Console | None = None) -> None:
    """The catalogue: name, what the driver reports, and where the figure comes from."""
    from rich.table import Table

    console = console or stdout_console()
    table = Table(title="GPU catalogue", box=table_box(console), title_justify="left")
    for column in ("name", "GPU", "MiB", "bytes", "size", "basis"):
        table.add_column(column, justify="right" if column in ("MiB", "bytes") else "left")
    for gpu in CATALOGUE:
        mib = gpu.memory_mib
        basis = gpu.basis if gpu.confirmed else f"UNCONFIRMED: {gpu.basis}"
        table.add_row(
            gpu.name, gpu.label, "-" if mib is None else f"{mib:,}",
            f"{gpu.memory_bytes:,}", format_size(gpu.memory_bytes), basis,
        )  # fmt: skip
    console.print(table)
