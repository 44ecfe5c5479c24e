"""The scripting contract: formats, quiet output, schema, version, and colour only on terminals."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys

import jsonschema
import pytest

from tests.helpers import ROOT, run_kvcalc

BOX_CHARS = set("╭╮╰╯─│┃━")


def test_quiet_prints_one_integer() -> None:
    result = run_kvcalc("estimate", "llama-3-8b", "--seq", "8192", "-q")
    assert result.returncode == 0
    assert result.stdout == "1073741824\n"


def test_csv_has_a_fixed_header_and_exact_integers() -> None:
    result = run_kvcalc("estimate", "opt-30b", "--seq", "1024", "--batch", "128", "-f", "csv")
    assert result.returncode == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # The first 14 columns as they always were, in order; new ones only appended after them.
    assert list(rows[0]) == [
        "model", "source_kind", "source_location", "model_type", "attention", "num_layers",
        "num_kv_heads", "head_dim", "dtype", "bits_per_element", "batch", "seq_len",
        "bytes_per_token", "total_bytes",
        "engine", "total_gib", "total_gb", "full_bytes", "sliding_bytes", "chunked_bytes",
        "state_bytes", "cross_bytes", "marginal_bytes_per_token",
        "beyond_max_position_embeddings",
    ]  # fmt: skip
    assert rows[0]["total_bytes"] == "180388626432"
    assert rows[0]["full_bytes"] == "180388626432" and rows[0]["engine"] == "default"
    assert rows[0]["beyond_max_position_embeddings"] == "false"


@pytest.mark.parametrize(
    ("units", "shown", "hidden"),
    [("gib", "1.00 GiB", "GB"), ("gb", "1.07 GB", "GiB"), ("bytes", "1,073,741,824 B", "GiB")],
)
def test_units(units: str, shown: str, hidden: str) -> None:
    result = run_kvcalc("estimate", "llama-3-8b", "--units", units)
    assert result.returncode == 0
    kv_line = next(line for line in result.stdout.splitlines() if "KV cache " in line)
    assert kv_line.strip().startswith("KV cache")
    assert shown in kv_line and hidden not in kv_line


def test_version() -> None:
    result = run_kvcalc("--version")
    assert result.returncode == 0 and result.stdout.startswith("kvcalc ")


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    result = run_kvcalc("schema")
    assert result.returncode == 0
    loaded = json.loads(result.stdout)
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize(
    "args",
    [
        ["llama-3-8b"],
        ["deepseek-v3", "--seq", "128k", "--dtype", "fp8"],
        ["gpt-oss-120b", "--seq", "1m", "--batch", "3"],
        ["gemma-3-27b", "--seq", "32k", "--dtype", "int4"],
        ["gpt2-large", "--seq", "1024"],
    ],
)
def test_json_output_follows_the_shipped_schema(schema: dict[str, object], args: list[str]) -> None:
    result = run_kvcalc("estimate", *args, "--json")
    assert result.returncode == 0, result.stderr
    jsonschema.validate(json.loads(result.stdout), schema)


def test_schema_rejects_a_float_byte_count(schema: dict[str, object]) -> None:
    record = json.loads(run_kvcalc("estimate", "llama-3-8b", "--json").stdout)
    record["total_bytes"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, schema)


def test_pipe_gets_no_colour_and_no_box_drawing() -> None:
    result = run_kvcalc("estimate", "llama-3-8b")
    assert "\x1b[" not in result.stdout
    assert not BOX_CHARS & set(result.stdout)


def test_force_color_is_rich_s_own_switch() -> None:
    result = run_kvcalc("estimate", "llama-3-8b", env={"FORCE_COLOR": "1"})
    assert "\x1b[" in result.stdout


def run_in_terminal(*args: str, env: dict[str, str]) -> str:
    """Runs kvcalc with a pseudo-terminal as stdout and returns what it wrote there."""
    leader, follower = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    full_env.update({"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TERM": "xterm-256color",
                     "COLUMNS": "120", **env})  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "kvcalc", *args], stdout=follower, stderr=subprocess.PIPE,
        env=full_env, cwd=ROOT,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode()


def test_terminal_gets_colour_and_boxes() -> None:
    shown = run_in_terminal("estimate", "llama-3-8b", env={})
    assert "\x1b[" in shown
    assert BOX_CHARS & set(shown)


def test_no_color_in_a_terminal() -> None:
    shown = run_in_terminal("estimate", "llama-3-8b", env={"NO_COLOR": "1"})
    assert "\x1b[" not in shown
    assert not BOX_CHARS & set(shown)


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("presets", ["presets", "--json"]),
        ("inspect", ["inspect", "gemma-3-27b", "--json"]),
        ("inspect", ["inspect", "deepseek-v3", "--json"]),
        ("bench", ["bench", "--seq", "8", "--layers", "1", "--speculative", "2", "--json"]),
        ("estimate", ["estimate", "gpt-oss-120b", "--engine", "vllm", "--json"]),
        ("estimate", ["estimate", "llama-3.1-8b", "--engine", "llama.cpp", "--dtype", "q8_0",
                      "--json"]),
    ],
)  # fmt: skip
def test_every_command_s_json_follows_its_schema(command: str, args: list[str]) -> None:
    schema = run_kvcalc("schema", command)
    assert schema.returncode == 0, schema.stderr
    result = run_kvcalc(*args)
    assert result.returncode == 0, result.stderr
    jsonschema.validate(json.loads(result.stdout), json.loads(schema.stdout))


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("fit", ["fit", "llama-3.3-70b", "--gpu", "h100", "--gpus", "2", "--tp", "2", "--seq",
                 "32k", "--json"]),
        ("fit", ["fit", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--seq", "32k",
                 "--weights", "689GB", "--json"]),
        ("fit", ["fit", "qwen3-next-80b-a3b", "--gpu", "h100", "--seq", "32k", "--engine",
                 "sglang", "--weights", "163GB", "--json"]),
        ("fit", ["fit", "gpt-oss-120b", "--gpu", "b200", "--gpus", "1", "--engine", "trtllm",
                 "--weights", "65GB", "--json"]),
        ("fit", ["fit", "llama-3.1-8b", "--gpu", "h100", "--gpus", "1", "--engine", "llama.cpp",
                 "--json"]),
        ("gpus", ["gpus", "--json"]),
        ("compare", ["compare", "llama-3-8b", "deepseek-v3", "--dtype", "bf16,fp8", "--json"]),
        ("sweep", ["sweep", "llama-3-8b", "--seq", "1k..4k", "--batch", "1,8", "--json"]),
    ],
)  # fmt: skip
def test_planning_json_follows_its_schema(command: str, args: list[str]) -> None:
    schema = json.loads(run_kvcalc("schema", command).stdout)
    result = run_kvcalc(*args)
    assert result.returncode in (0, 4), result.stderr
    jsonschema.validate(json.loads(result.stdout), schema)
