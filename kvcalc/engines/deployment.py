"""A deployment: parallelism and the engine's knobs (what a KV budget buys: engines.pool)."""

from __future__ import annotations

from kvcalc.errors import InputError
from kvcalc.values import value

GPU_ARCHS = ("ampere", "ada", "hopper", "blackwell", "cpu")
DEFAULT_GPU_ARCH = "hopper"
MAMBA_DTYPES = ("fp32", "fp16", "bf16")


@value
class Deployment:
    """How the engine runs the model. None means the engine's own default, which the engine
    rule resolves and reports among its assumptions.

    `block_size`: vLLM's block, SGLang's page, TensorRT-LLM's tokens_per_block.
    `gpu_arch`: decides default block/page sizes (attention backends differ per arch).
    `gpu_memory_bytes`, `gpu_name`: vLLM picks its batch defaults from the device.
    """

    tp: int = 1
    pp: int = 1
    block_size: int | None = None
    gpu_arch: str | None = None
    gpu_name: str | None = None
    gpu_memory_bytes: int | None = None
    prefix_caching: bool | None = None
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    kv_unified: bool | None = None
    mamba_strategy: str | None = None  # SGLang: extra_buffer | no_buffer
    # Mamba state dtypes, fp32 | fp16 | bf16 (None: auto). vLLM's --mamba-cache-dtype (conv
    # state) and --mamba-ssm-cache-dtype (SSM state); SGLang's --mamba-ssm-dtype.
    mamba_dtype: str | None = None
    mamba_ssm_dtype: str | None = None
    # TensorRT-LLM: kv_cache_config.max_attention_window given from the config's sliding
    # windows, one block pool per window (VSWA). None or False: TensorRT-LLM's default, one pool
    # in which every layer holds max_seq_len.
    attention_windows: bool | None = None

    def __post_init__(self) -> None:
        for name in ("tp", "pp"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InputError(f"--{name} must be a positive integer, got {value!r}")
        for name in ("block_size", "max_num_batched_tokens", "max_num_seqs"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value <= 0):
                raise InputError(f"--{name.replace('_', '-')} must be positive, got {value!r}")
        if self.mamba_strategy not in (None, "extra_buffer", "no_buffer"):
            raise InputError(
                f"--mamba-strategy {self.mamba_strategy!r} is not extra_buffer or no_buffer"
            )
        for name in ("mamba_dtype", "mamba_ssm_dtype"):
            if getattr(self, name) not in (None, *MAMBA_DTYPES):
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)!r} is not "
                                 f"auto or one of {', '.join(MAMBA_DTYPES)}")  # fmt: skip
        if self.gpu_arch is not None and self.gpu_arch not in GPU_ARCHS:
            raise InputError(f"--gpu-arch {self.gpu_arch!r} is not one of {', '.join(GPU_ARCHS)}")

    @property
    def arch(self) -> str:
        return self.gpu_arch or DEFAULT_GPU_ARCH
