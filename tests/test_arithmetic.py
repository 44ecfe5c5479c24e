"""Byte arithmetic: published worked figures and properties that any correct count obeys."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kvcalc.engines.kvbytes import Workload, cache_bytes, tokens_held
from kvcalc.model.architecture import Architecture, Attention, LayerGroup, LayerKind
from kvcalc.model.dtypes import BF16, FP8, FP16, FP32, INT4, parse_dtype
from kvcalc.units import parse_tokens


def total(architecture: Architecture, batch: int, seq: int, dtype: str = "bf16") -> int:
    groups = cache_bytes(architecture, Workload(batch, seq), parse_dtype(dtype), BF16)
    return sum(group.total_bytes for group in groups)


def dense(layers: int, heads: int, kv_heads: int, head_dim: int) -> Architecture:
    attention = Attention(heads, kv_heads, head_dim, head_dim)
    return Architecture("test", (LayerGroup(LayerKind.FULL, layers, attention),))


def test_llama2_7b_published_half_mebibyte_per_token() -> None:
    # Llama 2 7B in fp16 is widely quoted at 0.5 MiB of cache per token (32 x 4096 x 2 x 2).
    assert total(dense(32, 32, 32, 128), 1, 1, "fp16") == 512 * 1024


def test_dtype_widths() -> None:
    assert (FP32.bytes_for(10), FP16.bytes_for(10), BF16.bytes_for(10)) == (40, 20, 20)
    assert (FP8.bytes_for(10), INT4.bytes_for(10), INT4.bytes_for(11)) == (10, 5, 6)
    assert parse_dtype("e4m3") == parse_dtype("E5M2") == FP8


def test_token_suffixes_are_binary() -> None:
    assert parse_tokens("128k") == 131_072
    assert parse_tokens("1M") == 1_048_576
    assert parse_tokens("10_000") == 10_000


layers = st.integers(1, 128)
kv_heads = st.sampled_from([1, 2, 4, 8, 16])
head_dims = st.sampled_from([64, 80, 128, 256])
batches = st.integers(1, 1_000_000)
seqs = st.integers(1, 10_000_000)


@given(layers, kv_heads, head_dims, batches, seqs)
def test_linear_in_batch_and_exact_for_huge_numbers(
    n_layers: int, kv: int, dim: int, batch: int, seq: int
) -> None:
    architecture = dense(n_layers, 16, kv, dim)
    one = total(architecture, 1, seq)
    many = total(architecture, batch, seq)
    assert isinstance(many, int) and many == batch * one
    assert many == batch * seq * 2 * n_layers * kv * dim * 2


@given(layers, kv_heads, head_dims, seqs, seqs)
def test_monotone_in_seq(n_layers: int, kv: int, dim: int, a: int, b: int) -> None:
    architecture = dense(n_layers, 16, kv, dim)
    low, high = sorted((a, b))
    assert total(architecture, 1, low) <= total(architecture, 1, high)


@given(layers, kv_heads, head_dims, batches, seqs)
def test_fp8_is_half_of_bf16_and_int4_a_quarter(
    n_layers: int, kv: int, dim: int, batch: int, seq: int
) -> None:
    architecture = dense(n_layers, 16, kv, dim)
    bf16 = total(architecture, batch, seq, "bf16")
    assert 2 * total(architecture, batch, seq, "fp8") == bf16
    assert 4 * total(architecture, batch, seq, "int4") == bf16


@given(layers, st.sampled_from([8, 16, 32]), head_dims, seqs)
def test_mqa_le_gqa_le_mha(n_layers: int, heads: int, dim: int, seq: int) -> None:
    mqa = total(dense(n_layers, heads, 1, dim), 1, seq)
    gqa = total(dense(n_layers, heads, heads // 4, dim), 1, seq)
    mha = total(dense(n_layers, heads, heads, dim), 1, seq)
    assert mqa <= gqa <= mha


@given(st.integers(1, 1 << 20), seqs)
def test_a_window_never_exceeds_full_attention(window: int, seq: int) -> None:
    attention = Attention(8, 8, 128, 128)
    sliding = LayerGroup(LayerKind.SLIDING, 1, attention, window)
    full = LayerGroup(LayerKind.FULL, 1, attention)
    assert tokens_held(sliding, seq) <= tokens_held(full, seq) == seq
    assert tokens_held(sliding, seq) == (seq if seq <= window else window)
