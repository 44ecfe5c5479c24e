"""Command-line option types shared by the commands, declared once as Annotated aliases."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

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


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Units(str, Enum):
    auto = "auto"
    gib = "gib"
    gb = "gb"
    bytes = "bytes"


ModelArg = Annotated[
    str, typer.Argument(help="Preset name, hub id (org/name), config.json or model folder.")
]
SeqOpt = Annotated[
    str,
    typer.Option(
        "--seq", "-s", help="Tokens per sequence: 8192, 8k (8,192), 128k, 1m, or max (the model's)."
    ),
]
BatchOpt = Annotated[str, typer.Option("--batch", "-b", help="Sequences held at once.")]
DtypeOpt = Annotated[
    str,
    typer.Option(
        "--dtype", "-d", help="Cache dtype: auto (the config's), fp32, fp16, bf16, fp8, int8, int4."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout (same as --format json).")]
FormatOpt = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]
UnitsOpt = Annotated[
    Units,
    typer.Option(
        "--units",
        help="Units of sizes in tables (auto: GiB and GB and bytes).",
        case_sensitive=False,
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the total in bytes: one integer.")
]
RevisionOpt = Annotated[
    str | None, typer.Option("--revision", help="Hub branch, tag or commit.", show_default=False)
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", help="Hub token (default: HF_TOKEN or the saved login).", show_default=False
    ),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine", "-e",
        help="Whose allocation: default, transformers, vllm, sglang, llama.cpp, trtllm, naive.",
    ),
]  # fmt: skip
EncSeqOpt = Annotated[
    str | None,
    typer.Option("--enc-seq", help="Encoder tokens, for encoder-decoder models.",
                 show_default=False),
]  # fmt: skip
BlockSizeOpt = Annotated[
    str | None,
    typer.Option("--block-size", help="vLLM block size / SGLang page size (engine default).",
                 show_default=False),
]  # fmt: skip
MAX_TIMEOUT_SECONDS = 3600.0


def _timeout_seconds(value: float) -> float:
    """A finite wait: nan and inf pass a plain range check, and would never time out."""
    if not 0.1 <= value <= MAX_TIMEOUT_SECONDS:  # False for nan
        raise typer.BadParameter(
            f"must be a number of seconds from 0.1 to {MAX_TIMEOUT_SECONDS:g}, got {value}"
        )
    return value


TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout", help="Seconds to wait for the hub (0.1 to 3600).", callback=_timeout_seconds
    ),
]
