"""`kvcalc bench`: time a random NumPy decoder with and without its KV cache."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

from kvcalc.bench import render
from kvcalc.bench.model import Decoder, DecoderConfig
from kvcalc.bench.timing import (
    BenchReport,
    Repetitions,
    measure_lengths,
    measure_speculative,
)
from kvcalc.errors import ExitCode, InputError, KvcalcError
from kvcalc.model.dtypes import parse_dtype

# Small enough that the default run takes a few seconds on two cores.
DEFAULT_SEQS = (256, 512, 1024, 2048)
DEFAULT_LAYERS = 4
DEFAULT_HEADS = 4
DEFAULT_KV_HEADS = 2
DEFAULT_HEAD_DIM = 32
DEFAULT_DTYPE = "fp32"

SPECULATIVE_PROMPT_TOKENS = 16
SPECULATIVE_NEW_TOKENS = 128
# The uncached pass holds heads x seq x seq float32 attention scores per layer.
_MAX_SCORES_BYTES = 2 * 1024**3
_NUMPY_HINT = "kvcalc bench needs NumPy: pip install 'kvcalc[bench]'"


def run_bench(
    seqs: list[int],
    layers: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    dtype: str,
    speculative: int | None,
    output: Path | None,
    as_json: bool,
) -> int:
    """Measure, print a table (or JSON) on stdout, draw the plot, return the exit code.

    User errors raise KvcalcError subclasses for the CLI's error boundary to report.
    """
    if importlib.util.find_spec("numpy") is None:
        raise KvcalcError(_NUMPY_HINT)
    if output is not None:
        render.require_matplotlib()
    lengths = _checked_lengths(seqs, heads)
    if speculative is not None and speculative <= 0:
        raise InputError(f"--speculative must be at least 1, got {speculative}")
    lookahead = speculative or 0
    _single_threaded_blas()
    config = DecoderConfig(
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        max_positions=max(*lengths, SPECULATIVE_PROMPT_TOKENS + SPECULATIVE_NEW_TOKENS + lookahead),
        dtype=parse_dtype(dtype).name,
    )
    report = _measure(Decoder.random(config), lengths, speculative)
    if as_json:
        render.print_json(report)
    else:
        render.print_table(report)
    if output is not None:
        render.write_plot(report, output)
    return ExitCode.OK


def _measure(model: Decoder, lengths: list[int], lookahead: int | None) -> BenchReport:
    """Time the lengths asked for, and only those (a crossover below the shortest shows only
    if shorter ones are asked for), then the speculative run if asked, under one progress bar."""
    repetitions = Repetitions()
    # Progress in tokens, so the long lengths, which take most of the time, weigh the most.
    speculative_share = SPECULATIVE_NEW_TOKENS if lookahead is not None else 0
    with (
        tempfile.TemporaryDirectory() as folder,
        render.progress(sum(lengths) + speculative_share) as advance,
    ):
        config_path = Path(folder) / "config.json"
        config_path.write_text(model.config.to_config_json(), encoding="utf-8")
        timings = measure_lengths(
            model,
            lengths,
            lambda seq_len: _kvcalc_bytes(config_path, seq_len, model.config.dtype),
            repetitions,
            on_length=lambda seq_len: advance(f"{seq_len:,} tokens", seq_len),
        )
        speculative = None
        if lookahead is not None:
            # Random weights give a separately drawn draft no reason to agree with the target,
            # so the draft is the target without its last block (self-speculative decoding,
            # sharing embeddings, blocks and head); a one-block target drafts for itself.
            draft_layers = max(1, model.config.num_layers - 1)
            speculative = measure_speculative(
                model, draft_layers, lookahead, SPECULATIVE_PROMPT_TOKENS, SPECULATIVE_NEW_TOKENS
            )
            advance("speculative decoding", speculative_share)
    return BenchReport(model.config, repetitions, timings, speculative)


def _kvcalc_bytes(config_path: Path, seq_len: int, dtype: str) -> int:
    """kvcalc's own estimate for the bench model's config.json: the figure the bench checks."""
    from kvcalc import estimate

    return estimate(config_path, seq=seq_len, batch=1, dtype=dtype).total_bytes


def _checked_lengths(seqs: list[int], heads: int) -> list[int]:
    if not seqs or min(seqs) <= 0:
        raise InputError(f"--seq needs token counts of at least 1, got {seqs}")
    longest = max(seqs)
    if heads * longest * longest * 4 > _MAX_SCORES_BYTES:
        raise InputError(
            f"--seq {longest:,} is too long to run without a cache: its attention scores "
            f"alone would take {heads * longest * longest * 4 / 1024**3:.1f} GiB per layer"
        )
    return sorted(set(seqs))


def _single_threaded_blas() -> None:
    """One BLAS thread unless the user chose otherwise.

    The matrices are tiny, and on a shared machine threaded BLAS spends more time waking
    threads than multiplying, which made timings noisy by 10x. This only takes effect if NumPy
    is not yet imported, which is the case for `kvcalc bench`.
    """
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
