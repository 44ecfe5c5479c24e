"""Cold start of kvcalc commands next to a bare Python start-up: median of N runs each.

Run: python benchmarks/startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 0.10


def kvcalc_command() -> list[str]:
    """The console script beside this interpreter (not a pyenv shim, which adds its own start)."""
    script = Path(sys.executable).parent / "kvcalc"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kvcalc"]


def median_seconds(command: list[str], runs: int) -> float:
    subprocess.run(command, capture_output=True, check=True)  # warm the OS file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    kvcalc = kvcalc_command()
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("kvcalc estimate llama-3-8b --json", [*kvcalc, "estimate", "llama-3-8b", "--json"]),
        ("kvcalc estimate llama-3-8b (table)", [*kvcalc, "estimate", "llama-3-8b"]),
    ]
    print(f"median of {args.runs} runs; target for the JSON estimate: {TARGET_SECONDS:.2f} s")
    print(f"{'command':<40} {'median s':>9}")
    for label, command in cases:
        print(f"{label:<40} {median_seconds(command, args.runs):>9.3f}")


if __name__ == "__main__":
    main()
