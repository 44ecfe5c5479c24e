"""Presets ship inside the wheel and are found from an installed copy as from the source tree."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kvcalc.sources.presets import all_presets, presets_dir
from tests.helpers import ROOT


def test_source_tree_uses_the_top_level_presets_folder() -> None:
    assert presets_dir() == ROOT / "presets"
    for preset in all_presets():
        assert preset.path.is_file(), preset.file


def test_every_preset_file_is_indexed() -> None:
    indexed = {preset.file for preset in all_presets()}
    on_disk = {path.name for path in (ROOT / "presets").glob("*.json")} - {"index.json"}
    assert indexed == on_disk


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (built,) = out.glob("kvcalc-*.whl")
    return built


def test_wheel_contains_presets(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "kvcalc/_presets/index.json" in names
    assert "kvcalc/_presets/meta-llama__Meta-Llama-3-8B.json" in names
    assert "kvcalc/py.typed" in names


def test_installed_wheel_finds_its_presets_from_another_directory(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "kvcalc", "estimate", "llama-3-8b", "--seq", "8192", "--json"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total_bytes"] == 1_073_741_824
    located = subprocess.run(
        [sys.executable, "-c",
         "from kvcalc.sources.presets import presets_dir; print(presets_dir())"],
        capture_output=True, text=True, cwd=elsewhere, env={"PYTHONPATH": str(site)}, check=True,
    )  # fmt: skip
    assert located.stdout.strip() == str(site / "kvcalc" / "_presets")
