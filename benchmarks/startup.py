"""Cold start of kvcalc commands next to a bare Python start-up: median of N runs each.

Run: python benchmarks/startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.10
ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "presets" / "meta-llama__Llama-3.3-70B-Instruct.json"
TEN_PRESETS = (
    "llama-3-8b", "llama-3.3-70b", "opt-30b", "mistral-7b", "qwen3-8b", "qwen3-32b",
    "deepseek-v3", "gpt-oss-120b", "gemma-3-27b", "phi-4",
)  # fmt: skip


def kvcalc_command() -> list[str]:
    """The console script beside this interpreter (not a pyenv shim, which adds its own start)."""
    script = Path(sys.executable).parent / "kvcalc"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kvcalc"]


def cached_hub_home(repo_id: str) -> Path:
    """An HF_HOME whose hub cache holds `repo_id`'s config.json, in the client's cache layout."""
    home = Path(tempfile.mkdtemp(prefix="kvcalc-bench-"))
    repo = home / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    shutil.copy(CONFIG, snapshot / "config.json")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return home


def median_seconds(command: list[str], runs: int, env: dict[str, str]) -> float:
    subprocess.run(command, capture_output=True, check=True, env=env)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    kvcalc = kvcalc_command()
    repo_id = "bench-org/cached-model"
    offline = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(cached_hub_home(repo_id))}
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("kvcalc estimate llama-3-8b --json", [*kvcalc, "estimate", "llama-3-8b", "--json"]),
        ("kvcalc estimate llama-3-8b (table)", [*kvcalc, "estimate", "llama-3-8b"]),
        ("kvcalc estimate ./config.json --json", [*kvcalc, "estimate", str(CONFIG), "--json"]),
        (f"kvcalc estimate {repo_id} --json (cached)", [*kvcalc, "estimate", repo_id, "--json"]),
        ("kvcalc compare (10 presets) --json", [*kvcalc, "compare", *TEN_PRESETS, "--json"]),
        ("kvcalc compare (10 presets) (table)", [*kvcalc, "compare", *TEN_PRESETS]),
    ]
    print(f"median of {args.runs} runs; target for a preset --json estimate: {TARGET_SECONDS} s")
    print(f"| {'command':<52} | median s |")
    print(f"|{'-' * 54}|----------|")
    for label, command in cases:
        seconds = median_seconds(command, args.runs, offline)
        print(f"| {label:<52} | {seconds:>8.3f} |")


if __name__ == "__main__":
    main()
