"""The one sanitiser of what kvcalc shows: redaction, escaping, cutting, Rich markup."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from kvcalc.render.safe_text import add_secret, block, one_line, redact, table_value
from tests.helpers import FIXTURE_CONFIGS, run_kvcalc


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("header b'Bearer abc.def-123\\r'", "abc.def-123"),
        ("sent hf_AbCdEfGhIjKlMnOp12 to the hub", "hf_AbCdEfGhIjKlMnOp12"),
        ("GET http://alice:pa55@127.0.0.1:1/x failed", "pa55"),
        ("url?token=s3cr3tvalue&x=1", "s3cr3tvalue"),
    ],
)
def test_anything_shaped_like_a_secret_is_redacted(text: str, secret: str) -> None:
    assert secret not in one_line(text)


def test_a_given_token_is_redacted_in_raw_and_escaped_forms() -> None:
    add_secret("plain-token-value\r")
    assert "plain-token-value" not in one_line(
        "bad header 'plain-token-value\\r' and plain-token-value"
    )


def test_ordinary_words_survive() -> None:
    text = "authenticate with HF_TOKEN, --token or `hf auth login`; hf_hub_download"
    assert redact(text) == text


def test_control_characters_are_escaped_and_lines_cannot_be_forged() -> None:
    shown = one_line("a\x1b[31mb\nkvcalc: note: forged\r\u202e\x9b")
    assert shown == "a\\x1b[31mb\\nkvcalc: note: forged\\r\\u202e\\x9b"


def test_long_values_are_cut() -> None:
    shown = one_line("x" * 3_500_000)
    assert len(shown) < 2100 and shown.endswith("(3,498,000 more characters)")


def test_a_block_keeps_its_newlines_only() -> None:
    assert block("Traceback\n  line \x1b[2J\n") == "Traceback\n  line \\x1b[2J\n"


@pytest.mark.parametrize("value", ["[red]x[/red]", "m[/]x", "path/[bold]b"])
def test_table_values_show_markup_literally(value: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("model")
    table.add_row(table_value(value))
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(table)
    assert value in out.getvalue()


# --- every table echoes names, paths and config strings literally ------------------------------

LLAMA = FIXTURE_CONFIGS / "meta-llama__Meta-Llama-3.1-8B.json"
# A model folder whose path is Rich markup: a style pair (two folders, `[red]x[` / `red]`) and
# a closing tag with nothing to close, which made Rich raise MarkupError.
MARKUP_PATHS = ["[red]x[/red]", "m[/]x"]
TABLE_COMMANDS = {
    "estimate": ("estimate", "--explain"),
    "compare": ("compare",),
    "sweep": ("sweep", "--format", "table", "--seq", "1k,2k"),
    "inspect": ("inspect",),
    "fit": ("fit", "--gpu-memory", "80GiB", "--weights", "1GB"),
    "draft": ("estimate", "--draft", str(LLAMA)),
}


def _model_folder(root: Path, name: str, config: dict[str, object] | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config or json.loads(LLAMA.read_text())))
    return folder


@pytest.mark.parametrize("name", MARKUP_PATHS)
@pytest.mark.parametrize("command", TABLE_COMMANDS)
def test_a_model_path_that_is_markup_shows_literally(
    tmp_path: Path, name: str, command: str
) -> None:
    _model_folder(tmp_path, name)
    first, *rest = TABLE_COMMANDS[command]
    result = run_kvcalc(first, f"./{name}", *rest, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{name} " in result.stdout  # in the title or the model column, as written
    assert all(line.startswith("kvcalc: note: ") for line in result.stderr.splitlines())


def test_paths_and_config_strings_with_escapes_reach_no_terminal_raw(tmp_path: Path) -> None:
    config = json.loads(LLAMA.read_text())
    config["torch_dtype"] = "bfloat16\x1b]0;pwned\x07\x1b[31m[red]z[/red]m[/]"
    hostile = _model_folder(tmp_path, "dtype", config).name
    path = _model_folder(tmp_path, "evil\x1b[2J\u202edir").name

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_kvcalc(*args, cwd=tmp_path)

    ok = {
        "inspect dtype": run("inspect", hostile),
        **{command: run(first, path, *rest) for command, (first, *rest) in TABLE_COMMANDS.items()},
    }
    # The torch_dtype is refused by the sizing commands (it names no dtype): one error line.
    refused = {command: run(command, hostile, *TABLE_COMMANDS[command][1:])
               for command in ("estimate", "compare", "fit")}  # fmt: skip
    for code, results in ((0, ok), (1, refused)):
        for command, result in results.items():
            assert result.returncode == code, result.stderr
            shown = result.stdout + result.stderr
            assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown, command
    for command in TABLE_COMMANDS:
        assert "evil\\x1b[2J\\u202edir" in ok[command].stdout, command
    assert "bfloat16\\x1b]0;pwned\\x07\\x1b[31m[red]z[/red]m[/]" in ok["inspect dtype"].stdout
    for result in refused.values():
        assert "torch_dtype 'bfloat16\\x1b]0;pwned\\x07" in result.stderr
