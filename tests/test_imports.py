"""Heavy modules stay out of start-up: the core and the JSON path never import them."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT

HEAVY = ("typer", "rich", "huggingface_hub", "pydantic", "numpy", "httpx", "httpx2")


def modules_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    return {line.split(".")[0] for line in result.stdout.splitlines()}


def test_core_imports_only_the_standard_library() -> None:
    loaded = modules_after(
        "import kvcalc, kvcalc.model.architecture, kvcalc.engines.kvbytes, kvcalc.model.dtypes, "
        "kvcalc.units, kvcalc.errors, kvcalc.model.dialects, kvcalc.planning.estimation, "
        "kvcalc.sources.resolve"
    )
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_preset_estimate_as_json_loads_neither_rich_nor_the_hub_client() -> None:
    loaded = modules_after(
        "import sys\n"
        "sys.argv = ['kvcalc', 'estimate', 'llama-3-8b', '--json']\n"
        "from kvcalc.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert "kvcalc" in loaded
    assert not loaded & {"rich", "huggingface_hub", "pydantic", "numpy", "httpx", "httpx2",
                         "typing_extensions"}  # fmt: skip
