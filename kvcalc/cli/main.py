"""The `kvcalc` command line: a thin Typer layer over the library."""

import io
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kvcalc import __version__
from kvcalc.cli.engine_options import (
    AttentionWindowsOpt,
    GpuArchOpt,
    KvUnifiedOpt,
    MambaDtypeOpt,
    MambaSsmDtypeOpt,
    MambaStrategyOpt,
    MaxBatchedTokensOpt,
    MaxSeqsOpt,
    PrefixCachingOpt,
    deployment,
)
from kvcalc.cli.messages import say, say_block, say_error, say_note, say_traceback
from kvcalc.cli.options import (
    BatchOpt,
    BlockSizeOpt,
    DtypeOpt,
    EncSeqOpt,
    EngineOpt,
    FormatOpt,
    JsonOpt,
    ModelArg,
    OutputFormat,
    QuietOpt,
    RevisionOpt,
    SeqOpt,
    TimeoutOpt,
    TokenOpt,
    Units,
    UnitsOpt,
)
from kvcalc.cli.streams import OutputError, guarded_streams, output_failed, restore_interrupt
from kvcalc.errors import ExitCode, InputError, KvcalcError
from kvcalc.sources.resolve import HubOptions

MAX_SPEC_TOKENS = 1024  # draft tokens per step; real drafts propose 1 to ~16

if TYPE_CHECKING:
    from typer._click.core import Context
    from typer.models import CommandInfo

app = typer.Typer(
    name="kvcalc",
    help="Exact KV-cache memory of LLMs, from their Hugging Face config.json.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.command()
def estimate(
    model: ModelArg,
    seq: SeqOpt = "max",
    batch: BatchOpt = "1",
    dtype: DtypeOpt = "auto",
    as_json: JsonOpt = False,
    output: FormatOpt = OutputFormat.table,
    quiet: QuietOpt = False,
    units: UnitsOpt = Units.auto,
    engine: EngineOpt = "default",
    enc_seq: EncSeqOpt = None,
    block_size: BlockSizeOpt = None,
    gpu_arch: GpuArchOpt = None,
    prefix_caching: PrefixCachingOpt = None,
    max_num_batched_tokens: MaxBatchedTokensOpt = None,
    max_num_seqs: MaxSeqsOpt = None,
    kv_unified: KvUnifiedOpt = None,
    mamba_strategy: MambaStrategyOpt = None,
    mamba_dtype: MambaDtypeOpt = None,
    mamba_ssm_dtype: MambaSsmDtypeOpt = None,
    attention_windows: AttentionWindowsOpt = None,
    draft: Annotated[
        str | None,
        typer.Option("--draft", help="Draft model for speculative decoding.", show_default=False),
    ] = None,
    spec_tokens: Annotated[
        int,
        typer.Option("--spec-tokens", help="Tokens the draft proposes per step (at most 1024)."),
    ] = 4,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the formula with the numbers substituted.")
    ] = False,
    revision: RevisionOpt = None,
    token: TokenOpt = None,
    timeout: TimeoutOpt = 10.0,
) -> None:
    """KV-cache bytes of MODEL for BATCH sequences of SEQ tokens.

    Example: kvcalc estimate meta-llama/Llama-3.3-70B-Instruct --seq 128k --dtype fp8
    """
    from kvcalc.planning.estimation import estimate as run_estimate

    hub = HubOptions(revision, token, timeout)
    if draft is not None:
        _check_draft_options(spec_tokens, output, units, explain)
        as_json = as_json or output is OutputFormat.json
        _speculative(model, draft, spec_tokens, seq, batch, dtype, engine, hub, as_json, quiet)
        return
    knobs = deployment(None, gpu_arch, prefix_caching, max_num_batched_tokens, max_num_seqs,
                       kv_unified, mamba_strategy, mamba_dtype, mamba_ssm_dtype,
                       attention_windows)  # fmt: skip
    result = run_estimate(
        model, seq=seq, batch=batch, dtype=dtype, engine=engine, enc_seq=enc_seq,
        block_size=block_size, hub=hub, deployment=knobs,
    )  # fmt: skip
    for note in result.notes:
        say_note(note)
    if quiet:
        typer.echo(str(result.total_bytes))
    elif as_json or output is OutputFormat.json:
        from kvcalc.render.json_format import render_json

        render_json(result)
    elif output is OutputFormat.csv:
        from kvcalc.render.csv_format import render_csv

        render_csv([result])
    else:
        from kvcalc.render.table import render_table

        render_table(result, explain=explain, units=units.value)


