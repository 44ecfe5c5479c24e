"""`kvcalc fit` and `kvcalc gpus`: capacity planning on the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from kvcalc.cli.options import JsonOpt, RevisionOpt, TokenOpt
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
PpOpt = Annotated[int, typer.Option("--pp", min=1, help="Pipeline-parallel stages.")]
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
    str, typer.Option("--util", help="Share of each GPU's memory the engine may use, (0, 1].")
]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds per hub request.", min=0.1)]


def fit(
    model: Annotated[
        str, typer.Argument(help="Preset name, hub id (org/name), config.json or model folder.")
    ],
    gpu: GpuOpt = None,
    gpu_memory: GpuMemoryOpt = None,
    gpus: GpusOpt = None,
    tp: TpOpt = None,
    pp: PpOpt = 1,
    seq: SeqOpt = "max",
    batch: BatchOpt = "1",
    dtype: DtypeOpt = "auto",
    weights_dtype: WeightsDtypeOpt = "auto",
    params: ParamsOpt = None,
    util: UtilOpt = "0.9",
    as_json: JsonOpt = False,
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
    """Does MODEL fit: weights and KV cache per GPU, free memory, the largest batch and the
    longest context. Exit 0 if the workload fits, 4 if it does not.

    Budget per GPU = floor(GPU memory x --util) - weights per GPU; activations and CUDA graphs
    are not modelled. Weights come from safetensors headers (hub or local folder) or a
    preset's parameter count; nothing is downloaded but headers.

    Example: kvcalc fit llama-3.3-70b --gpu h100 --gpus 2 --tp 2 --seq 32k
    """
    from kvcalc.errors import DoesNotFitError
    from kvcalc.planning.fit import fit as run_fit
    from kvcalc.planning.fit import shortfall

    result = run_fit(
        model, gpu=gpu, gpu_memory=gpu_memory, gpus=gpus, tp=tp, pp=pp, seq=seq, batch=batch,
        dtype=dtype, weights_dtype=weights_dtype, params=params, util=util,
        hub=HubOptions(revision, token, timeout), draft=draft, spec_tokens=spec_tokens,
    )  # fmt: skip
    for note in result.notes:
        typer.echo(f"kvcalc: note: {note}", err=True)
    if as_json:
        from kvcalc.render.fit_json import render_fit_json

        render_fit_json(result)
    else:
        from kvcalc.render.fit_table import render_fit_table

        render_fit_table(result)
    if not result.report.fits:
        raise DoesNotFitError(shortfall(result))


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
