"""The bench's outputs: a Rich table, a JSON record, a latency plot and a progress bar."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from typing_extensions import TypedDict  # pydantic reads it for `kvcalc schema`

from kvcalc.bench.timing import BenchReport, LengthTiming, SpeculativeTiming
from kvcalc.errors import KvcalcError

if TYPE_CHECKING:
    from rich.box import Box
    from rich.table import Table

MATPLOTLIB_HINT = "-o needs matplotlib: pip install matplotlib"


class LengthRecord(TypedDict):
    seq_len: int
    uncached_s_per_token: float
    cached_s_per_token: float
    speedup: float
    cache_bytes: int
    kvcalc_bytes: int


class SpeculativeRecord(TypedDict):
    lookahead: int
    draft_layers: int
    prompt_tokens: int
    new_tokens: int
    proposed: int
    accepted: int
    acceptance_rate: float
    target_passes: int
    tokens_per_target_pass: float
    speculative_s: float
    greedy_s: float
    matches_greedy: bool


class BenchRecord(TypedDict):
    config: dict[str, object]  # the bench model's config.json, as kvcalc read it
    dtype: str
    warmup: int
    repeats: int
    lengths: list[LengthRecord]
    crossover_seq_len: int | None
    speculative: SpeculativeRecord | None


def bench_record(report: BenchReport) -> BenchRecord:
    """The report as plain JSON values; times are medians in seconds."""
    config: dict[str, object] = json.loads(report.config.to_config_json())
    return {
        "config": config,
        "dtype": report.config.dtype,
        "warmup": report.repetitions.warmup,
        "repeats": report.repetitions.repeats,
        "lengths": [_length_record(timing) for timing in report.lengths],
        "crossover_seq_len": report.crossover,
        "speculative": None if report.speculative is None else _speculative(report.speculative),
    }


def print_json(report: BenchReport) -> None:
    sys.stdout.write(json.dumps(bench_record(report), indent=2) + "\n")


def print_table(report: BenchReport) -> None:
    """The latency table, the crossover and the speculative run, on stdout."""
    from kvcalc.render.console import stdout_console, table_box

    console = stdout_console()
    box = table_box(console)
    console.print(_latency_table(report, box))
    console.print(f"crossover: {_crossover_text(report)}")
    if report.speculative is not None:
        console.print(_speculative_table(report.speculative, box))


def require_matplotlib() -> None:
    """Fail before measuring, not after, when a plot is asked for and cannot be drawn."""
    if importlib.util.find_spec("matplotlib") is None:
        raise KvcalcError(MATPLOTLIB_HINT)


def write_plot(report: BenchReport, path: Path) -> None:
    """Per-token latency against position, both ways, with the crossover marked."""
    require_matplotlib()
    from matplotlib.figure import Figure

    positions = [timing.seq_len for timing in report.lengths]
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    axes.loglog(positions, [t.uncached_s * 1e3 for t in report.lengths], "o-", label="no cache")
    axes.loglog(positions, [t.cached_s * 1e3 for t in report.lengths], "s-", label="KV cache")
    if report.crossover is not None:
        label = f"crossover: {report.crossover:,} tokens"
        axes.axvline(report.crossover, color="grey", linestyle="--", label=label)
    axes.set_xlabel("position of the generated token")
    axes.set_ylabel("latency per token (ms, median)")
    axes.set_title(_title(report))
    axes.legend()
    try:
        figure.savefig(path, dpi=120)
    except OSError as error:
        raise KvcalcError(f"cannot write {path}: {error.strerror or error}") from None
    except ValueError as error:  # matplotlib's word for an image format it cannot write
        raise KvcalcError(f"cannot write {path}: {error}") from None


@contextmanager
def progress(total: int) -> Iterator[Callable[[str, int], None]]:
    """A progress bar on stderr, cleared when done; the function yielded reports finished work.

    It takes what was just done and its share of `total`.
    """
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("measuring", total=total)

        def advance(done: str, amount: int) -> None:
            bar.update(task, advance=amount, description=f"measured {done}")

        yield advance


def _crossover_text(report: BenchReport) -> str:
    crossover = report.crossover
    if crossover is None:
        return "the KV cache was not faster at the longest length measured"
    shortest = " (the shortest measured)" if crossover == report.lengths[0].seq_len else ""
    return f"the KV cache is faster per token from {crossover:,} tokens on{shortest}"


def _title(report: BenchReport) -> str:
    cfg = report.config
    return (
        f"{cfg.num_layers} layers, {cfg.num_heads} heads, {cfg.num_kv_heads} KV heads, "
        f"head_dim {cfg.head_dim}, {cfg.dtype}"
    )


def _latency_table(report: BenchReport, box: Box | None) -> Table:
    from rich.table import Table

    table = Table(title=f"KV cache bench: {_title(report)}", box=box)
    for header in ("tokens", "no cache", "KV cache", "speed-up", "cache bytes", "kvcalc bytes"):
        table.add_column(header, justify="right")
    for timing in report.lengths:
        agrees = "green" if timing.kvcalc_bytes == timing.cache_bytes else "bold red"
        table.add_row(
            f"{timing.seq_len:,}",
            _milliseconds(timing.uncached_s),
            _milliseconds(timing.cached_s),
            f"{timing.speedup:,.1f}x",
            f"{timing.cache_bytes:,}",
            f"[{agrees}]{timing.kvcalc_bytes:,}[/]",
        )
    reps = report.repetitions
    table.caption = f"ms per token, median of {reps.repeats} after {reps.warmup} warm-up"
    return table


def _speculative_table(spec: SpeculativeTiming, box: Box | None) -> Table:
    from rich.table import Table

    run = spec.run
    table = Table(title="speculative decoding", box=box, show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = (
        ("draft", f"the target's first {spec.draft_layers} layers"),
        ("tokens proposed per target pass (K)", str(spec.lookahead)),
        ("prompt / new tokens", f"{spec.prompt_tokens} / {len(run.tokens)}"),
        ("draft tokens accepted", f"{run.accepted} of {run.proposed}"),
        ("acceptance rate", f"{run.acceptance_rate:.1%}"),
        ("target forward passes", str(run.target_passes)),
        ("tokens per target pass", f"{run.tokens_per_target_pass:.2f}"),
        ("time, speculative / greedy", f"{spec.speculative_s:.3f} s / {spec.greedy_s:.3f} s"),
        ("output equals greedy", "yes" if spec.matches_greedy else "[bold red]NO[/]"),
    )
    for name, value in rows:
        table.add_row(name, value)
    return table


def _length_record(timing: LengthTiming) -> LengthRecord:
    return {
        "seq_len": timing.seq_len,
        "uncached_s_per_token": timing.uncached_s,
        "cached_s_per_token": timing.cached_s,
        "speedup": timing.speedup,
        "cache_bytes": timing.cache_bytes,
        "kvcalc_bytes": timing.kvcalc_bytes,
    }


def _speculative(spec: SpeculativeTiming) -> SpeculativeRecord:
    run = spec.run
    return {
        "lookahead": spec.lookahead,
        "draft_layers": spec.draft_layers,
        "prompt_tokens": spec.prompt_tokens,
        "new_tokens": len(run.tokens),
        "proposed": run.proposed,
        "accepted": run.accepted,
        "acceptance_rate": run.acceptance_rate,
        "target_passes": run.target_passes,
        "tokens_per_target_pass": run.tokens_per_target_pass,
        "speculative_s": spec.speculative_s,
        "greedy_s": spec.greedy_s,
        "matches_greedy": spec.matches_greedy,
    }


def _milliseconds(seconds: float) -> str:
    return f"{seconds * 1e3:,.3f} ms"