def _check_draft_options(
    spec_tokens: int, output: OutputFormat, units: Units, explain: bool
) -> None:
    """--draft prints its own table or JSON: options it cannot honour are refused, not ignored."""
    from typer._click.exceptions import UsageError

    if spec_tokens > MAX_SPEC_TOKENS:
        raise InputError(f"--spec-tokens is at most {MAX_SPEC_TOKENS:,}, got {spec_tokens:,}")
    for given, name in ((output is OutputFormat.csv, "--format csv"),
                        (units is not Units.auto, "--units"), (explain, "--explain")):  # fmt: skip
        if given:
            raise UsageError(f"{name} does not apply to --draft (a table, --json or -q)")


def _speculative(
    model: str, draft: str, spec_tokens: int, seq: str, batch: str, dtype: str, engine: str,
    hub: HubOptions, as_json: bool, quiet: bool,
) -> None:  # fmt: skip
    from kvcalc.planning.estimation import load_model
    from kvcalc.planning.speculative import speculate
    from kvcalc.render.speculative_view import render_speculation

    plan = speculate(load_model(model, hub), load_model(draft, hub), spec_tokens=spec_tokens,
                     seq=seq, batch=batch, dtype=dtype, engine=engine)  # fmt: skip
    for note in dict.fromkeys((*plan.target.notes, *plan.draft.notes)):
        say_note(note)
    if quiet:
        typer.echo(str(plan.total_bytes))
    else:
        render_speculation(plan, as_json=as_json)


@app.command()
def inspect(
    model: ModelArg,
    as_json: JsonOpt = False,
    revision: RevisionOpt = None,
    token: TokenOpt = None,
    timeout: TimeoutOpt = 10.0,
) -> None:
    """Show how MODEL's config was read: every layer group and the keys it came from.

    Example: kvcalc inspect google/gemma-3-27b-it
    """
    from kvcalc.planning.estimation import load_model
    from kvcalc.render.inspect_view import render_inspect

    loaded = load_model(model, HubOptions(revision, token, timeout))
    for note in loaded.source.notes:
        say_note(note)
    render_inspect(loaded, as_json=as_json)


