"""Print what `transformers` caches really hold, family by family.

    python -m tests.conformance.report                       # every family, seq 64/300, batch 1/2
    python -m tests.conformance.report -f gpt_oss,falcon -s 64 -b 1 --dtype float32
    python -m tests.conformance.report --summary             # one line per measurement
    python -m tests.conformance.report --probes              # window / chunk / state boundaries
    python -m tests.conformance.report --probes --long       # also the real 4096 and 8192 windows

For each measurement: the family, seq, batch, dtype, the bytes the cache holds (distinct tensors),
the bytes of the storages behind them, the time taken, and a per-layer breakdown: layer index
(with "self"/"cross" for encoder-decoder caches), cache layer class, key shape, value shape, their
dtype, any other state tensors (convolution, recurrent, indexer) with shapes and dtypes, and bytes.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Sequence
from typing import Any

from tests.conformance.families import EXTRA_FAMILIES, FAMILIES, Family, by_name
from tests.conformance.measure import (
    LayerRecord,
    Measurement,
    TensorRecord,
    measure_grid,
)


def _shape(t: TensorRecord | None) -> str:
    return "-" if t is None else "x".join(str(d) for d in t.shape)


def layer_rows(m: Measurement) -> list[tuple[str, ...]]:
    """One row per cache layer: index, class, key shape, value shape, dtype, states, bytes."""
    rows = []
    for layer in m.layers:
        rows.append(_layer_row(layer))
    return rows


def _layer_row(layer: LayerRecord) -> tuple[str, ...]:
    key, value = layer.tensor("keys"), layer.tensor("values")
    others = [t for t in layer.tensors if t.name not in ("keys", "values")]
    dtypes = sorted({t.dtype for t in (key, value) if t is not None})
    states = ", ".join(
        f"{t.name} {_shape(t)} {t.dtype}" + ("" if t.counted else " (shared)") for t in others
    )
    index = f"{layer.index}" if not layer.part else f"{layer.index}/{layer.part}"
    return (
        index,
        layer.layer_class,
        _shape(key),
        _shape(value),
        ",".join(dtypes) or "-",
        states or "-",
        f"{layer.nbytes:,}",
    )


def _table(rows: Sequence[Sequence[str]], header: Sequence[str], indent: str = "") -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [indent + "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append(indent + "  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(indent + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


LAYER_HEADER = ("layer", "class", "key shape", "value shape", "dtype", "states", "bytes")
SUMMARY_HEADER = ("family", "seq", "batch", "dtype", "bytes", "storage bytes", "layers", "seconds")


def _summary_row(name: str, m: Measurement) -> tuple[str, ...]:
    return (
        name,
        str(m.seq),
        str(m.batch),
        m.dtype,
        f"{m.bytes:,}",
        f"{m.storage_bytes:,}",
        str(len(m.layers)),
        f"{m.seconds:.2f}",
    )


def run(
    families: Sequence[Family],
    seqs: Sequence[int],
    batches: Sequence[int],
    dtype: str,
    *,
    summary: bool,
) -> int:
    started = time.perf_counter()
    rows: list[tuple[str, ...]] = []
    failures = 0
    for family in families:
        if not family.supported:
            print(f"# {family.name}: skipped: {family.reason}\n")
            continue
        points = [(seq, batch) for seq in seqs for batch in batches]
        try:
            measurements = measure_grid(family.load(), points, dtype=dtype)
        except Exception as exc:  # report and go on with the other families
            failures += 1
            print(f"# {family.name}: FAILED {exc!r}\n")
            continue
        for m in measurements:
            rows.append(_summary_row(family.name, m))
            if not summary:
                print(
                    f"# {family.name} seq={m.seq} batch={m.batch} dtype={dtype}: "
                    f"{m.bytes:,} bytes (storage {m.storage_bytes:,}), {m.model_class}, "
                    f"{m.cache_class}, {m.seconds:.2f}s"
                )
                print(_table(layer_rows(m), LAYER_HEADER, indent="  "))
                print()
        sys.stdout.flush()
    print(_table(rows, SUMMARY_HEADER))
    print(f"\n{len(rows)} measurements, {failures} failed, {time.perf_counter() - started:.1f}s")
    return 1 if failures else 0


# --------------------------------------------------------------------------------------------
# Boundary probes


def _with(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(config)
    out.update(changes)
    return out


def _probe_cases(long: bool) -> list[tuple[str, dict[str, Any], list[int], str]]:
    """(label, config, seqs, what to read) for each boundary probe."""
    gpt_oss = by_name("gpt_oss").load()
    gemma3 = by_name("gemma3_text").load()
    gemma2 = by_name("gemma2").load()
    llama4 = by_name("llama4_text").load()
    cases: list[tuple[str, dict[str, Any], list[int], str]] = [
        ("gpt_oss W=128", gpt_oss, [1, 126, 127, 128, 129, 300], "tokens"),
        (
            "gemma2 W=16 (window lowered)",
            _with(gemma2, sliding_window=16),
            [15, 16, 17, 40],
            "tokens",
        ),
        ("gemma3_text W=1024", gemma3, [1023, 1024, 1025], "tokens"),
        (
            "llama4_text chunk=16 (chunk lowered)",
            _with(llama4, attention_chunk_size=16),
            [15, 16, 17, 40],
            "tokens",
        ),
        ("qwen3_next conv/recurrent", by_name("qwen3_next").load(), [1, 2, 3, 4, 5, 64], "states"),
        ("nemotron_h conv/ssm", by_name("nemotron_h").load(), [1, 3, 4, 5, 64], "states"),
    ]
    if long:
        cases.append(("gemma2 W=4096", gemma2, [4095, 4096, 4097], "tokens"))
        cases.append(("llama4_text chunk=8192", llama4, [8193], "tokens"))
    return cases


def probes(long: bool) -> int:
    rows: list[tuple[str, ...]] = []
    for label, config, seqs, what in _probe_cases(long):
        for m in measure_grid(config, [(seq, 1) for seq in seqs]):
            seq = m.seq
            kept: dict[str, set[str]] = {}
            for layer in m.layers:
                if what == "tokens":
                    key = layer.tensor("keys")
                    value = "-" if key is None or not key.shape else str(key.shape[-2])
                    kept.setdefault(layer.layer_class, set()).add(value)
                else:
                    for t in layer.tensors:
                        kind = f"{layer.layer_class}.{t.name}"
                        kept.setdefault(kind, set()).add(f"{_shape(t)} {t.dtype}")
            held = "; ".join(f"{k}: {','.join(sorted(v))}" for k, v in sorted(kept.items()))
            rows.append((label, str(seq), held, f"{m.bytes:,}", f"{m.storage_bytes:,}"))
            print(_table(rows[-1:], ("probe", "seq", "held", "bytes", "storage"), indent="  "))
            sys.stdout.flush()
    print()
    print(
        _table(rows, ("probe", "seq", "held (keys positions / state shapes)", "bytes", "storage"))
    )
    return 0


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("-f", "--families", help="comma-separated family names (default: all)")
    parser.add_argument("--extra", action="store_true", help="also the extra families")
    parser.add_argument("-s", "--seqs", default="64,300", help="comma-separated prefill lengths")
    parser.add_argument("-b", "--batches", default="1,2", help="comma-separated batch sizes")
    parser.add_argument("--dtype", default="bfloat16", help="bfloat16, float16 or float32")
    parser.add_argument("--summary", action="store_true", help="no per-layer breakdown")
    parser.add_argument("--probes", action="store_true", help="window/chunk/state boundary probes")
    parser.add_argument("--long", action="store_true", help="with --probes: the 4096/8192 windows")
    args = parser.parse_args(argv)
    if args.probes:
        return probes(args.long)
    if args.families:
        families: list[Family] = [by_name(n) for n in args.families.split(",")]
    else:
        families = list(FAMILIES) + (list(EXTRA_FAMILIES) if args.extra else [])
    return run(families, _ints(args.seqs), _ints(args.batches), args.dtype, summary=args.summary)


if __name__ == "__main__":
    raise SystemExit(main())
