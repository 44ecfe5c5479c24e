"""The command line as a user and a shell script see it: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_kvcalc


def estimate_json(*args: str) -> dict[str, object]:
    result = run_kvcalc("estimate", *args, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


# The three reference figures of the product brief (exact integers, published dimensions).
@pytest.mark.parametrize(
    ("model", "dtype", "seq", "batch", "expected"),
    [
        ("llama-3-8b", "bf16", "8192", "1", 1_073_741_824),
        ("meta-llama/Llama-3.3-70B-Instruct", "fp16", "128000", "1", 41_943_040_000),
        ("facebook/opt-30b", "fp16", "1024", "128", 180_388_626_432),
    ],
)
def test_reference_figures(model: str, dtype: str, seq: str, batch: str, expected: int) -> None:
    data = estimate_json(model, "--dtype", dtype, "--seq", seq, "--batch", batch)
    assert data["total_bytes"] == expected
    assert data["seq_len"] == int(seq) and data["batch"] == int(batch)


def test_json_has_the_documented_fields() -> None:
    data = estimate_json("llama-3-8b", "--seq", "8k")
    for key in ("schema_version", "model", "source", "attention", "num_layers", "num_kv_heads",
                "head_dim", "dtype", "bytes_per_element", "batch", "seq_len",
                "bytes_per_token", "total_bytes", "layers"):  # fmt: skip
        assert key in data
    assert data["seq_len"] == 8192
    assert data["dtype"] == "bf16"  # the config's torch_dtype
    assert data["source"] == {"kind": "preset", "location": "meta-llama/Meta-Llama-3-8B"}


@pytest.mark.parametrize(
    ("seq", "tokens"), [("8192", 8192), ("8k", 8192), ("128k", 131072), ("1m", 1048576),
                        ("8K", 8192), ("max", 8192)]
)  # fmt: skip
def test_seq_forms(seq: str, tokens: int) -> None:
    assert estimate_json("llama-3-8b", "--seq", seq)["seq_len"] == tokens


def test_explain_substitutes_the_numbers() -> None:
    result = run_kvcalc("estimate", "llama-3-8b", "--seq", "8192", "--explain")
    assert result.returncode == 0
    assert "1 x 8192 x 2 x 32 x 8 x 128 x 2 B = 1,073,741,824 B" in result.stdout


def test_table_labels_binary_and_decimal_units() -> None:
    result = run_kvcalc("estimate", "llama-3.3-70b", "--seq", "128000", "--dtype", "fp16")
    assert result.returncode == 0
    assert "39.06 GiB" in result.stdout
    assert "41.94 GB" in result.stdout
    assert "41,943,040,000 B" in result.stdout
    assert "\x1b[" not in result.stdout  # piped: no colour


def test_mla_is_one_latent_per_token_and_layer() -> None:
    # DeepSeek-V3: 61 layers x (512 + 64) latent x 2 bytes per token, not x2 for K and V.
    data = estimate_json("deepseek-v3", "--seq", "1", "--dtype", "bf16")
    assert data["bytes_per_token"] == 61 * 576 * 2
    assert data["attention"] == "MLA"


def test_missing_dtype_is_said_on_stderr() -> None:
    result = run_kvcalc("estimate", "gpt2-large", "--seq", "1024", "--json")
    assert result.returncode == 0
    assert "assuming fp16" in result.stderr
    assert json.loads(result.stdout)["dtype"] == "fp16"


def test_local_file_and_folder(tmp_path: Path) -> None:
    config = {"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "hidden_size": 256, "torch_dtype": "float32"}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    by_folder = estimate_json(str(tmp_path), "--seq", "10")
    by_file = estimate_json(str(tmp_path / "config.json"), "--seq", "10")
    # 10 tokens x 2 (K, V) x 2 layers x 2 KV heads x 64 dims x 4 bytes
    assert by_folder["total_bytes"] == by_file["total_bytes"] == 10 * 2 * 2 * 2 * 64 * 4


def test_presets_lists_the_headline_models() -> None:
    result = run_kvcalc("presets", "--json")
    assert result.returncode == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"llama-3-8b", "llama-3.3-70b", "opt-30b", "deepseek-v3", "qwen3-8b"} <= set(rows)
    assert rows["llama-3-8b"]["num_kv_heads"] == 8
    table = run_kvcalc("presets")
    assert table.returncode == 0 and "meta-llama/Llama-3.3-70B-Instruct" in table.stdout


def test_preset_names_are_case_insensitive() -> None:
    assert estimate_json("LLAMA-3-8B", "--seq", "1")["model"] == "llama-3-8b"


# Bad input: one line on stderr, nothing on stdout, the documented exit code.
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["estimate", "no-such-model"], 1, "unknown model 'no-such-model'"),
        (["estimate", "llama-3-8c"], 1, "did you mean llama-3-8b"),
        (["estimate", "./missing/config.json"], 1, "no such file or directory"),
        (["estimate", "llama-3-8b", "--seq", "0"], 1, "--seq must be at least 1"),
        (["estimate", "llama-3-8b", "--seq", "abc"], 1, "not a token count"),
        (["estimate", "llama-3-8b", "--seq", "12q"], 1, "not a token count"),
        (["estimate", "llama-3-8b", "--seq", "-5"], 1, "not a token count"),
        (["estimate", "llama-3-8b", "--batch", "0"], 1, "--batch must be a positive integer"),
        (["estimate", "llama-3-8b", "--batch", "-3"], 1, "--batch must be a positive integer"),
        (["estimate", "llama-3-8b", "--batch", "abc"], 1, "--batch must be a positive integer"),
        (["estimate", "llama-3-8b", "--dtype", "fp7"], 1, "unknown dtype 'fp7'"),
        (["estimate"], 2, "Missing argument"),
        (["estimate", "llama-3-8b", "--frobnicate"], 2, "No such option"),
    ],
)
def test_bad_input(args: list[str], code: int, message: str) -> None:
    result = run_kvcalc(*args)
    assert result.returncode == code
    assert result.stdout == ""
    assert message in result.stderr
    # Usage errors too: one `kvcalc: error:` line, not Click's four-line block.
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("kvcalc: error: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("", "is not valid JSON"),
        ('{"model_type": "llama"}', "none of num_hidden_layers, n_layer"),
        (
            '{"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 0,'
            ' "hidden_size": 8}',
            "num_attention_heads must be positive",
        ),
        ('{"model_type": "prophetnet", "num_hidden_layers": 2}', "encoder-decoder"),
        ('{"model_type": "whisper", "num_hidden_layers": 2}', "decoder_layers is missing"),
    ],
)
def test_bad_config_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    result = run_kvcalc("estimate", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_folder_without_config(tmp_path: Path) -> None:
    result = run_kvcalc("estimate", str(tmp_path))
    assert result.returncode == 1
    assert "has no config.json" in result.stderr


def test_debug_shows_the_traceback() -> None:
    result = run_kvcalc("estimate", "no-such-model", env={"KVCALC_DEBUG": "1"})
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("kvcalc: error: unknown model")


def test_python_dash_m_and_help() -> None:
    result = run_kvcalc("--help")
    assert result.returncode == 0
    assert "estimate" in result.stdout
