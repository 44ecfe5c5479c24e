"""Running the real `kvcalc` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Real config.json files, copied into the repository with their origins (fixtures/configs/INDEX.md).
FIXTURE_CONFIGS = ROOT / "tests" / "fixtures" / "configs"
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


class PeakRss(threading.Thread):
    """Samples a child's peak resident memory (VmHWM) every 10 ms while it runs.

    VmHWM belongs to the process image: exec starts it afresh, where getrusage's ru_maxrss
    keeps the high-water mark of the parent it was forked from (a test runner that has loaded
    torch would make every child look 3 GB large). Samples are taken only once the child runs
    a command line holding `marker`, i.e. after its exec."""

    def __init__(self, pid: int, marker: bytes = b"kvcalc") -> None:
        super().__init__(daemon=True)
        self.pid, self.marker, self.peak = pid, marker, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                if self.marker in Path(f"/proc/{self.pid}/cmdline").read_bytes():
                    for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak = max(self.peak, int(line.split()[1]) * 1024)
            except (OSError, ValueError):
                return
            self.done.wait(0.01)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return self.peak
