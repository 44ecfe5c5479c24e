"""Running the real `kvcalc` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Real config.json files, copied into the repository with their origins (fixtures/configs/INDEX.md).
SHARED_CONFIGS = ROOT / "tests" / "fixtures" / "configs"
# An empty HF cache, so that no test depends on what this machine has downloaded.
EMPTY_HF_HOME = tempfile.mkdtemp(prefix="kvcalc-hf-home-")


def run_kvcalc(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m kvcalc ARGS` with a clean, offline-by-default environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KVCALC_"))}
    base["HF_HUB_OFFLINE"] = "1"
    base["HF_HOME"] = EMPTY_HF_HOME
    base.pop("FORCE_COLOR", None)
    base["PYTHONPATH"] = str(ROOT)
    if env:
        base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "kvcalc", *args],
        capture_output=True,
        text=True,
        env=base,
        cwd=cwd or ROOT,
        timeout=timeout,
        check=False,
    )
