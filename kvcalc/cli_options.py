"""Command-line option types shared by the planning commands, declared once as Annotated aliases."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


ModelsArg = Annotated[
    list[str],
    typer.Argument(
        help="Preset names, hub ids (org/name), config.json files or model folders.",
        show_default=False,
    ),
]
OptionalModelsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Preset names, hub ids (org/name), config.json files or model folders "
        "(default: the headline presets).",
        show_default=False,
    ),
]
DtypesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--dtype",
        "-d",
        help="Cache dtypes, repeated or comma-separated: auto (the config's), fp32, fp16, bf16, "
        "fp8, int8, int4 (default: auto).",
        show_default=False,
    ),
]
SeqsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--seq",
        "-s",
        help="Tokens per sequence, repeated or comma-separated (8k,32k) or ranges: 1k..128k "
        "doubles from 1k up to 128k (the end only if doubling reaches it), 1k..8k:1k steps by "
        "1k; max is the model's context.",
        show_default=False,
    ),
]
BatchOpt = Annotated[str, typer.Option("--batch", "-b", help="Sequences held at once.")]
BatchesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--batch",
        "-b",
        help="Batch sizes, repeated or comma-separated (1,8,32) or ranges (1..64, 8..64:8); "
        "default 1.",
        show_default=False,
    ),
]
EngineOpt = Annotated[
    str, typer.Option("--engine", help="Whose allocation rules (see kvcalc estimate --help).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout (same as --format json).")]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", help="Hub token (default: HF_TOKEN or the saved login).", show_default=False
    ),
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the hub, per model.", min=0.1)
]
