"""Figures that say what they mean: the next token's bytes beside the uncapped per-token
figure, lengths past a model's context marked everywhere, and the CSV's appended columns."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from kvcalc.planning.compare import sweep
from kvcalc.planning.estimation import estimate, load_model
from kvcalc.render.csv_format import COLUMNS, KIND_COLUMNS, csv_row
from kvcalc.render.rows_format import render_sweep_csv
from tests.helpers import run_kvcalc

# Published dimensions. Gemma 3 27B: 62 layers, 16 KV heads x head dim 128, K and V, bf16;
# 10 full-attention layers, 52 sliding with a 1,024-token window.
GEMMA3_27B_PER_LAYER = 16 * 128 * 2 * 2  # 8,192 B per token and layer
GEMMA3_27B_UNCAPPED = 62 * GEMMA3_27B_PER_LAYER  # 507,904 B
GEMMA3_27B_FULL_ONLY = 10 * GEMMA3_27B_PER_LAYER  # 81,920 B
# Llama 3 8B: 32 layers x 8 KV heads x 128, K and V, bf16; context 8,192.
LLAMA3_8B_PER_TOKEN = 32 * 8 * 128 * 2 * 2  # 131,072 B


def records(*args: str) -> dict[str, object]:
    result = run_kvcalc("estimate", *args, "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert isinstance(record, dict)
    return record


def test_next_token_is_only_the_uncapped_layers_past_the_window() -> None:
    record = records("gemma-3-27b")  # 131,072 tokens: every sliding layer is capped
    assert record["bytes_per_token"] == GEMMA3_27B_UNCAPPED
    assert record["marginal_bytes_per_token"] == GEMMA3_27B_FULL_ONLY
    below = records("gemma-3-27b", "--seq", "512")  # within the window every layer grows
    assert below["marginal_bytes_per_token"] == GEMMA3_27B_UNCAPPED


def test_next_token_is_per_sequence_whatever_the_batch() -> None:
    assert records("llama-3-8b", "--seq", "4k", "--batch", "8")["marginal_bytes_per_token"] == (
        LLAMA3_8B_PER_TOKEN
    )


def test_a_paged_engine_allocates_nothing_or_a_whole_block() -> None:
    """vLLM's blocks of 16 tokens: 16 x 131,072 B per block for Llama 3 8B."""
    model = load_model("llama-3-8b")
    block = 16 * LLAMA3_8B_PER_TOKEN
    steps = [estimate(model, seq=seq, engine="vllm").marginal_bytes_per_token
             for seq in range(100, 132)]  # fmt: skip
    assert set(steps) == {0, block}
    assert sum(steps) == 2 * block  # 32 tokens: two blocks


def test_the_marginal_is_the_difference_of_two_estimates() -> None:
    model = load_model("gpt-oss-120b")
    for engine in ("default", "vllm", "sglang", "llama.cpp", "transformers"):
        at = estimate(model, seq=4096, engine=engine)
        following = estimate(model, seq=4097, engine=engine)
        assert at.marginal_bytes_per_token == following.total_bytes - at.total_bytes, engine


def test_past_the_context_is_flagged_in_json() -> None:
    assert records("llama-3-8b", "--seq", "8192")["beyond_max_position_embeddings"] is False
    past = records("llama-3-8b", "--seq", "8193")
    assert past["beyond_max_position_embeddings"] is True
    assert past["max_position_embeddings"] == 8192


def test_the_table_labels_both_figures_and_the_excess() -> None:
    result = run_kvcalc("estimate", "gemma-3-27b", "--seq", "200000")
    assert result.returncode == 0, result.stderr
    lines = {line.split("  ")[0].strip(): line for line in result.stdout.splitlines()}
    assert "81,920 B (token 200,001 of one sequence)" in lines["Next token"]
    assert "507,904 B (all layers, before window caps)" in lines["Per token"]
    assert "past the model's max_position_embeddings, 131,072" in lines["Workload"]


def test_csv_kind_columns_add_up_and_the_new_columns_come_last() -> None:
    result = run_kvcalc("estimate", "gemma-3-27b", "--seq", "32k", "--batch", "2", "-f", "csv")
    assert result.returncode == 0, result.stderr
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert (
        list(row)[:14] == list(COLUMNS[:14]) and list(row)[-1] == "beyond_max_position_embeddings"
    )
    assert sum(int(row[column]) for column in KIND_COLUMNS) == int(row["total_bytes"])
    assert int(row["full_bytes"]) == 2 * 32 * 1024 * GEMMA3_27B_FULL_ONLY
    assert int(row["sliding_bytes"]) == 2 * 1024 * 52 * GEMMA3_27B_PER_LAYER
    assert float(row["total_gib"]) == int(row["total_bytes"]) / 1024**3
    assert float(row["total_gb"]) == int(row["total_bytes"]) / 10**9
    assert (row["engine"], row["marginal_bytes_per_token"]) == ("default", "81920")


@pytest.mark.parametrize("engine", ["default", "vllm"])
def test_sweep_csv_rows_equal_estimate_csv_rows(engine: str) -> None:
    """The sweep reuses one rendered line per length; each row must still be the estimate's."""
    models = {name: load_model(name) for name in ("gemma-3-27b", "llama-3-8b")}
    grid, failures = sweep(models.values(), ["auto", "fp8"], [1000, 9000], [1, 3, 64], engine)
    assert not failures
    out = io.StringIO()
    render_sweep_csv(grid.rows(), out)
    header, *rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(header) == COLUMNS
    for row, point in zip(rows, grid.rows(), strict=True):
        base = point.base
        full = estimate(models[base.source.name], seq=base.workload.seq_len, batch=point.batch,
                        dtype=base.dtype.name, engine=engine)  # fmt: skip
        assert row == [str(cell) for cell in csv_row(full)]


def test_compare_and_sweep_tables_mark_lengths_past_the_context() -> None:
    compare = run_kvcalc("compare", "llama-3-8b", "--seq", "8k,16k")
    assert compare.returncode == 0, compare.stderr
    row = next(line for line in compare.stdout.splitlines() if line.strip().startswith("llama"))
    assert row.rstrip().endswith("*") and row.count("*") == 1  # 16k only
    assert "* past max_position_embeddings" in compare.stdout
    table = run_kvcalc("sweep", "llama-3-8b", "--seq", "8k,16k", "-f", "table")
    assert "16,384 *" in table.stdout and "8,192 *" not in table.stdout


def test_plot_draws_a_catalogue_gpu_and_names_engine_and_dtype(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    svg = tmp_path / "kv.svg"
    result = run_kvcalc("plot", "llama-3-8b", "--seq", "4k..32k", "--dtype", "fp8", "-e", "vllm",
                        "--gpu", "h100", "--gpu-memory", "24GiB", "-o", str(svg))  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = svg.read_text(encoding="utf-8")
    for label in ("NVIDIA H100 80GB HBM3", "79.6 GiB", "GPU 24GiB", "engine vllm",
                  "fp8 cache", "past max_position_embeddings"):  # fmt: skip
        assert label in text, label


def test_plot_refuses_an_unknown_gpu_before_drawing(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    result = run_kvcalc("plot", "llama-3-8b", "--gpu", "h1000", "-o", "kv.png", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("kvcalc: error: unknown GPU 'h1000'")
    assert not list(tmp_path.iterdir())
