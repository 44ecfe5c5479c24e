"""The capacity-planning commands `compare`, `sweep` and `plot`, registered on the main app."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kvcalc.cli.messages import say, say_error, say_note, say_traceback
from kvcalc.cli.options import (
    BatchesOpt,
    BatchOpt,
    DtypesOpt,
    EngineOpt,
    JsonOpt,
    ModelsArg,
    OptionalModelsArg,
    OutputFormat,
    SeqsOpt,
    TimeoutOpt,
    TokenOpt,
)
from kvcalc.cli.streams import OutputError, output_failed

if TYPE_CHECKING:
    from kvcalc.planning.compare import ModelFailure
    from kvcalc.planning.estimation import Estimate, LoadedModel

COMPARE_SEQS = "8k,32k,128k"
SWEEP_SEQS = "1k..128k"

FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option("--format", "-f", help="Output format.", case_sensitive=False, show_default=False),
]
GpuMemoryOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--gpu-memory",
        help="GPU memory to draw as a line, repeated or comma-separated: 80GiB, 80GB, 24GiB.",
        show_default=False,
    ),
]
PlotGpuOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--gpu",
        "-g",
        help="GPU from the catalogue (see `kvcalc gpus`) to draw as a line, repeated or "
        "comma-separated: h100, l4.",
        show_default=False,
    ),
]
PlotOutputOpt = Annotated[
    Path, typer.Option("--output", "-o", help="Image to write: .png, .svg or .pdf.")
]


def _dtypes(texts: list[str] | None) -> tuple[str, ...]:
    """Dtype names checked before any model is loaded; `auto` stays for each model to resolve."""
    from kvcalc.model.dtypes import parse_dtype
    from kvcalc.planning.grid import parse_names

    names = parse_names(texts or ["auto"], what="--dtype")
    for name in names:
        if name.lower() != "auto":
            parse_dtype(name)
    return names


def _load(
    models: Sequence[str], token: str | None, timeout: float
) -> list[LoadedModel | ModelFailure]:
    from kvcalc.planning.compare import load_models
    from kvcalc.sources.resolve import HubOptions

    return load_models(models, HubOptions(None, token, timeout))


def _say_notes(estimates: Sequence[Estimate]) -> None:
    from kvcalc.planning.compare import model_notes

    for note in model_notes(estimates):
        say_note(note)


def _exit_for(failures: Sequence[ModelFailure]) -> None:
    """A line per failure, after the others' output; exit with the first failure's code."""
    from kvcalc.planning.compare import failure_lines

    if os.environ.get("KVCALC_DEBUG"):
        for failure in failures:
            say_traceback(failure.error)
    for line in failure_lines(failures):
        say_error(line)
    if failures:
        raise typer.Exit(failures[0].error.exit_code)


def _write(render: Callable[[], None]) -> None:
    """Render to stdout; a reader that stops early (`| head`) ends the run quietly (exit 141)."""
    try:
        render()
        sys.stdout.flush()
    except OutputError as error:
        output_failed(error)


def _format(output: OutputFormat | None, as_json: bool, default: OutputFormat) -> OutputFormat:
    return OutputFormat.json if as_json else output or default


def compare(
    models: OptionalModelsArg = None,
    dtype: DtypesOpt = None,
    seq: SeqsOpt = None,
    batch: BatchOpt = "1",
    engine: EngineOpt = "default",
    as_json: JsonOpt = False,
    output: FormatOpt = None,
    token: TokenOpt = None,
    timeout: TimeoutOpt = 10.0,
) -> None:
    """KV cache of several models side by side: a row per model and dtype, a column per length.

    Without models, the bundled headline presets. Sizes are in GiB and GB; each dtype's change
    is against the model's own (auto) dtype. --seq defaults to 8k,32k,128k.

    Example: kvcalc compare llama-3-8b qwen3-8b --dtype bf16,fp8 --seq 8k,128k
    """
    from kvcalc.planning import compare as planning
    from kvcalc.planning.grid import check_grid_size, parse_seqs
    from kvcalc.units import parse_count

    dtypes, seqs = _dtypes(dtype), parse_seqs(seq or [COMPARE_SEQS])
    batch_size = parse_count(batch, what="--batch")
    planning.check_engine(engine)
    references = list(dict.fromkeys(models or planning.headline_models()))
    chosen = _format(output, as_json, OutputFormat.table)
    check_grid_size(len(references), len(dtypes), len(seqs),
                    table="compare" if chosen is OutputFormat.table else None)  # fmt: skip
    rows, failures = planning.compare(
        _load(references, token, timeout), dtypes, seqs, batch_size, engine
    )
    _say_notes([one for row in rows for one in (*row.estimates, *row.baseline)])
    estimates = [one for row in rows for one in row.estimates]
    if rows and chosen is OutputFormat.json:
        from kvcalc.render.rows_format import render_json_rows

        _write(lambda: render_json_rows(estimates))
    elif rows and chosen is OutputFormat.csv:
        from kvcalc.render.csv_format import render_csv

        _write(lambda: render_csv(estimates))
    elif rows:
        from kvcalc.render.compare_table import render_compare

        _write(lambda: render_compare(rows, seqs, batch_size))
    _exit_for(failures)


def sweep(
    models: ModelsArg,
    seq: SeqsOpt = None,
    batch: BatchesOpt = None,
    dtype: DtypesOpt = None,
    engine: EngineOpt = "default",
    as_json: JsonOpt = False,
    output: FormatOpt = None,
    token: TokenOpt = None,
    timeout: TimeoutOpt = 10.0,
) -> None:
    """Every model x dtype x length x batch, one row each, for planning spreadsheets.

    CSV by default (the columns of estimate --format csv); json (an array of estimate --json
    records) and table also. Rows go model, dtype, length, batch. --seq defaults to 1k..128k.

    Example: kvcalc sweep llama-3-8b --seq 1k..128k --batch 1,8,32 --dtype fp8
    """
    from kvcalc.planning import compare as planning
    from kvcalc.planning.grid import check_grid_size, parse_batches, parse_seqs

    dtypes, seqs = _dtypes(dtype), parse_seqs(seq or [SWEEP_SEQS])
    batches = parse_batches(batch or ["1"])
    planning.check_engine(engine)
    chosen = _format(output, as_json, OutputFormat.csv)
    references = list(dict.fromkeys(models))
    check_grid_size(len(references), len(dtypes), len(seqs), len(batches),
                    table="sweep" if chosen is OutputFormat.table else None,
                    batch_estimated=engine.lower() != "default")  # fmt: skip
    grid, failures = planning.sweep(
        _load(references, token, timeout), dtypes, seqs, batches, engine
    )
    _say_notes(grid.bases)
    if grid.bases and chosen is OutputFormat.csv:
        from kvcalc.render.rows_format import render_sweep_csv

        _write(lambda: render_sweep_csv(grid.rows()))
    elif grid.bases and chosen is OutputFormat.json:
        from kvcalc.render.rows_format import render_json_rows

        _write(lambda: render_json_rows(row.estimate() for row in grid.rows()))
    elif grid.bases:
        from kvcalc.render.compare_table import render_sweep_table

        _write(lambda: render_sweep_table(grid.rows()))
    _exit_for(failures)


def plot(
    models: ModelsArg,
    output: PlotOutputOpt,
    seq: SeqsOpt = None,
    dtype: DtypesOpt = None,
    batch: BatchOpt = "1",
    gpu: PlotGpuOpt = None,
    gpu_memory: GpuMemoryOpt = None,
    engine: EngineOpt = "default",
    token: TokenOpt = None,
    timeout: TimeoutOpt = 10.0,
) -> None:
    """Draw KV-cache size against context length, a line per model and dtype, to an image.

    GPUs named with --gpu (their memory from the catalogue) and sizes given with --gpu-memory
    are drawn as horizontal lines; lengths past a model's max_position_embeddings are faded.
    Needs matplotlib: pip install 'kvcalc[plot]'. --seq defaults to 1k..128k.

    Example: kvcalc plot llama-3-8b qwen3-8b --gpu h100 --gpu-memory 24GiB -o kv.png
    """
    from kvcalc.planning import compare as planning
    from kvcalc.planning.grid import check_grid_size, parse_seqs
    from kvcalc.render.plot import check_plot_output, write_plot
    from kvcalc.units import parse_count

    check_plot_output(output)
    dtypes, seqs = _dtypes(dtype), parse_seqs(seq or [SWEEP_SEQS])
    batch_size = parse_count(batch, what="--batch")
    capacities = _capacity_lines(gpu, gpu_memory)
    planning.check_engine(engine)
    check_grid_size(len(set(models)), len(dtypes), len(seqs))
    rows, failures = planning.compare(
        _load(models, token, timeout), dtypes, seqs, batch_size, engine
    )
    _say_notes([one for row in rows for one in row.estimates])
    if rows:
        write_plot(rows, capacities, batch_size, output)
        say(f"wrote {output}")
    _exit_for(failures)


def _capacity_lines(gpus: list[str] | None, memories: list[str] | None) -> list[tuple[str, int]]:
    """The horizontal lines of `plot`: catalogue GPUs, then sizes, each (label, bytes)."""
    from kvcalc.planning.grid import parse_names
    from kvcalc.render.plot import gpu_line, memory_line

    lines = []
    if gpus:
        from kvcalc.planning.gpus import find_gpu

        lines += [gpu_line(find_gpu(name)) for name in parse_names(gpus, what="--gpu")]
    if memories:
        from kvcalc.sizes import parse_size

        texts = parse_names(memories, what="--gpu-memory")
        lines += [memory_line(text, parse_size(text, what="--gpu-memory")) for text in texts]
    return lines


def register(app: typer.Typer) -> None:
    """Add `compare`, `sweep` and `plot` to `app`."""
    for command in (compare, sweep, plot):
        app.command()(command)
