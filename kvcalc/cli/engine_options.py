"""The engine's knobs on the command line, shared by estimate and fit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from kvcalc.engines.deployment import Deployment

GpuArchOpt = Annotated[
    str | None,
    typer.Option("--gpu-arch", help="ampere, ada, hopper, blackwell or cpu: the engines' default "
                 "block and page sizes follow it (default: the GPU's, else hopper).",
                 show_default=False),
]  # fmt: skip
PrefixCachingOpt = Annotated[
    bool | None,
    typer.Option("--prefix-caching/--no-prefix-caching",
                 help="vLLM prefix caching (default: on, as vLLM; hybrids then keep 2 states).",
                 show_default=False),
]  # fmt: skip
MaxBatchedTokensOpt = Annotated[
    int | None,
    typer.Option("--max-num-batched-tokens", min=1, help="vLLM's max_num_batched_tokens "
                 "(default: vLLM's for the GPU).", show_default=False),
]  # fmt: skip
MaxSeqsOpt = Annotated[
    int | None,
    typer.Option("--max-num-seqs", min=1, help="vLLM's max_num_seqs (default: vLLM's).",
                 show_default=False),
]  # fmt: skip
KvUnifiedOpt = Annotated[
    bool | None,
    typer.Option("--kv-unified/--no-kv-unified", help="llama.cpp: one KV pool shared by all "
                 "sequences (llama-server's default) or one stream each (the CLI's).",
                 show_default=False),
]  # fmt: skip
MambaStrategyOpt = Annotated[
    str | None,
    typer.Option("--mamba-strategy", help="SGLang's Mamba radix strategy: extra_buffer or "
                 "no_buffer (default: SGLang's resolution).", show_default=False),
]  # fmt: skip
MambaDtypeOpt = Annotated[
    str | None,
    typer.Option("--mamba-dtype", help="vLLM's --mamba-cache-dtype: the Mamba conv state's "
                 "dtype, auto, fp32, fp16 or bf16 (default auto: the model's).",
                 show_default=False),
]  # fmt: skip
MambaSsmDtypeOpt = Annotated[
    str | None,
    typer.Option("--mamba-ssm-dtype", help="vLLM's --mamba-ssm-cache-dtype, SGLang's "
                 "--mamba-ssm-dtype: the SSM state's dtype, auto, fp32, fp16 or bf16 (default "
                 "auto: as the config and the engine decide).", show_default=False),
]  # fmt: skip
AttentionWindowsOpt = Annotated[
    bool | None,
    typer.Option("--attention-windows/--no-attention-windows",
                 help="TensorRT-LLM: kv_cache_config.max_attention_window from the config's "
                 "sliding windows, one block pool per window (default: off, as TensorRT-LLM: "
                 "every layer holds max_seq_len).", show_default=False),
]  # fmt: skip


def mamba_dtype_name(name: str | None) -> str | None:
    """fp32, fp16 or bf16 for a state dtype option (torch names too); None for auto."""
    from kvcalc.model.dtypes import parse_dtype

    if name is None or name.strip().lower() == "auto":
        return None
    return parse_dtype(name).name


def deployment(
    block_size: int | None = None, gpu_arch: str | None = None,
    prefix_caching: bool | None = None, max_num_batched_tokens: int | None = None,
    max_num_seqs: int | None = None, kv_unified: bool | None = None,
    mamba_strategy: str | None = None, mamba_dtype: str | None = None,
    mamba_ssm_dtype: str | None = None, attention_windows: bool | None = None,
) -> Deployment:  # fmt: skip
    """The knobs as one Deployment on one GPU (fit fills in the GPU and the parallelism)."""
    from kvcalc.engines.deployment import Deployment

    arch = gpu_arch.strip().lower() if gpu_arch else None
    strategy = mamba_strategy.strip().lower() if mamba_strategy else None
    return Deployment(
        block_size=block_size, gpu_arch=arch, prefix_caching=prefix_caching,
        max_num_batched_tokens=max_num_batched_tokens, max_num_seqs=max_num_seqs,
        kv_unified=kv_unified, mamba_strategy=strategy,
        mamba_dtype=mamba_dtype_name(mamba_dtype),
        mamba_ssm_dtype=mamba_dtype_name(mamba_ssm_dtype), attention_windows=attention_windows,
    )  # fmt: skip
