"""`kvcalc sweep`: grids of model x dtype x length x batch, and the ranges of --seq and --batch."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvcalc.errors import InputError
from kvcalc.planning.compare import load_models, sweep
from kvcalc.planning.estimation import estimate, load_model
from kvcalc.planning.grid import parse_batches, parse_seqs
from kvcalc.render import rows_format
from kvcalc.render.csv_format import COLUMNS
from tests.helpers import ROOT, run_kvcalc

K = 1024


def csv_rows(*args: str) -> list[dict[str, str]]:
    result = run_kvcalc("sweep", *args)
    assert result.returncode == 0, result.stderr
    reader = csv.reader(io.StringIO(result.stdout))
    header = next(reader)
    assert tuple(header) == COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


def test_csv_grid_in_model_dtype_seq_batch_order() -> None:
    rows = csv_rows("llama-3-8b", "llama-3.3-70b", "--seq", "1k..8k", "--batch", "1,8,32",
                    "--dtype", "bf16,fp8")  # fmt: skip
    assert len(rows) == 2 * 2 * 4 * 3
    keys = [(r["model"], r["dtype"], int(r["seq_len"]), int(r["batch"])) for r in rows[:13]]
    assert keys[:4] == [("llama-3-8b", "bf16", 1 * K, 1), ("llama-3-8b", "bf16", 1 * K, 8),
                        ("llama-3-8b", "bf16", 1 * K, 32),
                        ("llama-3-8b", "bf16", 2 * K, 1)]  # fmt: skip
    assert keys[12] == ("llama-3-8b", "fp8", 1 * K, 1)
    for row in rows:
        seq, batch = int(row["seq_len"]), int(row["batch"])
        # Published dims: Llama 3 8B 32 layers, Llama 3.3 70B 80 layers; both 8 KV heads x 128.
        layers = 32 if row["model"] == "llama-3-8b" else 80
        width = 2 if row["dtype"] == "bf16" else 1
        assert int(row["total_bytes"]) == batch * seq * 2 * layers * 8 * 128 * width


def test_ranges_double_and_step() -> None:
    assert parse_seqs(["1k..128k"]) == tuple(K << n for n in range(8))
    assert parse_seqs(["3k..10k"]) == (3 * K, 6 * K)  # 12k would pass the end
    assert parse_seqs(["1k..4k:1k", "2k", "max"]) == (K, 2 * K, 3 * K, 4 * K, "max")
    assert parse_seqs(["8k,8k,"]) == (8 * K,)
    assert parse_batches(["1..64"]) == (1, 2, 4, 8, 16, 32, 64)
    assert parse_batches(["8..30:8", "1"]) == (8, 16, 24, 1)


@pytest.mark.parametrize(
    ("seq", "message"),
    [
        ("128k..1k", "is reversed"),
        ("1k..", "needs a start and an end"),
        ("..8k", "needs a start and an end"),
        ("1k..8k:", "needs a start and an end"),
        ("1k..8k:0", "--seq step must be at least 1"),
        ("0..8k", "--seq must be at least 1"),
        (",", "--seq is empty"),
        ("1..100000000:1", "at most 100,000"),
    ],
)
def test_bad_ranges(seq: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_seqs([seq])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seq", "128k..1k"], "is reversed"),
        (["--batch", "0"], "--batch must be a positive integer"),
        (["--batch", "-3"], "--batch must be a positive integer"),
        (["--batch", "64..8"], "is reversed"),
        (["--dtype", "fp7"], "unknown dtype 'fp7'"),
        (["--seq", ""], "--seq is empty"),
    ],
)
def test_bad_input_is_one_line_exit_1(args: list[str], message: str) -> None:
    result = run_kvcalc("sweep", "llama-3-8b", *args)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("kvcalc: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr


def test_no_model_is_a_usage_error() -> None:
    result = run_kvcalc("sweep", "--seq", "1k")
    assert result.returncode == 2 and "Missing argument" in result.stderr


def test_json_and_table_formats() -> None:
    import jsonschema

    result = run_kvcalc("sweep", "gemma-3-27b", "--seq", "512,4k", "--batch", "1,4", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["seq_len"], r["batch"]) for r in rows] == [(512, 1), (512, 4), (4096, 1), (4096, 4)]
    jsonschema.validate(rows, json.loads(run_kvcalc("schema", "sweep").stdout))
    for row in rows:
        assert sum(layer["total_bytes"] for layer in row["layers"]) == row["total_bytes"]
    assert rows[3]["total_bytes"] == 4 * rows[2]["total_bytes"]
    table = run_kvcalc("sweep", "llama-3-8b", "--seq", "8k", "--batch", "2", "-f", "table")
    assert table.returncode == 0 and "2,147,483,648" in table.stdout


def test_a_failing_model_leaves_the_others_rows() -> None:
    result = run_kvcalc("sweep", "no-such-model", "llama-3-8b", "--seq", "1k,2k")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 3
    assert result.stderr.startswith("kvcalc: error: unknown model 'no-such-model'")


def test_a_closed_pipe_ends_quietly() -> None:
    grid = ["--seq", "1k", "--batch", "1..100000:1"]  # 100,000 rows, far more than a pipe holds
    command = [sys.executable, "-m", "kvcalc", "sweep", "llama-3-8b", *grid]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    producer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=ROOT, env=env)  # fmt: skip
    assert producer.stdout is not None and producer.stderr is not None
    producer.stdout.readline()
    producer.stdout.close()
    stderr = producer.stderr.read().decode()
    assert producer.wait(timeout=30) == 141
    assert "Traceback" not in stderr and "Error" not in stderr


@pytest.fixture(scope="module")
def windowed_models():  # sliding windows (Gemma 3, gpt-oss) and MLA (DeepSeek-V3)
    return [load_model(name) for name in ("gemma-3-27b", "gpt-oss-120b", "deepseek-v3")]


@settings(max_examples=40, deadline=None)
@given(seq=st.integers(1, 200_000), batch=st.integers(1, 512), which=st.integers(0, 2),
       dtype=st.sampled_from(["auto", "fp8", "int4", "fp32"]))  # fmt: skip
def test_each_row_equals_a_full_estimate(windowed_models, seq, batch, which, dtype) -> None:
    model = windowed_models[which]
    grid, failures = sweep([model], [dtype], [seq], [batch])
    (row,) = grid.rows()
    expected = estimate(model, seq=seq, batch=batch, dtype=dtype)
    assert not failures and row.total_bytes == expected.total_bytes
    assert row.estimate().groups == expected.groups


def test_csv_renders_each_base_estimate_once(monkeypatch) -> None:
    calls = []
    real = rows_format.csv_row
    monkeypatch.setattr(rows_format, "csv_row", lambda one: calls.append(one) or real(one))
    grid, _ = sweep(load_models(["llama-3-8b", "qwen3-8b"]), ["bf16", "fp8"],
                    parse_seqs(["1k..100k:1k"]), parse_batches(["1..100:1"]))  # fmt: skip
    out = io.StringIO()
    rows_format.render_sweep_csv(grid.rows(), out)
    assert len(out.getvalue().splitlines()) == 1 + 40_000
    assert len(calls) == 2 * 2 * 100  # one per model x dtype x length, never per row


def test_an_engine_is_passed_to_estimate_row_by_row() -> None:
    model = load_model("llama-3-8b")
    grid, failures = sweep([model], ["auto"], [1000], [1, 3], engine="vllm")
    assert not failures
    for row in grid.rows():
        expected = estimate(model, seq=1000, batch=row.batch, engine="vllm")
        assert row.total_bytes == expected.total_bytes
