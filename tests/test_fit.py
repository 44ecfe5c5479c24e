"""`kvcalc fit` and `kvcalc gpus`: the engine's own sizing per GPU, budgets, the solver, the
verdict a deployment is gated on, and its exit codes.

Expected figures come from the engines' source, worked by hand in docs/engines.md (vLLM 0.33
`kv_cache_utils.py` / `kv_cache_planning.py`), not from kvcalc's own formula restated.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from fractions import Fraction

import pytest

from kvcalc.engines import Deployment, size
from kvcalc.engines.kvbytes import Workload
from kvcalc.engines.parallel import Parallelism, plan_parallelism, shard, stage_sizes
from kvcalc.errors import InputError
from kvcalc.model.dtypes import BF16
from kvcalc.planning.estimation import load_model
from kvcalc.planning.fit import EngineKnobs, fit, parse_util
from kvcalc.planning.gpus import CATALOGUE, find_gpu
from tests.helpers import ROOT, run_kvcalc

H100 = 81559 * 1024**2  # nvidia-smi's 81559 MiB
GIB = 1024**3


def fit_json(*args: str, code: int = 0) -> dict[str, object]:
    result = run_kvcalc("fit", *args, "--json")
    assert result.returncode == code, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def one_line_error(*args: str, code: int = 1) -> str:
    result = run_kvcalc(*args)
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("kvcalc: error: ") and result.stderr.count("\n") == 1
    return result.stderr


def test_h100_is_the_bytes_the_driver_reports() -> None:
    # modal-labs/modal-client#2797: "the reported total memory (85520809984 bytes ...) on H100"
    assert find_gpu("H100").memory_bytes == 85_520_809_984 == H100


# --- vLLM's own figures from a KV budget (docs/engines.md §1.8, worked from the source) ------


def test_vllm_gemma3_pads_uneven_groups_and_reports_its_log_figures() -> None:
    # Gemma-3-27B, bf16, H100 server defaults (max_num_batched_tokens 8,192, async: T = 16,384),
    # M = 131,072, 40 GiB: groups of 10 layer slots (1 full, 6 sliding of 9,9,9,9,8,8), a block
    # id = 10 x 16 x 16 x 256 x 2 = 1,310,720 B; 42,949,672,960 // 1,310,720 = 32,768 blocks;
    # a request's worst case = 8,192 + 6 x (cdiv(min(1,023 + 16,384, M), 16) + 1) = 14,726;
    # X = 32,768 / 14,726; N = int(X x M) = 291,658.
    data = fit_json("gemma-3-27b", "--gpu", "h100", "--gpus", "1", "--seq", "131072",
                    "--kv-cache-memory", "40GiB", "--weights", "54GB")  # fmt: skip
    assert data["pool"] == {
        "unit": "block",
        "unit_bytes": 1_310_720,
        "units": 32_768,
        "reserved_units": 1,
        "worst_case_units_per_request": 14_726,
    }
    assert data["kv_tokens_per_gpu"] == 291_658
    assert data["max_concurrency"] == pytest.approx(32_768 / 14_726, abs=0)
    assert data["engine_log"] == [
        "GPU KV cache size: 291,658 tokens",
        "Maximum concurrency for 131,072 tokens per request: 2.23x",
    ]
    assert data["kv_budget_bytes_per_gpu"] == 40 * GIB and data["util"] is None


def test_vllm_decoding_request_holds_the_next_slot_and_frees_late() -> None:
    # Gemma-3-27B at S = 10,000 under async scheduling: full cdiv(10,001, 16) = 626 blocks,
    # each sliding group 626 - (10,000 - 1,024) // 16 = 65: 626 + 6 x 65 = 1,016 block ids.
    estimate = size("vllm", load_model("gemma-3-27b").architecture, Workload(1, 10_000),
                    BF16, BF16)  # fmt: skip
    assert estimate.total_bytes == 1_016 * 1_310_720 == 1_331_691_520


@pytest.mark.parametrize(
    ("caching", "blocks", "worst", "concurrency"),
    [("--prefix-caching", 4_551, 465, "9.79x"), ("--no-prefix-caching", 4_818, 485, "9.93x")],
)
def test_vllm_qwen3_next_hybrid_blocks(
    caching: str, blocks: int, worst: int, concurrency: str
) -> None:
    # Qwen3-Next-80B, 60 GiB, M = 262,144. Mamba page 1,097,728 B; align mode (prefix caching,
    # FlashInfer GDN on Hopper) K = lcm(16, 64): block 576, a block id 12 x 576 x 2,048 B; a
    # request 455 + 3 GDN groups x (2 + 1 checkpoint). None: block 544, 482 + 3 x 1 = 485.
    data = fit_json("qwen3-next-80b-a3b", "--gpu", "h100", "--gpus", "1", "--seq", "262144",
                    "--kv-cache-memory", "60GiB", "--weights", "1GB", caching)  # fmt: skip
    pool = data["pool"]
    assert isinstance(pool, dict)
    assert (pool["units"], pool["worst_case_units_per_request"]) == (blocks, worst)
    assert isinstance(data["engine_log"], list) and concurrency in data["engine_log"][1]


def test_vllm_mla_block_follows_the_backend() -> None:
    # Hopper: bf16 MLA on FLASH_ATTN_MLA (16), fp8 on FLASHMLA (64); Blackwell FLASHINFER_MLA (32).
    arch = load_model("deepseek-v3").architecture
    from kvcalc.model.dtypes import FP8

    for dtype, gpu_arch, block in ((BF16, "hopper", 16), (FP8, "hopper", 64),
                                   (BF16, "blackwell", 32), (BF16, "ampere", 16)):  # fmt: skip
        result = size("vllm", arch, Workload(1, 1000), dtype, BF16, Deployment(gpu_arch=gpu_arch))
        assert f"of {block}" in result.groups[0].detail, (gpu_arch, result.groups[0].detail)
    with pytest.raises(InputError, match="Ampere"):
        size("vllm", arch, Workload(1, 1000), FP8, BF16, Deployment(gpu_arch="ampere"))


# --- one sizing path: fit at TP 1 is estimate, byte for byte ----------------------------------


def test_fit_at_tp1_equals_estimate_for_the_same_workload() -> None:
    from kvcalc import estimate

    for engine in ("vllm", "default", "transformers", "naive"):
        expected = estimate("llama-3.1-8b", seq="32k", batch=3, engine=engine).total_bytes
        result = fit("llama-3.1-8b", gpu="h100", gpus=1, seq="32k", batch=3,
                     knobs=EngineKnobs(engine))  # fmt: skip
        assert result.report.kv_bytes == expected, engine


# --- the planner's questions -------------------------------------------------------------------


def test_llama_70b_bf16_does_not_fit_one_h100_and_fits_on_four() -> None:
    one = fit_json("llama-3.3-70b", "--gpu", "h100", "--gpus", "1", "--seq", "8k", code=4)
    assert one["fits"] is False and one["reason"] == "weights"
    four = fit_json("llama-3.3-70b", "--gpu", "h100", "--gpus", "4", "--tp", "4", "--seq", "32k")
    assert four["fits"] is True and four["reason"] is None
    assert four["weights"]["bytes_per_gpu"] == 141_107_412_992 // 4  # type: ignore[index]


def test_qwen3_next_fits_on_four_h100_with_its_states() -> None:
    # --weights: the bf16 checkpoint's order of size (81.3 B parameters x 2 B).
    data = fit_json("qwen3-next-80b-a3b", "--gpu", "h100", "--gpus", "4", "--tp", "4",
                    "--seq", "32k", "--batch", "8", "--weights", "163GB")  # fmt: skip
    assert data["fits"] is True
    kinds = {layer["kind"] for layer in data["layers"]}  # type: ignore[attr-defined, union-attr]
    assert "state" in kinds


def test_solver_finds_the_fewest_gpus() -> None:
    data = fit_json("llama-3.3-70b", "--gpu", "h100", "--seq", "32k", "--batch", "16")
    assert data["solved"] is True and data["fits"] is True
    assert (data["gpus"], data["tp"], data["pp"]) == (8, 8, 1)
    # Four GPUs are too few (16 x 32k tokens x 81,920 B per GPU exceed the budget left by
    # 35 GB of weights): the solver's answer is the smallest that fits.
    smaller = fit_json("llama-3.3-70b", "--gpu", "h100", "--gpus", "4", "--seq", "32k",
                       "--batch", "16", code=4)  # fmt: skip
    assert smaller["reason"] == "kv"


def test_any_gpu_lists_the_cheapest_options() -> None:
    result = run_kvcalc("fit", "llama-3.1-8b", "--gpu", "any", "--seq", "8k", "--json")
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout)
    assert options and options[0]["gpus"] == 1
    counts = [(o["gpus"], o["total_memory_bytes"]) for o in options]
    assert counts == sorted(counts)


def test_any_gpu_takes_no_gpu_memory() -> None:
    assert "--gpu-memory" in one_line_error("fit", "llama-3.1-8b", "--gpu", "any",
                                            "--gpu-memory", "1ZiB")  # fmt: skip


def test_context_reason_when_one_request_cannot_fit() -> None:
    data = fit_json("llama-3.1-8b", "--gpu", "h100", "--gpus", "1", "--seq", "128k",
                    "--kv-cache-memory", "4GiB", "--weights", "16GB", code=4)  # fmt: skip
    assert data["reason"] == "context" and data["max_batch"] == 0


def test_reserve_is_shown_and_can_be_given() -> None:
    estimated = fit_json("llama-3.1-8b", "--gpu", "h100", "--gpus", "1", "--seq", "8k")
    reserve = estimated["reserve"]
    assert isinstance(reserve, dict) and reserve["estimate"] is True
    assert estimated["reserve_bytes_per_gpu"] == sum(p["bytes"] for p in reserve["parts"])
    given = fit_json("llama-3.1-8b", "--gpu", "h100", "--gpus", "1", "--seq", "8k",
                     "--reserve", "2GiB", "--util", "0.9")  # fmt: skip
    assert given["reserve_bytes_per_gpu"] == 2 * GIB
    usable = -(-H100 * 9 // 10)
    assert given["kv_budget_bytes_per_gpu"] == usable - 16_060_522_496 - 2 * GIB


def test_quantized_preset_without_exact_bytes_is_refused_not_priced() -> None:
    from kvcalc.sources.presets import find_preset

    preset = find_preset("gpt-oss-120b")
    assert preset is not None
    if preset.checkpoint_bytes or preset.checkpoint_by_dtype:
        data = fit_json("gpt-oss-120b", "--gpu", "h100", "--gpus", "1", "--seq", "8k")
        assert data["fits"] is True  # the MXFP4 checkpoint is about 65 GB
    else:
        assert "--weights SIZE" in one_line_error("fit", "gpt-oss-120b", "--gpu", "h100")
    forced = fit_json("gpt-oss-120b", "--gpu", "h100", "--gpus", "1", "--seq", "8k",
                      "--weights", "65GB")  # fmt: skip
    assert forced["fits"] is True


def test_csv_and_quiet() -> None:
    csv = run_kvcalc("fit", "llama-3.1-8b", "--gpu", "h100", "--gpus", "1", "--format", "csv")
    assert csv.returncode == 0, csv.stderr
    header, row = csv.stdout.splitlines()
    assert header.startswith("model,engine,gpu,gpus") and row.startswith("llama-3.1-8b,vllm,h100,")
    quiet = run_kvcalc("fit", "llama-3.1-8b", "--gpu", "h100", "--gpus", "1", "-q")
    assert quiet.returncode == 0 and int(quiet.stdout) >= 1


# --- parallelism ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "pp", "sizes"),
    [(61, 4, [15, 15, 16, 15]), (62, 4, [15, 16, 16, 15]), (36, 5, [7, 7, 7, 8, 7])],
)
def test_pipeline_stages_as_vllm_deals_them(layers: int, pp: int, sizes: list[int]) -> None:
    # vllm/distributed/utils.py get_pp_indices: the remainder goes to the stages before the last.
    assert stage_sizes(layers, pp) == sizes


def test_tp_splits_mamba_and_gated_deltanet_heads() -> None:
    # vLLM mamba_utils.py: Qwen3-Next GDN page at TP 4 = 274,432 B (conv 12,288 + 262,144);
    # Nemotron-H Mamba2 at TP 4 = 4,225,024 B (conv 30,720 + fp32 SSM 4,194,304).
    from kvcalc.engines.kvbytes import state_bytes
    from kvcalc.model.dtypes import FP32

    qwen = shard(load_model("qwen3-next-80b-a3b").architecture, Deployment(tp=4), "vllm")[0]
    state = next(g.state for g in qwen.groups if g.state is not None)
    assert state_bytes(state, state.conv_kernel - 1, BF16, BF16) == 274_432
    nemotron = load_model(str(ROOT / "tests/fixtures/configs/nvidia__Nemotron-H-56B-Base-8K.json"))
    local = shard(nemotron.architecture, Deployment(tp=4), "vllm")[0]
    state = next(g.state for g in local.groups if g.state is not None)
    assert state_bytes(state, state.conv_kernel - 1, BF16, FP32) == 4_225_024


def test_tp_beyond_the_kv_heads_replicates_them() -> None:
    arch = load_model("llama-3.1-8b").architecture
    local = shard(arch, Deployment(tp=16), "vllm")[0]
    attention = local.attention
    assert attention is not None and attention.num_kv_heads == 1


def test_mla_latent_is_whole_on_every_gpu() -> None:
    arch = load_model("deepseek-v3").architecture
    one = size("default", arch, Workload(1, 100), BF16, BF16).total_bytes
    eight = size("default", arch, Workload(1, 100), BF16, BF16, Deployment(tp=8)).total_bytes
    assert one == eight == 100 * 61 * 576 * 2


def test_parallelism_defaults_and_util() -> None:
    assert plan_parallelism(None, None, 1) == Parallelism(1, 1, 1)
    assert plan_parallelism(8, None, 2) == Parallelism(8, 4, 2)
    assert parse_util("9/10") == Fraction(9, 10)
    with pytest.raises(InputError):
        parse_util("1e-100000000")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"gpu": "rtx4080"}, "did you mean rtx-4090"),
        ({"gpu": "h100", "tp": 12, "gpus": 12}, "does not divide"),
        ({"gpu": "h100", "util": "lots"}, "--util"),
        ({"gpu": "h100", "util": "-0.5"}, "--util"),
        ({"gpu": "h100", "gpus": 3, "tp": 2}, "replicas"),
        ({}, "--gpu NAME"),
        ({"gpu": "h100", "gpu_memory": "80GiB"}, "--gpu NAME"),
        ({"gpu_memory": "80G"}, "--gpu-memory"),
        ({"gpu": "h100", "batch": "0"}, "--batch"),
        ({"gpu": "h100", "knobs": EngineKnobs("vllm", gpu_arch="volta")}, "--gpu-arch"),
    ],
)
def test_bad_input(options: dict[str, object], words: str) -> None:
    with pytest.raises(InputError) as error:
        fit("llama-3.3-70b", **options)  # type: ignore[arg-type]
    assert words in str(error.value)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--gpu", "h10"), "did you mean h100"),
        (("--gpu", "h100", "--tp", "3"), "does not divide the 64 attention heads"),
        (("--gpu", "h100", "--pp", "81"), "exceeds the model's 80 layers"),
        (("--gpu", "h100", "--util", "0"), "--util must be more than 0"),
        (("--gpu", "h100", "--engine", "llama.cpp", "--tp", "2"), "--pp N"),
    ],
)
def test_bad_input_on_the_command_line_is_one_line_and_exit_1(
    args: tuple[str, ...], words: str
) -> None:
    assert words in one_line_error("fit", "llama-3.3-70b", *args)


def test_table_shows_the_engine_figures_and_draws_bars_only_in_a_terminal() -> None:
    from rich.console import Console

    from kvcalc.render.fit_table import render_fit_table

    result = fit("llama-3-8b", gpu="l4", gpus=1, seq="8k")
    outputs = []
    for terminal in (True, False):
        buffer = io.StringIO()
        render_fit_table(result, Console(file=buffer, force_terminal=terminal, width=200))
        outputs.append(buffer.getvalue())
    assert "Share of one GPU" in outputs[0] and "█" in outputs[0]
    assert "Share of one GPU" not in outputs[1] and "█" not in outputs[1]
    assert "GPU KV cache size:" in outputs[1] and "Maximum concurrency for 8,192" in outputs[1]
    assert "16,060,522,496 B" in outputs[1]  # the weights, exact


def test_chart_scales_to_the_demand_when_it_does_not_fit() -> None:
    from rich.console import Console

    from kvcalc.render.fit_table import memory_chart, memory_parts

    result = fit("llama-3.1-8b", gpu="l4", gpus=1, seq="128k", batch=8)
    assert not result.report.fits
    buffer = io.StringIO()
    Console(file=buffer, width=120).print(memory_chart(result))
    demand = sum(part for _, part, _ in memory_parts(result))
    assert demand > result.gpu.memory_bytes and "exceeds it" in buffer.getvalue()
    longest = max(line.count("█") for line in buffer.getvalue().splitlines())
    assert longest <= 40


def test_gpus_lists_the_catalogue() -> None:
    result = run_kvcalc("gpus", "--json")
    assert result.returncode == 0
    rows = json.loads(result.stdout)
    by_name = {row["name"]: row for row in rows}
    assert by_name["h200"]["memory_mib"] == 143_771
    assert by_name["mi325x"]["confirmed"] is False
    assert {row["name"] for row in rows} == {gpu.name for gpu in CATALOGUE}


def test_fit_modules_import_nothing_heavy() -> None:
    code = ("import kvcalc.cli.fit, kvcalc.planning.fit, kvcalc.engines.parallel, "
            "kvcalc.planning.gpus, kvcalc.sources.weights, kvcalc.sources.weights_hub, sys; "
            "print(' '.join(sorted(sys.modules)))")  # fmt: skip
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    ).stdout.split()  # fmt: skip
    heavy = {"rich", "huggingface_hub", "pydantic", "numpy"}
    assert not {name.split(".")[0] for name in loaded} & heavy


def test_fit_with_a_speculative_draft() -> None:
    result = run_kvcalc("fit", "llama-3.1-70b", "--gpu", "h100", "--gpus", "2", "--tp", "2",
                        "--seq", "8k", "--draft", "llama-3.2-1b", "--spec-tokens", "4",
                        "--engine", "default", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    # target per GPU: 80 layers x 4 KV heads x 128 x 2 x 2 B = 163,840 B per token, at 8k + 4;
    # draft Llama 3.2 1B per GPU: 16 layers x 4 KV heads x 64 x 2 x 2 B = 16,384 B per token.
    assert data["kv_bytes_per_request_per_gpu"] == 8196 * 163_840 + 8196 * 16_384
    assert data["speculative_kv_bytes_per_request_per_gpu"] == 4 * 163_840 + 8196 * 16_384
    assert "draft llama-3.2-1b" in result.stderr
