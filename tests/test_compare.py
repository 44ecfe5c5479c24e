"""`kvcalc compare`: models side by side, as a table, JSON rows and CSV rows."""

from __future__ import annotations

import csv
import io
import json
import re
from fractions import Fraction

import pytest
from rich.console import Console

from kvcalc.errors import InputError
from kvcalc.planning.compare import ModelFailure, compare, failure_lines
from kvcalc.planning.estimation import load_model
from kvcalc.render.compare_table import BAR_WIDTH, change_text, format_tokens, render_compare
from kvcalc.render.csv_format import COLUMNS
from tests.helpers import run_kvcalc

pytest_plugins = ["tests.conftest_hub"]

# Published dimensions: Llama 3 8B has 32 layers x 8 KV heads x head dim 128, K and V, so
# 32 x 8 x 128 x 2 = 65,536 elements per token: 131,072 B in bf16, 65,536 B in fp8.
LLAMA3_8B_BF16_PER_TOKEN = 131_072
HEADLINE = {"llama-3-8b", "llama-3.3-70b", "opt-30b", "mistral-7b", "qwen3-8b", "deepseek-v3",
            "gpt-oss-120b", "gemma-3-27b"}  # fmt: skip


def rows_of(*args: str) -> list[dict[str, object]]:
    result = run_kvcalc("compare", *args, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return rows


def test_rows_are_estimate_records_model_x_dtype_x_seq() -> None:
    import jsonschema

    rows = rows_of("llama-3-8b", "deepseek-v3", "--dtype", "auto", "--dtype", "fp8",
                   "--seq", "8k,128k")  # fmt: skip
    jsonschema.validate(rows, json.loads(run_kvcalc("schema", "compare").stdout))
    estimate_schema = json.loads(run_kvcalc("schema", "estimate").stdout)
    for row in rows:
        jsonschema.validate(row, estimate_schema)
    keys = [(row["model"], row["dtype"], row["seq_len"]) for row in rows]
    assert keys == [
        ("llama-3-8b", "bf16", 8192), ("llama-3-8b", "bf16", 131072),
        ("llama-3-8b", "fp8", 8192), ("llama-3-8b", "fp8", 131072),
        ("deepseek-v3", "bf16", 8192), ("deepseek-v3", "bf16", 131072),
        ("deepseek-v3", "fp8", 8192), ("deepseek-v3", "fp8", 131072),
    ]  # fmt: skip
    assert rows[0]["bytes_per_token"] == LLAMA3_8B_BF16_PER_TOKEN
    assert rows[0]["total_bytes"] == 1_073_741_824  # 8,192 tokens x 131,072 B
    assert rows[1]["total_bytes"] == 131_072 * LLAMA3_8B_BF16_PER_TOKEN
    # DeepSeek-V3 caches one MLA latent per token and layer: 61 x (512 + 64) x 2 B.
    assert rows[4]["bytes_per_token"] == 61 * 576 * 2
    for own, fp8 in ((rows[0], rows[2]), (rows[1], rows[3]), (rows[4], rows[6])):
        assert 2 * fp8["total_bytes"] == own["total_bytes"]  # type: ignore[operator]


def test_no_models_compares_the_headline_presets() -> None:
    rows = rows_of("--seq", "4k")
    assert {row["model"] for row in rows} == HEADLINE
    assert len(rows) == len(HEADLINE)


def test_table_shows_gib_gb_and_the_fp8_saving() -> None:
    result = run_kvcalc("compare", "llama-3-8b", "--dtype", "bf16,fp8", "--seq", "8k,32k")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.search(r"model +dtype +8k +32k +vs own dtype", result.stdout)
    fp8 = next(line for line in lines if " fp8 " in line)
    assert "0.50 GiB · 0.54 GB" in fp8 and "2.00 GiB · 2.15 GB" in fp8 and "-50%" in fp8
    bf16 = next(line for line in lines if " bf16 " in line)
    assert "1.00 GiB · 1.07 GB" in bf16 and "same" in bf16
    assert "\x1b[" not in result.stdout  # a pipe: no colour, no bars
    assert "━" not in result.stdout and "█" not in result.stdout


def test_csv_rows_and_the_opt_reference_figure() -> None:
    result = run_kvcalc("compare", "opt-30b", "--dtype", "fp16,int4", "--seq", "1024",
                        "--batch", "128", "--format", "csv")  # fmt: skip
    assert result.returncode == 0, result.stderr
    header, *rows = list(csv.reader(io.StringIO(result.stdout)))
    assert tuple(header) == COLUMNS
    totals = {row[COLUMNS.index("dtype")]: int(row[COLUMNS.index("total_bytes")]) for row in rows}
    # OPT-30B: 48 layers x 56 heads x 128 dims x K and V x 2 B x 1,024 tokens x 128 sequences.
    assert totals == {"fp16": 180_388_626_432, "int4": 180_388_626_432 // 4}


def test_a_failing_model_is_one_line_and_the_others_still_print() -> None:
    result = run_kvcalc("compare", "llama-3-8b", "no-such-model", "some-org/not-cached",
                        "--seq", "8k", "--json")  # fmt: skip
    assert result.returncode == 1  # the first failure's code: an unknown preset
    assert [row["model"] for row in json.loads(result.stdout)] == ["llama-3-8b"]
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and all(line.startswith("kvcalc: error: ") for line in errors)
    assert "unknown model 'no-such-model'" in errors[0]
    assert "some-org/not-cached" in errors[1] and "offline" in errors[1]
    assert "Traceback" not in result.stderr
    hub_first = run_kvcalc("compare", "some-org/not-cached", "llama-3-8b", "--seq", "8k")
    assert hub_first.returncode == 3  # source unavailable
    assert "llama-3-8b" in hub_first.stdout


def test_hub_ids_load_concurrently_once_each(hub) -> None:
    config = {"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 8,
              "num_key_value_heads": 2, "hidden_size": 512, "torch_dtype": "bfloat16",
              "max_position_embeddings": 4096}  # fmt: skip
    for repo in ("org-a/tiny", "org-b/tiny"):
        hub.server.add_repo(repo, {"config.json": json.dumps(config).encode()})
    result = hub.kvcalc("compare", "org-a/tiny", "org-b/tiny", "org-c/missing", "org-a/tiny",
                        "--dtype", "auto,fp8", "--seq", "100,1k", "--json")  # fmt: skip
    assert result.returncode == 3, result.stderr
    rows = json.loads(result.stdout)
    # 2 layers x 2 KV heads x (64 + 64) dims x 2 B = 1,024 B per token in bf16
    assert [(row["model"], row["total_bytes"]) for row in rows] == [
        ("org-a/tiny", 102_400), ("org-a/tiny", 1_048_576),
        ("org-a/tiny", 51_200), ("org-a/tiny", 524_288),
        ("org-b/tiny", 102_400), ("org-b/tiny", 1_048_576),
        ("org-b/tiny", 51_200), ("org-b/tiny", 524_288),
    ]  # fmt: skip
    assert result.stderr.count("kvcalc: error: org-c/missing") == 1
    for repo in ("org-a/tiny", "org-b/tiny"):
        downloads = hub.server.requests_for(method="GET", repo_id=repo, filename="config.json")
        assert len(downloads) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seq", "128k..1k"], "is reversed"),
        (["--seq", "8k.."], "needs a start and an end"),
        (["--seq", "0"], "--seq must be at least 1"),
        (["--dtype", "fp7"], "unknown dtype 'fp7'"),
        (["--batch", "0"], "--batch must be a positive integer"),
        (["--engine", "nope"], "unknown engine 'nope'"),
    ],
)
def test_bad_input_is_one_line_before_any_model_is_loaded(args: list[str], message: str) -> None:
    result = run_kvcalc("compare", "llama-3-8b", *args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("kvcalc: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr


def test_models_failing_alike_share_one_line() -> None:
    alike = [ModelFailure(name, InputError("no fp9 cache")) for name in ("a", "b")]
    other = ModelFailure("c", InputError("unknown model 'c'"))
    assert failure_lines([alike[0], other, alike[1]]) == ["a, b: no fp9 cache", "unknown model 'c'"]


def test_terminal_table_draws_a_bar_per_row_scaled_to_the_largest() -> None:
    rows, _ = compare([load_model("llama-3-8b"), load_model("llama-3.3-70b")], ["auto"], [8192], 1)
    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
    render_compare(rows, [8192], 1, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    bars = [line.count("█") for line in text.splitlines() if "llama" in line]  # no colour: blocks
    # Llama 3.3 70B: 80 layers against Llama 3 8B's 32, same KV heads and head dim.
    assert bars[1] == BAR_WIDTH and bars[0] == int(BAR_WIDTH * 32 / 80)


def test_formatting_helpers() -> None:
    tokens = (8192, 131072, 1048576, 8000)
    assert [format_tokens(n) for n in tokens] == ["8k", "128k", "1m", "8,000"]
    assert change_text(Fraction(1, 2)) == "-50%"
    assert change_text(Fraction(-1)) == "+100%"
    assert change_text(Fraction(0)) == "same"
    assert change_text(Fraction(23, 32)) == "-71.9%"


def test_a_narrow_terminal_stacks_gib_over_gb_and_drops_the_bars() -> None:
    rows, _ = compare([load_model("llama-3-8b")], ["auto", "fp8"], [8192, 32768], 1)
    console = Console(file=io.StringIO(), force_terminal=True, width=60, color_system=None)
    render_compare(rows, [8192, 32768], 1, console)
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert all(len(line) <= 60 for line in lines)
    assert not any("█" in line for line in lines)
    own = next(index for index, line in enumerate(lines) if "llama-3-8b" in line)
    assert "1.00 GiB" in lines[own] and "own" in lines[own] and "1.07 GB" in lines[own + 1]
