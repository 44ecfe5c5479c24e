"""The one sanitiser of what kvcalc shows: redaction, escaping, cutting, Rich markup."""

from __future__ import annotations

import io

import pytest

from kvcalc.render.safe_text import add_secret, block, one_line, redact, table_value


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
