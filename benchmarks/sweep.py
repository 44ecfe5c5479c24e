"""Time a 100,000-row `kvcalc sweep` (5 presets x 2 dtypes x 100 lengths x 100 batches).

In-process (load, estimate, CSV into /dev/null) and through the command line with stdout on
/dev/null; the target is under a second for each. Run: python benchmarks/sweep.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kvcalc.planning.compare import load_models, sweep  # noqa: E402
from kvcalc.planning.grid import parse_batches, parse_seqs  # noqa: E402
from kvcalc.render.rows_format import render_json_rows, render_sweep_csv  # noqa: E402

TARGET_SECONDS = 1.0
MODELS = ("llama-3-8b", "llama-3.3-70b", "qwen3-8b", "gemma-3-27b", "deepseek-v3")
DTYPES = ("bf16", "fp8")
SEQ = "1k..100k:1k"  # 100 lengths
BATCH = "1..100:1"  # 100 batch sizes
ROWS = len(MODELS) * len(DTYPES) * 100 * 100


def in_process(output_format: str) -> float:
    start = time.perf_counter()
    grid, failures = sweep(load_models(MODELS), DTYPES, parse_seqs([SEQ]), parse_batches([BATCH]))
    assert not failures and len(grid) == ROWS
    with Path(os.devnull).open("w", encoding="utf-8") as sink:
        if output_format == "csv":
            render_sweep_csv(grid.rows(), sink)
        else:
            render_json_rows((row.estimate() for row in grid.rows()), sink)
    return time.perf_counter() - start


def command_line() -> float:
    command = [sys.executable, "-m", "kvcalc", "sweep", *MODELS, "--dtype", ",".join(DTYPES),
               "--seq", SEQ, "--batch", BATCH]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    with Path(os.devnull).open("w", encoding="utf-8") as sink:
        start = time.perf_counter()
        subprocess.run(command, stdout=sink, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{ROWS:,} rows, median of {args.runs} runs; target under {TARGET_SECONDS} s")
    cases = [
        ("in-process, CSV", lambda: in_process("csv")),
        ("kvcalc sweep (CLI, CSV) > /dev/null", command_line),
        ("in-process, JSON (not a target)", lambda: in_process("json")),
    ]
    for label, run in cases:
        seconds = statistics.median(run() for _ in range(args.runs))
        print(f"| {label:<38} | {seconds:6.3f} s |")


if __name__ == "__main__":
    main()
