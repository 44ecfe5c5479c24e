"""`kvcalc fit` and `kvcalc gpus`: capacity planning on the command line."""

from __future__ import annotations

from typing import Annotated

import typer

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
    mamba_dtype_name,
)
from kvcalc.cli.messages import say_note
from kvcalc.cli.options import (
    FormatOpt,
    JsonOpt,
    OutputFormat,
    RevisionOpt,
    TimeoutOpt,
    TokenOpt,
)
from kvcalc.sources.resolve import HubOptions

GpuOpt = Annotated[
    str | None,
    typer.Option("--gpu", "-g", help="GPU from the catalogue (see `kvcalc gpus`), e.g. h100.",
                 show_default=False),
]  # fmt: skip
GpuMemoryOpt = Annotated[
    str | None,
    typer.Option("--gpu-memory", help="Memory of each GPU instead of --gpu, e.g. 80GiB.",
                 show_default=False),
]  # fmt: skip
GpusOpt = Annotated[
    int | None,
    typer.Option("--gpus", min=1, help="GPUs in all (default: tp x pp).", show_default=False),
]
TpOpt = Annotated[
    int | None,
    typer.Option("--tp", min=1, help="Tensor-parallel GPUs per replica (default: --gpus / pp).",
                 show_default=False),
]  # fmt: skip
PpOpt = Annotated[
    int | None,
    typer.Option("--pp", min=1, help="Pipeline-parallel stages (default 1).", show_default=False),
]
SeqOpt = Annotated[
    str, typer.Option("--seq", "-s", help="Tokens per sequence: 8192, 8k, 128k, or max.")
]
BatchOpt = Annotated[str, typer.Option("--batch", "-b", help="Sequences held at once, in all.")]
DtypeOpt = Annotated[
    str, typer.Option("--dtype", "-d", help="KV-cache dtype: auto (the config's), fp16, fp8, …")
]
WeightsDtypeOpt = Annotated[
    str,
    typer.Option("--weights-dtype", help="Price the weights at this dtype (auto: as stored, "
                 "or the config's torch_dtype for a parameter count)."),
]  # fmt: skip
ParamsOpt = Annotated[
    str | None,
    typer.Option("--params", help="Parameter count, e.g. 8030261248 or 70B, instead of "
                 "reading safetensors headers.", show_default=False),
]  # fmt: skip
UtilOpt = Annotated[
    str | None,
    typer.Option(
        "--util",
        help="Share of each GPU's memory the engine may use, (0, 1] "
        "(default: the engine's: vLLM 0.92, SGLang's mem_fraction_static).",
        show_default=False,
    ),
]


