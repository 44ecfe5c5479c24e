"""Speculative decoding: target, its K write-ahead slots, and the draft's cache."""

from __future__ import annotations

import json

import jsonschema

from tests.helpers import run_kvcalc


def test_target_slots_and_draft_from_published_dims() -> None:
    result = run_kvcalc("estimate", "llama-3.1-70b", "--draft", "llama-3.2-1b", "--seq", "8k",
                        "--spec-tokens", "4", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    # Llama 3.1 70B: 80 layers x 8 KV heads x 128 x 2 (K, V) x 2 B = 327,680 B per token
    assert plan["target"]["total_bytes"] == 8192 * 327_680
    assert plan["target_slot_bytes"] == 4 * 327_680
    # Llama 3.2 1B: 16 layers x 8 KV heads x 64 x 2 x 2 B = 32,768 B per token, seq + K
    assert plan["draft_bytes"] == (8192 + 4) * 32_768
    assert plan["extra_bytes"] == 4 * 327_680 + 8196 * 32_768
    assert plan["total_bytes"] == 8196 * 327_680 + 8196 * 32_768
    schema = json.loads(run_kvcalc("schema", "speculative").stdout)
    jsonschema.validate(plan, schema)


def test_quiet_and_table() -> None:
    quiet = run_kvcalc("estimate", "llama-3.1-70b", "--draft", "llama-3.2-1b", "--seq", "8k",
                       "-q")  # fmt: skip
    assert quiet.stdout.strip() == str(8196 * 327_680 + 8196 * 32_768)
    table = run_kvcalc("estimate", "llama-3.1-70b", "--draft", "llama-3.2-1b", "--seq", "8k")
    assert "speculative slots" in table.stdout and "1,310,720 B" in table.stdout


def test_bad_spec_tokens() -> None:
    result = run_kvcalc("estimate", "llama-3.1-70b", "--draft", "llama-3.2-1b", "--spec-tokens",
                        "0")  # fmt: skip
    assert result.returncode == 1 and "--spec-tokens must be a positive integer" in result.stderr
