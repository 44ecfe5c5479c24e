"""`kvcalc fit` and `kvcalc gpus` as Rich tables; the memory bar chart only in a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kvcalc.planning.choices import Option
from kvcalc.planning.fit import Fit
from kvcalc.planning.gpus import CATALOGUE
from kvcalc.render.console import stdout_console, table_box
from kvcalc.render.safe_text import LINE_MAX_CHARS, table_value
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
    if weights.source == "given":
        how = "--weights"
    elif weights.dtype is None and not weights.bytes_by_dtype:
        how = f"the checkpoint's stored bytes recorded for {weights.location}: {weights.basis}"
    elif weights.dtype is None:
        kinds = ", ".join(dtype for dtype, _ in weights.bytes_by_dtype)
        how = f"stored tensors ({kinds}) of {weights.location}"
    else:
        how = f"{weights.params:,} parameters x {weights.dtype} ({weights.source})"
    return f"{size_text(result.report.weights_bytes_per_gpu)}  [{how}]"


def _reserve_text(result: Fit) -> str:
    reserve = result.report.budget.reserve
    parts = ", ".join(f"{name} {format_size(size)}" for name, size in reserve.parts)
    return f"{size_text(reserve.total_bytes)}  [{reserve.basis}{': ' + parts if parts else ''}]"


def _verdict(result: Fit) -> str:
    reason = result.report.reason
    return "yes" if reason is None else f"NO ({REASONS[reason]})"


REASONS = {
    "weights": "the weights do not fit",
    "context": "not one request of this length fits",
    "kv": "the KV cache of the batch does not fit",
}


def _rows(result: Fit) -> list[tuple[str, str]]:
    report, par = result.report, result.report.parallelism
    budget = report.budget
    limit = report.max_position_embeddings
    longest = report.max_seq_len
    longest_text = "no limit (every layer windowed)" if longest is None else f"{longest:,} tokens"
    if longest and limit and longest > limit:
        longest_text += f" (the model's own limit is {limit:,})"
    speculation = (
        [("Speculative decoding", f"{size_text(report.speculative_bytes_per_request)} per request "
          f"(draft cache + write-ahead slots), draft weights "
          f"{size_text(report.draft_weights_bytes_per_gpu)} per GPU, both included above")]
        if report.draft_weights_bytes_per_gpu or report.speculative_bytes_per_request
        else []
    )  # fmt: skip
    usable = ("given" if budget.util is None
              else f"ceil(memory x {float(budget.util):g})")  # fmt: skip
    solved = " (found by the solver)" if result.solved else ""
    engine_log = [(f"{report.engine} log" if index == 0 else "", line)
                  for index, line in enumerate(report.capacity.pool.lines)]  # fmt: skip
    return [
        ("Model", f"{result.source.name} ({result.source.kind}: {result.source.location})"),
        ("GPU", f"{result.gpu.label} · {size_text(result.gpu.memory_bytes)}"),
        ("Engine", report.engine),
        ("GPUs", f"{par.gpus} = {par.replicas} replica(s) of tp {par.tp} x pp {par.pp}{solved}"),
        ("Usable per GPU", f"{size_text(budget.usable_bytes)}  [{usable}]"),
        ("Weights per GPU", _weights_text(result)),
        ("Reserve per GPU", _reserve_text(result)),
        ("KV budget per GPU", f"{size_text(budget.kv_budget_bytes)}  [usable - weights - reserve]"),
        ("KV per request", f"{size_text(report.kv_bytes_per_request)} per GPU at "
                           f"{report.seq_len:,} tokens ({result.kv_dtype.name})"),
        ("KV per GPU", f"{size_text(report.kv_bytes)} for batch {report.batch_per_replica:,}"
                       " per replica"),
        *speculation,
        ("Free per GPU", size_text(report.free_bytes)),
        *engine_log,
        (f"Largest batch at {report.seq_len:,}", f"{report.max_batch:,}"),
        (f"Longest context at batch {report.batch:,}", longest_text),
        ("Fits", _verdict(result)),
        *[("Assumes" if index == 0 else "", line)
          for index, line in enumerate(report.result.assumptions)],
    ]  # fmt: skip


def render_fit_table(result: Fit, console: Console | None = None) -> None:
    """The fit as a two-column table, then (terminal only) each part's share of one GPU."""
    from rich.table import Table

    console = console or stdout_console()
    table = Table(
        title=table_value(f"Fit: {result.source.name} on {result.gpu.name}"),
        box=table_box(console),
        show_header=False,
        title_justify="left",
    )
    table.add_column("field", style="bold")
    table.add_column("value")
    for field, value in _rows(result):
        style = "bold" if field == "Fits" else None
        # Escaped whole: names, paths, dtypes and GPU labels show as written, never as markup.
        table.add_row(table_value(field), table_value(value, LINE_MAX_CHARS), style=style)
    console.print(table)
    if console.is_terminal:
        console.print(memory_chart(result))


def memory_parts(result: Fit) -> list[tuple[str, int, str]]:
    """(part, bytes, colour) of one GPU: weights, reserve, KV cache, free, held back."""
    report = result.report
    budget = report.budget
    gpu = result.gpu.budget_bytes
    return [
        ("weights", budget.weights_bytes, "blue"),
        ("reserve", budget.reserve.total_bytes, "yellow"),
        ("KV cache", report.kv_bytes, "magenta" if report.fits else "red"),
        ("free", max(0, report.free_bytes), "green"),
        ("held back", max(0, gpu - budget.usable_bytes), "bright_black"),
    ]


def memory_chart(result: Fit) -> Table:
    """One bar per part, scaled to the GPU's memory (or to the demand, if that is larger)."""
    from rich.table import Table
    from rich.text import Text

    parts = memory_parts(result)
    gpu = result.gpu.budget_bytes
    scale = max(gpu, sum(size for _, size, _ in parts))
    over = "" if scale == gpu else f" (the demand, {format_size(scale)}, exceeds it)"
    chart = Table(box=None, show_header=False, title=f"Share of one GPU{over}",
                  title_justify="left")  # fmt: skip
    for justify in ("left", "left", "right", "right"):
        chart.add_column(justify=justify)
    for name, size, colour in parts:
        cells = round(BAR_WIDTH * size / scale)
        bar = Text("█" * cells, style=colour) + Text("·" * (BAR_WIDTH - cells), style="dim")
        share = f"{100 * size / gpu:.1f}%"
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
            table_value(gpu.name), table_value(gpu.label), "-" if mib is None else f"{mib:,}",
            f"{gpu.memory_bytes:,}", format_size(gpu.memory_bytes), table_value(basis),
        )  # fmt: skip
    console.print(table)


def render_options_table(options: list[Option], console: Console | None = None) -> None:
    """`fit --gpu any`: the cheapest deployments, fewest GPUs first."""
    from rich.table import Table

    console = console or stdout_console()
    table = Table(title="Cheapest deployments that fit", box=table_box(console),
                  title_justify="left")  # fmt: skip
    for column in ("GPU", "GPUs", "tp x pp", "memory in all", "KV budget / GPU", "largest batch"):
        table.add_column(column, justify="left" if column == "GPU" else "right")
    for option in options:
        report = option.result.report
        par = report.parallelism
        table.add_row(
            table_value(option.gpu.name), f"{par.gpus}", f"{par.tp} x {par.pp}",
            format_size(option.total_memory_bytes), format_size(report.budget.kv_budget_bytes),
            f"{report.max_batch:,}",
        )  # fmt: skip
    console.print(table)