def fit(
    model: Annotated[
        str, typer.Argument(help="Preset name, hub id (org/name), config.json or model folder.")
    ],
    gpu: GpuOpt = None,
    gpu_memory: GpuMemoryOpt = None,
    gpus: GpusOpt = None,
    tp: TpOpt = None,
    pp: PpOpt = None,
    seq: SeqOpt = "max",
    batch: BatchOpt = "1",
    dtype: DtypeOpt = "auto",
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            "-e",
            help="Whose allocation: vllm, sglang, llama.cpp, trtllm, transformers, default, naive.",
        ),
    ] = "vllm",
    block_size: Annotated[
        int | None,
        typer.Option(
            "--block-size",
            min=1,
            help="Block / page size (default: the engine's).",
            show_default=False,
        ),
    ] = None,
    gpu_arch: GpuArchOpt = None,
    prefix_caching: PrefixCachingOpt = None,
    max_num_batched_tokens: MaxBatchedTokensOpt = None,
    max_num_seqs: MaxSeqsOpt = None,
    kv_unified: KvUnifiedOpt = None,
    mamba_strategy: MambaStrategyOpt = None,
    mamba_dtype: MambaDtypeOpt = None,
    mamba_ssm_dtype: MambaSsmDtypeOpt = None,
    attention_windows: AttentionWindowsOpt = None,
    kv_cache_memory: Annotated[
        str | None,
        typer.Option(
            "--kv-cache-memory",
            help="The KV "
            "budget per GPU, given (vLLM's kv_cache_memory_bytes): util and "
            "the reserve do not apply.",
            show_default=False,
        ),
    ] = None,
    reserve: Annotated[
        str | None,
        typer.Option(
            "--reserve",
            help="Non-KV memory per GPU (default: the engine's estimate).",
            show_default=False,
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            help="Checkpoint bytes in all, e.g. 65GB, instead of reading them.",
            show_default=False,
        ),
    ] = None,
    weights_dtype: WeightsDtypeOpt = "auto",
    params: ParamsOpt = None,
    util: UtilOpt = None,
    enc_seq: Annotated[
        str | None,
        typer.Option(
            "--enc-seq", help="Encoder tokens, for encoder-decoder models.", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
    output: FormatOpt = OutputFormat.table,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Print only the largest batch that fits: one integer."),
    ] = False,
    draft: Annotated[
        str | None,
        typer.Option(
            "--draft",
            help="Draft model for speculative decoding, on the same GPUs.",
            show_default=False,
        ),
    ] = None,
    spec_tokens: Annotated[
        int, typer.Option("--spec-tokens", help="Tokens the draft proposes per step.")
    ] = 4,
    revision: RevisionOpt = None,
    token: TokenOpt = None,
    timeout: TimeoutOpt = 10.0,
) -> None:
    """Does MODEL fit: weights, reserve and KV cache per GPU as ENGINE allocates them, the
    engine's own start-up figures, the largest batch and the longest context. Exit 0 if the
    workload fits, 4 if it does not.

    Without --gpus, --tp and --pp the solver finds the fewest GPUs that fit; --gpu any
    searches the catalogue.

    Example: kvcalc fit llama-3.3-70b --gpu h100 --batch 64 --seq 32k
    """
    from kvcalc.errors import DoesNotFitError
    from kvcalc.planning.fit import EngineKnobs, shortfall
    from kvcalc.planning.fit import fit as run_fit

    knobs = EngineKnobs(engine, block_size, gpu_arch.strip().lower() if gpu_arch else None,
                        prefix_caching, max_num_batched_tokens, max_num_seqs, kv_unified,
                        mamba_strategy.strip().lower() if mamba_strategy else None,
                        mamba_dtype_name(mamba_dtype),
                        mamba_dtype_name(mamba_ssm_dtype), attention_windows)  # fmt: skip
    hub = HubOptions(revision, token, timeout)
    common: dict[str, object] = {
        "gpus": gpus, "tp": tp, "pp": pp, "seq": seq, "batch": batch, "dtype": dtype,
        "weights_dtype": weights_dtype, "params": params, "weights": weights, "util": util,
        "reserve": reserve, "kv_cache_memory": kv_cache_memory, "knobs": knobs,
        "enc_seq": enc_seq, "hub": hub, "draft": draft, "spec_tokens": spec_tokens,
    }  # fmt: skip
    if gpu is not None and gpu.strip().lower() == "any":
        if gpu_memory is not None:
            from kvcalc.errors import InputError

            raise InputError("give one of --gpu NAME (see `kvcalc gpus`) or --gpu-memory SIZE")
        _any_gpu(model, common, as_json or output is OutputFormat.json, quiet)
        return
    result = run_fit(model, gpu=gpu, gpu_memory=gpu_memory, **common)  # type: ignore[arg-type]
    for note in result.notes:
        say_note(note)
    if quiet:
        typer.echo(str(result.report.max_batch))
    elif as_json or output is OutputFormat.json:
        from kvcalc.render.fit_json import render_fit_json

        render_fit_json(result)
    elif output is OutputFormat.csv:
        from kvcalc.render.fit_csv import render_fit_csv

        render_fit_csv(result)
    else:
        from kvcalc.render.fit_table import render_fit_table

        render_fit_table(result)
    if not result.report.fits:
        raise DoesNotFitError(shortfall(result))


def _any_gpu(model: str, common: dict[str, object], as_json: bool, quiet: bool) -> None:
    """`--gpu any`: the solver on every catalogue GPU, cheapest options first."""
    from kvcalc.errors import DoesNotFitError
    from kvcalc.planning.choices import any_gpu

    options, failures = any_gpu(model, common)
    for line in failures:
        say_note(line)
    if quiet:
        for option in options:
            typer.echo(f"{option.gpu.name} {option.result.report.parallelism.gpus}")
    elif as_json:
        from kvcalc.render.fit_json import render_options_json

        render_options_json(options)
    else:
        from kvcalc.render.fit_table import render_options_table

        render_options_table(options)
    if not options:
        raise DoesNotFitError("does not fit on up to 64 GPUs of any catalogue GPU")


def gpus(as_json: JsonOpt = False) -> None:
    """List the GPU catalogue: memory as the driver reports it, in MiB and bytes.

    Example: kvcalc gpus --json
    """
    if as_json:
        from kvcalc.render.fit_json import render_gpus_json

        render_gpus_json()
    else:
        from kvcalc.render.fit_table import render_gpus_table

        render_gpus_table()


def register(app: typer.Typer) -> None:
    """Adds `fit` and `gpus` to `app`."""
    app.command(name="fit")(fit)
    app.command(name="gpus")(gpus)
