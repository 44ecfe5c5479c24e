"""`fit` with the solver: 20 presets x 10 GPUs, the time per model, in-process.

Run: python benchmarks/fit_solver.py [--engine vllm] [--seq 32k] [--batch 64]

Each model is loaded once; for every GPU the solver tries deployments fewest GPUs first until
one fits (or all up to 64 GPUs fail). Target: under 1 s per model (all 10 GPUs).
"""

from __future__ import annotations

import argparse
import statistics
import time

from kvcalc.errors import KvcalcError
from kvcalc.planning.estimation import load_model
from kvcalc.planning.fit import EngineKnobs, fit

TARGET_SECONDS = 1.0
PRESETS = (
    "llama-3-8b", "llama-3.1-70b", "llama-3.3-70b", "llama-3.1-405b", "mistral-7b",
    "mixtral-8x7b", "qwen3-8b", "qwen3-32b", "qwen3-235b-a22b", "qwen3-next-80b-a3b",
    "deepseek-v3", "deepseek-v3.2", "gpt-oss-120b", "gpt-oss-20b", "gemma-3-27b", "gemma-3-4b",
    "phi-4", "kimi-k2", "nemotron-h-56b", "glm-5",
)  # fmt: skip
GPUS = ("h100", "h200", "b200", "a100-80gb", "a100-40gb", "l40s", "l4", "mi300x", "rtx-4090",
        "gh200")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="vllm")
    parser.add_argument("--seq", default="32k")
    parser.add_argument("--batch", default="64")
    args = parser.parse_args()
    knobs = EngineKnobs(args.engine)
    timings = []
    for name in PRESETS:
        started = time.perf_counter()
        model = load_model(name)
        outcomes = []
        for gpu in GPUS:
            try:
                # --weights: a preset without recorded checkpoint bytes would be refused; the
                # solver's cost does not depend on the figure.
                result = fit(model, gpu=gpu, seq=args.seq, batch=args.batch, knobs=knobs,
                             weights="100GB")  # fmt: skip
                par = result.report.parallelism
                outcomes.append(f"{gpu}:{par.gpus}" if result.report.fits else f"{gpu}:-")
            except KvcalcError as error:
                outcomes.append(f"{gpu}:refused ({str(error)[:40]})")
        elapsed = time.perf_counter() - started
        timings.append(elapsed)
        print(f"{name:22} {elapsed:6.3f} s  {' '.join(outcomes)}")
    worst = max(timings)
    print(
        f"median {statistics.median(timings):.3f} s per model, worst {worst:.3f} s "
        f"(target < {TARGET_SECONDS:.1f} s): {'met' if worst < TARGET_SECONDS else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