@app.command()
def presets(
    text: Annotated[
        str | None,
        typer.Argument(
            metavar="[FILTER]",
            help="Only presets whose name, hub id, alias or family contains this (any case).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the bundled model configs by family, or those matching FILTER.

    Example: kvcalc presets qwen --json
    """
    from kvcalc.render.presets_table import render_presets

    render_presets(as_json=as_json, text=text)


@app.command()
def bench(
    seq: Annotated[
        str,
        typer.Option(
            "--seq",
            "-s",
            help="Comma-separated sequence lengths to time, and only "
            "these: add short ones (2,4,8) to look for an early crossover.",
        ),
    ] = "256,512,1024,2048",
    layers: Annotated[int, typer.Option("--layers", min=1, help="Decoder blocks.")] = 4,
    heads: Annotated[int, typer.Option("--heads", min=1, help="Query heads.")] = 4,
    kv_heads: Annotated[int, typer.Option("--kv-heads", min=1, help="KV heads (GQA/MQA).")] = 2,
    head_dim: Annotated[int, typer.Option("--head-dim", min=1, help="Head dim.")] = 32,
    dtype: Annotated[str, typer.Option("--dtype", help="fp32 or fp16.")] = "fp32",
    speculative: Annotated[
        int | None,
        typer.Option(
            "--speculative",
            min=1,
            help="Also run speculative decoding, K drafts.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write a latency plot (.png/.svg).", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Time greedy generation with and without a KV cache on a small NumPy decoder.

    Needs the bench extra: pip install 'kvcalc[bench]'.
    Example: kvcalc bench --seq 256,1024 --speculative 4 -o latency.png
    """
    from kvcalc.bench.command import run_bench
    from kvcalc.units import parse_tokens

    seqs = [parse_tokens(part, what="--seq") for part in seq.split(",") if part.strip()]
    code = run_bench(seqs, layers, heads, kv_heads, head_dim, dtype, speculative, output, as_json)
    raise typer.Exit(code)


@app.command()
def schema(
    command: Annotated[
        str,
        typer.Argument(
            help="estimate, speculative, compare, sweep, fit, gpus, presets, inspect or bench."
        ),
    ] = "estimate",
) -> None:
    """Print the JSON Schema that COMMAND's --json output follows.

    Example: kvcalc schema estimate > kvcalc-estimate.schema.json
    """
    from kvcalc.render.schema import render_schema

    render_schema(command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kvcalc {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Exact KV-cache memory of LLMs, from their Hugging Face config.json."""


def _register_the_rest() -> None:
    """Add compare, sweep, plot (kvcalc.cli.plan), fit and gpus (kvcalc.cli.fit), after the
    commands above; their modules are imported only when a run names none of the above."""
    if any(info.name == "fit" for info in app.registered_commands):
        return
    from kvcalc.cli.fit import register as register_fit
    from kvcalc.cli.plan import register

    register(app)
    register_fit(app)


def main() -> None:
    """Entry point: run the app; turn kvcalc errors into one line on stderr and an exit code."""
    with guarded_streams():
        code = _run()
    sys.exit(code)


def _run() -> int:
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    try:
        restore_interrupt()
        code = _app_for(sys.argv[1:])(standalone_mode=False)
        sys.stdout.flush()  # a failing stdout fails here, not in Python's flush at exit
    except KvcalcError as error:
        if os.environ.get("KVCALC_DEBUG"):
            say_traceback(error)
        say_error(error)
        return error.exit_code
    except NoArgsIsHelpError as error:
        shown = io.StringIO()
        error.show(file=shown)
        say_block(shown.getvalue())
        return error.exit_code
    except UsageError as error:
        say_error(f"{error.format_message()} (see {_command_path(error.ctx)} --help)")
        return error.exit_code
    except ClickException as error:
        say_error(error.format_message())
        return error.exit_code
    except (typer.Abort, KeyboardInterrupt):
        say("interrupted")
        return ExitCode.INTERRUPTED
    except OutputError as error:
        output_failed(error)
    if code == ExitCode.INTERRUPTED:
        # Typer turns Ctrl-C inside a command into exit 130 without a word (typer/core.py
        # `_main`); no kvcalc command exits 130 otherwise.
        say("interrupted")
    return code if isinstance(code, int) else ExitCode.OK


def _app_for(args: list[str]) -> typer.Typer:
    """`app` with only the command that `args` name, when they name one.

    Typer turns every registered command's signature into Click options before it parses
    anything, and that was a third of kvcalc's start-up; one command's options parse the same
    and give the same errors and help. No command named (`kvcalc --help`, a typo, shell
    completion): every command, for the listing and the suggestions. The commands of
    kvcalc.cli.plan and kvcalc.cli.fit join only when `args` name none of this module's.
    """
    import copy

    from typer.main import get_command_name

    named = next((arg for arg in args if not arg.startswith("-")), None)

    def chosen() -> list["CommandInfo"]:
        return [
            info for info in app.registered_commands
            if named == (info.name or get_command_name(getattr(info.callback, "__name__", "")))
        ]  # fmt: skip

    if not chosen():
        _register_the_rest()
    if not chosen():
        return app
    lean = copy.copy(app)
    lean.registered_commands = chosen()
    return lean


def _command_path(ctx: "Context | None") -> str:
    """`kvcalc estimate`, however kvcalc was started (`python -m kvcalc`, the script)."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["kvcalc", *reversed(names)])
