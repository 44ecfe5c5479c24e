"""Cold start of kvcalc commands beside `python -c "import typer"`, measured interleaved.

Run: python benchmarks/startup.py [--runs 41] [--only=--json ...]

It times the `kvcalc` script beside the interpreter that runs it. To time what a user runs,
install kvcalc as the README says into a venv and run this file with that venv's python from
outside the source tree:
    python -m venv --system-site-packages /tmp/kv && /tmp/kv/bin/pip install --no-deps .
    cd /tmp && /tmp/kv/bin/python <repo>/benchmarks/startup.py

Each round runs every command once, in turn, so that a load spike on a shared machine hits
them alike; each command's figure is the median of its runs, and its ratio is the median of
the per-round ratios to `import typer` (the floor of any Typer command line). Target: a
preset's or a config file's `estimate --json` within 1.3 x `import typer`.
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

TARGET_RATIO = 1.3
ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "presets" / "meta-llama__Llama-3.3-70B-Instruct.json"
TEN_PRESETS = (
    "llama-3-8b", "llama-3.3-70b", "opt-30b", "mistral-7b", "qwen3-8b", "qwen3-32b",
    "deepseek-v3", "gpt-oss-120b", "gemma-3-27b", "phi-4",
)  # fmt: skip
BASELINE = 'python -c "import typer"'


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


def cases(repo_id: str) -> list[tuple[str, list[str]]]:
    kvcalc = kvcalc_command()
    return [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        (BASELINE, [sys.executable, "-c", "import typer"]),
        ("kvcalc estimate llama-3-8b --json", [*kvcalc, "estimate", "llama-3-8b", "--json"]),
        ("kvcalc estimate ./config.json --json", [*kvcalc, "estimate", str(CONFIG), "--json"]),
        ("kvcalc estimate llama-3-8b (table)", [*kvcalc, "estimate", "llama-3-8b"]),
        (f"kvcalc estimate {repo_id} --json (cached)", [*kvcalc, "estimate", repo_id, "--json"]),
        ("kvcalc compare (10 presets) --json", [*kvcalc, "compare", *TEN_PRESETS, "--json"]),
        ("kvcalc compare (10 presets) (table)", [*kvcalc, "compare", *TEN_PRESETS]),
    ]


def wall_seconds(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, env=env)
    return time.perf_counter() - start


def interleaved(
    commands: list[tuple[str, list[str]]], runs: int, env: dict[str, str]
) -> dict[str, list[float]]:
    """`runs` rounds of every command once, in turn, after one warm-up round (file cache)."""
    for _, command in commands:
        subprocess.run(command, capture_output=True, check=True, env=env)
    times: dict[str, list[float]] = {label: [] for label, _ in commands}
    for _ in range(runs):
        for label, command in commands:
            times[label].append(wall_seconds(command, env))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=41)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="measure only commands whose label holds this text (repeatable)",
    )
    args = parser.parse_args()
    repo_id = "bench-org/cached-model"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(cached_hub_home(repo_id))}
    # An installed kvcalc runs from the bytecode `pip install` compiled; with bytecode writing
    # off (PYTHONDONTWRITEBYTECODE), a source checkout would be compiled anew on every run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    chosen = [
        case for case in cases(repo_id)
        if case[0] in ("python -c pass", BASELINE) or not args.only
        or any(text in case[0] for text in args.only)
    ]  # fmt: skip
    times = interleaved(chosen, args.runs, env)
    floor = times[BASELINE]
    print(f"{args.runs} interleaved rounds; median seconds, and the median per-round ratio to "
          f"{BASELINE} (target for estimate --json: {TARGET_RATIO} x)")  # fmt: skip
    print(f"| {'command':<52} | median s | x import typer |")
    print(f"|{'-' * 54}|----------|----------------|")
    for label, _ in chosen:
        ratio = statistics.median(t / f for t, f in zip(times[label], floor, strict=True))
        seconds = statistics.median(times[label])
        print(f"| {label:<52} | {seconds:>8.3f} | {ratio:>14.2f} |")


if __name__ == "__main__":
    main()
