"""Cache element formats, as exact sizes: bytes per block of values."""

from __future__ import annotations

from kvcalc.errors import InputError
from kvcalc.values import value


@value
class CacheDtype:
    """A cache element format: `block_bytes` bytes hold `block_values` values.

    Plain types have blocks of one value; packed and block-quantised types
    (int4: 2 values per byte) have larger blocks, so every size stays an integer.
    """

    name: str
    block_bytes: int
    block_values: int = 1

    @property
    def bits_per_element(self) -> int | float:
        bits = self.block_bytes * 8 / self.block_values
        return int(bits) if bits.is_integer() else bits

    @property
    def bytes_per_element(self) -> int | float:
        size = self.block_bytes / self.block_values
        return int(size) if size.is_integer() else size

    def bytes_for(self, elements: int) -> int:
        """Bytes that hold `elements` values, rounded up to whole blocks."""
        blocks = -(-elements // self.block_values)
        return blocks * self.block_bytes


FP32 = CacheDtype("fp32", 4)
FP16 = CacheDtype("fp16", 2)
BF16 = CacheDtype("bf16", 2)
FP8 = CacheDtype("fp8", 1)
INT8 = CacheDtype("int8", 1)
INT4 = CacheDtype("int4", 1, 2)
# vLLM/SGLang's DeepSeek sparse-MLA row: 656 bytes per token and layer (engines size it).
FP8_DS_MLA = CacheDtype("fp8_ds_mla", 1)
# ggml block formats (llama.cpp --cache-type-k/-v): bytes per block of 32 values.
Q8_0 = CacheDtype("q8_0", 34, 32)
Q4_0 = CacheDtype("q4_0", 18, 32)
Q4_1 = CacheDtype("q4_1", 20, 32)
Q5_0 = CacheDtype("q5_0", 22, 32)
Q5_1 = CacheDtype("q5_1", 24, 32)
IQ4_NL = CacheDtype("iq4_nl", 18, 32)
GGML_BLOCK_TYPES = (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL)

_BY_NAME: dict[str, CacheDtype] = {
    "fp32": FP32, "float32": FP32, "float": FP32,
    "fp16": FP16, "float16": FP16, "half": FP16,
    "bf16": BF16, "bfloat16": BF16,
    "fp8": FP8, "e4m3": FP8, "e5m2": FP8, "fp8_e4m3": FP8, "fp8_e5m2": FP8,
    "float8_e4m3fn": FP8, "float8_e5m2": FP8,
    "int8": INT8,
    "int4": INT4,
    "fp8_ds_mla": FP8_DS_MLA,
    **{block.name: block for block in GGML_BLOCK_TYPES},
    "f32": FP32, "f16": FP16,
}  # fmt: skip

CHOICES = (
    "auto", "fp32", "fp16", "bf16", "fp8", "e4m3", "e5m2", "int8", "int4", "fp8_ds_mla",
    "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl",
)  # fmt: skip


def parse_dtype(name: str) -> CacheDtype:
    """The cache dtype called `name` (case-insensitive; torch names accepted)."""
    found = _BY_NAME.get(name.strip().lower())
    if found is None:
        raise InputError(f"unknown dtype {name!r}; choose one of {', '.join(CHOICES)}")
    return found


def config_dtype(torch_dtype: str) -> CacheDtype | None:
    """The cache dtype a config's `torch_dtype` names, or None if it names none we know."""
    return _BY_NAME.get(torch_dtype.strip().lower().removeprefix("torch."))
