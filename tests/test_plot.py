"""`kvcalc plot` and the GPU memory sizes it draws (`kvcalc.sizes`)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from kvcalc.errors import InputError, KvcalcError
from kvcalc.render.plot import PLOT_HINT, check_plot_output
from kvcalc.sizes import parse_size
from tests.helpers import ROOT, run_kvcalc

pytest.importorskip("matplotlib")


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("80GiB", 80 * 1024**3),
        ("80GB", 80 * 10**9),
        ("24 GiB", 24 * 1024**3),
        ("80gib", 80 * 1024**3),
        ("512MiB", 512 * 1024**2),
        ("512MB", 512 * 10**6),
        ("1.5TB", 1_500_000_000_000),
        ("2TiB", 2 * 1024**4),
        ("0.5KiB", 512),
        ("85899345920", 85_899_345_920),
        ("1_000B", 1000),
    ],
)
def test_sizes_are_exact_integers(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [("80XB", "is not a size"), ("GiB", "is not a size"), ("-1GB", "is not a size"),
     ("0GB", "more than 0 bytes"), ("0.1B", "whole number of bytes"), ("", "is not a size")],
)  # fmt: skip
def test_bad_sizes(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_size(text, what="--gpu-memory")


def test_png_and_svg_are_written(tmp_path: Path) -> None:
    png, svg = tmp_path / "kv.png", tmp_path / "kv.svg"
    result = run_kvcalc("plot", "llama-3-8b", "deepseek-v3", "--dtype", "bf16,fp8", "--seq",
                        "1k..32k", "--gpu-memory", "80GB", "-o", str(png))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 10_000
    # A model that fails is one line on stderr and the exit code; the others are still drawn.
    result = run_kvcalc("plot", "no-such-model", "llama-3-8b", "--dtype", "bf16,fp8",
                        "--gpu-memory", "24GiB", "-o", str(svg))  # fmt: skip
    assert result.returncode == 1
    assert "kvcalc: error: unknown model 'no-such-model'" in result.stderr
    text = svg.read_text(encoding="utf-8")
    for label in ("KV cache (GiB)", "context length", "llama-3-8b bf16", "llama-3-8b fp8",
                  "GPU 24GiB"):  # fmt: skip
        assert label in text


def test_readme_plot_command_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (command,) = re.findall(r"^kvcalc plot .*$", readme, flags=re.MULTILINE)
    result = run_kvcalc(*shlex.split(command)[1:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "kv.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-o", "kv.gif"], 1, "write a .png, .svg, .pdf file"),
        (["-o", "kv.png", "--gpu-memory", "80XB"], 1, "--gpu-memory '80XB' is not a size"),
        (["-o", "kv.png", "--seq", "8k..1k"], 1, "is reversed"),
        (["-o", "kv.png", "--batch", "0"], 1, "--batch must be a positive integer"),
        ([], 2, "Missing option '--output'"),
    ],
)
def test_bad_input(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    result = run_kvcalc("plot", "llama-3-8b", *args, cwd=tmp_path)
    assert result.returncode == code
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_without_matplotlib_a_one_line_install_hint(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(KvcalcError) as raised:
        check_plot_output(tmp_path / "kv.png")
    assert str(raised.value) == PLOT_HINT
    script = ("import sys; sys.modules['matplotlib'] = None; from kvcalc.cli.main import main; "
              "sys.argv = ['kvcalc', 'plot', 'llama-3-8b', '-o', 'kv.png']; main()")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, env={"PYTHONPATH": str(ROOT)}, check=False)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == f"kvcalc: error: {PLOT_HINT}\n"
