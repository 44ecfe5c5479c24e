"""`run_bench`: what it prints, draws and refuses (structure only, never speed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("numpy")

from kvcalc.bench.command import run_bench
from kvcalc.bench.render import MATPLOTLIB_HINT
from kvcalc.errors import InputError, KvcalcError
from tests.helpers import ROOT

TINY = {"layers": 2, "heads": 2, "kv_heads": 1, "head_dim": 8, "dtype": "fp32"}


@pytest.fixture(autouse=True)
def _restore_blas_threads(monkeypatch):
    """run_bench pins BLAS to one thread through the environment; undo that after each test."""
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)


def bench(capsys, seqs=(8, 12), speculative=2, output=None, as_json=True, **shape):
    options = {**TINY, **shape}
    code = run_bench(list(seqs), speculative=speculative, output=output, as_json=as_json, **options)
    return code, capsys.readouterr()


def test_json_reports_the_lengths_asked_for_with_kvcalc_bytes_beside_the_measured(capsys) -> None:
    code, out = bench(capsys)
    assert code == 0
    record = json.loads(out.out)
    assert [row["seq_len"] for row in record["lengths"]] == [8, 12]  # no others added
    for row in record["lengths"]:
        assert row["cache_bytes"] == row["kvcalc_bytes"]
        assert row["uncached_s_per_token"] > 0 and row["cached_s_per_token"] > 0
    # 2 layers x (K + V) x 1 KV head x head_dim 8 x 12 tokens x 4 bytes
    assert record["lengths"][-1]["cache_bytes"] == 1536
    assert record["config"]["model_type"] == "llama"
    assert record["crossover_seq_len"] in {None, 2, 4, 8, 12}
    speculative = record["speculative"]
    assert speculative["matches_greedy"] is True
    assert speculative["lookahead"] == 2 and speculative["draft_layers"] == 1
    assert speculative["accepted"] <= speculative["proposed"]


def test_fp16_halves_the_cache(capsys) -> None:
    _, out = bench(capsys, seqs=(12,), speculative=None, dtype="fp16")
    record = json.loads(out.out)
    assert record["config"]["torch_dtype"] == "float16"
    assert record["lengths"][-1]["cache_bytes"] == record["lengths"][-1]["kvcalc_bytes"] == 768
    assert record["speculative"] is None


def test_table_shows_latencies_crossover_and_speculative_run(capsys) -> None:
    code, out = bench(capsys, as_json=False)
    assert code == 0
    for text in ("KV cache bench", "kvcalc bytes", "1,536", "crossover:", "speculative decoding"):
        assert text in out.out
    assert "output equals greedy" in out.out


def test_plot_is_written(capsys, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "latency.png"
    bench(capsys, speculative=None, output=target)
    assert target.read_bytes().startswith(b"\x89PNG")


def test_plot_in_an_unknown_format_is_a_one_line_error(capsys, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    with pytest.raises(KvcalcError, match="cannot write"):
        bench(capsys, seqs=(4,), speculative=None, output=tmp_path / "latency.nope")


def test_plot_without_matplotlib_fails_before_measuring(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(KvcalcError, match="pip install matplotlib") as raised:
        bench(capsys, output=tmp_path / "latency.png")
    assert str(raised.value) == MATPLOTLIB_HINT
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seqs": [0, 8]}, "--seq"),
        ({"seqs": [100_000]}, "too long"),
        ({"kv_heads": 3, "heads": 4}, "multiple of kv_heads"),
        ({"dtype": "bf16"}, "fp32 or fp16"),
        ({"dtype": "fp64"}, "unknown dtype"),
        ({"speculative": 0}, "--speculative"),
    ],
)
def test_bad_options_are_input_errors_with_nothing_on_stdout(capsys, change, message) -> None:
    options = {"seqs": [8], "speculative": None, **change}
    with pytest.raises(InputError, match=message):
        bench(capsys, **options)
    assert capsys.readouterr().out == ""


def test_lengths_are_timed_once_each_in_order(capsys) -> None:
    code, out = bench(capsys, seqs=(12, 4, 12), speculative=None)
    assert code == 0
    assert [row["seq_len"] for row in json.loads(out.out)["lengths"]] == [4, 12]


def test_importing_the_bench_loads_no_heavy_module() -> None:
    script = (
        "import sys, kvcalc.bench.command, kvcalc.bench.render, kvcalc.bench.generate\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = {name.split(".")[0] for name in result.stdout.split()}
    assert not loaded & {"numpy", "rich", "matplotlib"}


def test_kvcalc_bench_command_line_json() -> None:
    import json as json_module

    from tests.helpers import run_kvcalc

    result = run_kvcalc("bench", "--seq", "16,32", "--layers", "2", "--speculative", "2", "--json")
    assert result.returncode == 0, result.stderr
    report = json_module.loads(result.stdout)
    assert report["config"]["num_hidden_layers"] == 2
    assert "\x1b[" not in result.stdout
