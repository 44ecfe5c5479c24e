"""`kvcalc fit` and `kvcalc gpus`: per-GPU bytes under TP/PP, budgets, limits, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvcalc.engines.parallel import (
    Parallelism,
    longest_seq,
    parse_util,
    plan_parallelism,
    request_bytes_per_gpu,
    usable_bytes,
)
from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.architecture import (
    Architecture,
    Attention,
    LayerGroup,
    LayerKind,
    MlaDims,
    RecurrentState,
)
from kvcalc.model.dtypes import BF16, FP16
from kvcalc.planning.estimation import load_model
from kvcalc.planning.fit import fit
from kvcalc.planning.gpus import CATALOGUE, find_gpu
from tests.helpers import ROOT, run_kvcalc

H100 = 81559 * 1024**2  # nvidia-smi's 81559 MiB
LLAMA_70B_PARAMS = 70_553_706_496


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
    assert find_gpu("h100_sxm") is find_gpu("h100")
    for gpu in CATALOGUE:
        assert gpu.basis and gpu.memory_bytes > 0


def test_llama_33_70b_fp16_on_two_h100_with_tp2() -> None:
    data = fit_json("llama-3.3-70b", "--gpu", "h100", "--gpus", "2", "--tp", "2",
                    "--seq", "32k", "--dtype", "fp16")  # fmt: skip
    per_token = 80 * 4 * 128 * 2 * 2  # layers x KV heads per GPU x head dim x (K, V) x 2 B
    usable = 85_520_809_984 * 9 // 10  # floor(gpu x 0.9) = 76,968,728,985
    weights = LLAMA_70B_PARAMS * 2 // 2  # bf16 weights over 2 GPUs
    budget = usable - weights
    assert data["kv_bytes_per_token_per_gpu"] == per_token == 163_840
    assert data["kv_bytes_per_request_per_gpu"] == 32_768 * per_token
    assert data["usable_bytes_per_gpu"] == usable == 76_968_728_985
    assert data["weights"]["bytes_per_gpu"] == weights  # type: ignore[index]
    assert data["budget_bytes_per_gpu"] == budget == 6_415_022_489
    assert data["free_bytes_per_gpu"] == budget - 32_768 * per_token
    assert data["max_batch"] == budget // (32_768 * per_token) == 1
    assert data["max_seq_len"] == budget // per_token == 39_154
    assert data["fits"] is True


def test_does_not_fit_exits_4_with_the_report_on_stdout() -> None:
    result = run_kvcalc("fit", "llama-3.3-70b", "--gpu", "h100", "--gpus", "2", "--seq", "32k",
                        "--batch", "4", "--json")  # fmt: skip
    assert result.returncode == 4
    data = json.loads(result.stdout)
    assert data["fits"] is False and data["free_bytes_per_gpu"] < 0
    last = result.stderr.splitlines()[-1]
    assert last.startswith("kvcalc: error: does not fit") and "at most 1 sequence " in last


def test_weights_that_do_not_fit_exit_4() -> None:
    data = fit_json("llama-3.1-405b", "--gpu", "h100", "--seq", "1k", code=4)
    assert data["budget_bytes_per_gpu"] < 0
    assert (data["max_batch"], data["max_seq_len"]) == (0, 0)


def test_tp_beyond_the_kv_heads_replicates_them() -> None:
    data = fit_json("llama-3.3-70b", "--gpu", "h100", "--gpus", "16", "--tp", "16",
                    "--seq", "8k", "--dtype", "fp16")  # fmt: skip
    assert data["kv_bytes_per_token_per_gpu"] == 80 * 1 * 128 * 2 * 2  # one head per GPU


def test_mla_latent_is_replicated_on_every_gpu() -> None:
    # docs/engines.md 2.7: DeepSeek-V3 cell = 576 x 61 x 2 = 70,272 bytes per token, at TP 1
    for tp in ("1", "8"):
        data = fit_json("deepseek-v3", "--gpu", "h200", "--gpus", "8", "--tp", tp, "--pp",
                        str(8 // int(tp)), "--seq", "4k", "--dtype", "bf16")  # fmt: skip
        layers = 61 if tp == "8" else -(-61 // 8)
        assert data["kv_bytes_per_token_per_gpu"] == layers * 576 * 2


@pytest.mark.parametrize(("pp", "stage"), [(1, 80), (2, 40), (3, 27), (80, 1)])
def test_pipeline_stages_hold_ceil_layers_over_pp(pp: int, stage: int) -> None:
    model = load_model("llama-3.3-70b").architecture
    par = Parallelism(pp, 1, pp)
    assert request_bytes_per_gpu(model, FP16, par, 1) == stage * 8 * 128 * 2 * 2


def test_longest_context_respects_windows() -> None:
    # Gemma 2 9B: 21 full + 21 sliding (4,096) layers, 8 KV heads x 256, bf16.
    model = load_model("gemma-2-9b").architecture
    par = Parallelism(1, 1, 1)
    full, sliding = 21 * 8 * 512 * 2, 21 * 8 * 512 * 2  # bytes per token of each group
    budget = 5000 * full + 4096 * sliding  # past 4,096 tokens only the full layers grow
    assert longest_seq(model, BF16, par, 1, budget) == 5000
    assert longest_seq(model, BF16, par, 1, budget - 1) == 4999
    assert longest_seq(model, BF16, par, 2, budget) == (5000 + 4096) // 2 // 2
    only_sliding = Architecture("mistral", (LayerGroup(LayerKind.SLIDING, 32,
                                Attention(32, 8, 128, 128), window_tokens=4096),))  # fmt: skip
    per_token = 32 * 8 * 256 * 2
    assert longest_seq(only_sliding, BF16, par, 1, 4096 * per_token) is None  # windows cap it
    assert longest_seq(only_sliding, BF16, par, 1, 4095 * per_token) == 4095


@settings(max_examples=60, deadline=None)
@given(budget=st.integers(0, 10**12), batch=st.integers(1, 64), pp=st.sampled_from([1, 2, 3]))
def test_longest_context_is_the_last_length_that_fits(budget: int, batch: int, pp: int) -> None:
    model = load_model("gemma-3-27b").architecture
    par = Parallelism(pp, 1, pp)
    seq = longest_seq(model, BF16, par, batch, budget)
    assert seq is not None

    def cost(n: int) -> int:
        return batch * request_bytes_per_gpu(model, BF16, par, n)

    assert seq == 0 or cost(seq) <= budget
    assert cost(seq + 1) > budget


def test_budget_is_exact_integer_arithmetic() -> None:
    assert parse_util("0.9") == Fraction(9, 10) == parse_util("9/10")
    assert usable_bytes(H100, parse_util("0.95")) == H100 * 95 // 100
    assert usable_bytes(7, Fraction(1, 2)) == 3  # floor, never rounded up


def test_parallelism_defaults() -> None:
    assert plan_parallelism(None, None, 1) == Parallelism(1, 1, 1)
    assert plan_parallelism(8, None, 2) == Parallelism(8, 4, 2)
    assert plan_parallelism(None, 4, 2) == Parallelism(8, 4, 2)
    assert plan_parallelism(8, 2, 1).replicas == 4
    with pytest.raises(InputError):
        plan_parallelism(6, 4, 1)


def test_replicas_share_the_batch() -> None:
    data = fit_json("llama-3-8b", "--gpu", "l4", "--gpus", "4", "--tp", "1", "--seq", "8k",
                    "--batch", "6")  # fmt: skip
    assert (data["replicas"], data["batch_per_replica"]) == (4, 2)
    assert data["kv_bytes_per_gpu"] == 2 * 8192 * 131_072
    assert data["max_batch"] % 4 == 0


def test_gpu_memory_option_and_units() -> None:
    data = fit_json("llama-3-8b", "--gpu-memory", "24GiB", "--seq", "8k")
    assert data["gpu"]["memory_bytes"] == 24 * 1024**3  # type: ignore[index]
    assert data["usable_bytes_per_gpu"] == 24 * 1024**3 * 9 // 10


def test_layer_kinds_without_a_per_gpu_rule_are_refused() -> None:
    state = LayerGroup(LayerKind.STATE, 3, state=RecurrentState(8, 4, (2, 4, 4)))
    full = LayerGroup(LayerKind.FULL, 1, Attention(4, 2, 8, 8))
    hybrid = Architecture("qwen3_next", (full, state))
    with pytest.raises(UnsupportedConfigError, match="'state' layers"):
        request_bytes_per_gpu(hybrid, BF16, Parallelism(1, 1, 1), 10)


def test_tp_rules_apply_to_mla() -> None:
    mla = Attention(128, 128, 192, 128, MlaDims(512, 64, 128, 128))
    model = Architecture("deepseek_v3", (LayerGroup(LayerKind.FULL, 61, mla),))
    assert request_bytes_per_gpu(model, BF16, Parallelism(16, 16, 1), 1) == 61 * 576 * 2


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
        ({"gpu": "h100", "dtype": "fp8_ds_mla"}, "fp8_ds_mla"),
        ({"gpu": "h100", "batch": "0"}, "--batch"),
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
        (("--gpu", "h100", "--util", "1.5"), "--util must be more than 0"),
    ],
)
def test_bad_input_on_the_command_line_is_one_line_and_exit_1(
    args: tuple[str, ...], words: str
) -> None:
    assert words in one_line_error("fit", "llama-3.3-70b", *args)


def test_kv_heads_that_tp_cannot_split() -> None:
    # Qwen2.5-7B: 28 query heads, 4 KV heads; tp 7 divides the heads, not the KV heads.
    with pytest.raises(InputError, match="cannot split 4 KV heads"):
        fit("qwen2.5-7b", gpu="h100", tp=7)


def test_zero_parallelism_is_a_usage_error() -> None:
    result = run_kvcalc("fit", "llama-3-8b", "--gpu", "h100", "--tp", "0")
    assert result.returncode == 2 and result.stdout == ""


def test_table_draws_the_bar_chart_only_in_a_terminal() -> None:
    from rich.console import Console

    from kvcalc.render.fit_table import render_fit_table

    result = fit("llama-3-8b", gpu="l4", seq="8k")
    outputs = []
    for terminal in (True, False):
        buffer = io.StringIO()
        render_fit_table(result, Console(file=buffer, force_terminal=terminal, width=160))
        outputs.append(buffer.getvalue())
    assert "Share of one GPU" in outputs[0] and "█" in outputs[0]
    assert "Share of one GPU" not in outputs[1] and "█" not in outputs[1]
    assert "16,060,522,496 B" in outputs[1]  # the weights, exact


def test_piped_table_and_help() -> None:
    result = run_kvcalc("fit", "llama-3.3-70b", "--gpu", "h100", "--gpus", "2", "--seq", "32k")
    assert result.returncode == 0, result.stderr
    assert "Longest context at batch 1" in result.stdout and "█" not in result.stdout
    helped = run_kvcalc("fit", "--help")
    text = " ".join(helped.stdout.split())
    assert "Example: kvcalc fit llama-3.3-70b --gpu h100 --gpus 2 --tp 2 --seq 32k" in text


def test_gpus_lists_the_catalogue() -> None:
    result = run_kvcalc("gpus", "--json")
    assert result.returncode == 0
    rows = json.loads(result.stdout)
    by_name = {row["name"]: row for row in rows}
    assert by_name["h200"]["memory_mib"] == 143_771
    assert by_name["mi325x"]["confirmed"] is False
    table = run_kvcalc("gpus")
    assert table.returncode == 0 and "81,559" in table.stdout


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
    import json as json_module

    from tests.helpers import run_kvcalc as run

    result = run("fit", "llama-3.1-70b", "--gpu", "h100", "--gpus", "2", "--tp", "2", "--seq",
                 "8k", "--draft", "llama-3.2-1b", "--spec-tokens", "4", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json_module.loads(result.stdout)
    # target per GPU: 80 layers x 4 KV heads x 128 x 2 x 2 B = 163,840 B per token, at 8k + 4;
    # draft Llama 3.2 1B per GPU: 16 layers x 4 KV heads x 64 x 2 x 2 B = 16,384 B per token.
    assert data["kv_bytes_per_request_per_gpu"] == 8196 * 163_840 + 8196 * 16_384
    assert data["speculative_kv_bytes_per_request_per_gpu"] == 4 * 163_840 + 8196 * 16_384
    assert "draft llama-3.2-1b" in result.stderr
    bad = run("fit", "llama-3.1-70b", "--gpu", "h100", "--draft", "llama-3.2-1b",
              "--spec-tokens", "0")  # fmt: skip
    assert bad.returncode == 1 and "--spec-tokens must be a positive integer" in bad.stderr
