"""The bench's KV cache: preallocation, views, rollback, and its bytes against kvcalc's."""

from __future__ import annotations

import json

import pytest

np = pytest.importorskip("numpy")

from kvcalc.bench.cache import KVCache  # noqa: E402
from kvcalc.bench.generate import greedy_cached  # noqa: E402
from kvcalc.bench.model import Decoder, DecoderConfig  # noqa: E402
from tests.helpers import run_kvcalc  # noqa: E402


def kv(tokens: int, fill: float, heads: int = 2, dim: int = 4, dtype: str = "float16"):
    return np.full((heads, tokens, dim), fill, dtype=dtype)


def filled_cache(tokens: int) -> KVCache:
    """3 layers, 2 KV heads, head_dim 4, fp16, holding `tokens` tokens in every layer."""
    cache = KVCache(num_layers=3, kv_heads=2, head_dim=4, max_len=10, dtype="fp16")
    for layer in range(3):
        cache.append(layer, kv(tokens, layer), kv(tokens, -layer))
    return cache


def test_capacity_is_preallocated_and_nothing_is_filled() -> None:
    cache = KVCache(num_layers=3, kv_heads=2, head_dim=4, max_len=10, dtype="fp16")
    # 3 layers x (K + V) x 2 heads x 4 dims x 10 tokens x 2 bytes
    assert cache.capacity_bytes == 960
    assert cache.nbytes == 0
    assert cache.length == 0


def test_nbytes_counts_the_filled_k_and_v_of_every_layer() -> None:
    cache = filled_cache(5)
    assert cache.length == 5
    assert cache.nbytes == 480  # 3 x 2 x 2 x 4 x 5 tokens x 2 bytes
    assert cache.capacity_bytes == 960


def test_get_returns_views_of_the_filled_part() -> None:
    cache = filled_cache(2)
    cache.append(1, kv(3, 7.0), kv(3, 8.0))
    keys, values = cache.get(1)
    assert keys.shape == values.shape == (2, 5, 4)
    assert keys[:, 2:].tolist() == kv(3, 7.0).tolist()
    assert values[:, :2].tolist() == kv(2, -1.0).tolist()
    keys[0, 0, 0] = 42.0
    assert cache.get(1)[0][0, 0, 0] == 42.0  # a view, not a copy


def test_length_counts_only_tokens_stored_in_every_layer() -> None:
    cache = filled_cache(2)
    cache.append(0, kv(1, 1.0), kv(1, 1.0))
    assert cache.length == 2
    assert cache.nbytes == 224  # 2 tokens in 3 layers (192) + layer 0's third token (32)


def test_truncate_rolls_back_and_the_next_append_overwrites() -> None:
    cache = filled_cache(5)
    cache.truncate(3)
    assert cache.length == 3
    assert cache.nbytes == 288
    assert cache.capacity_bytes == 960
    cache.append(0, kv(1, 9.0), kv(1, 9.0))
    keys, _ = cache.get(0)
    assert keys.shape == (2, 4, 4)
    assert keys[:, 3].tolist() == kv(1, 9.0)[:, 0].tolist()


@pytest.mark.parametrize("length", [-1, 6])
def test_truncate_outside_the_filled_part_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="truncate"):
        filled_cache(5).truncate(length)


def test_append_past_capacity_or_with_wrong_shape_is_refused() -> None:
    cache = filled_cache(8)
    with pytest.raises(ValueError, match="holds 10 tokens"):
        cache.append(0, kv(3, 0.0), kv(3, 0.0))
    with pytest.raises(ValueError, match="shaped"):
        cache.append(0, kv(1, 0.0, heads=3), kv(1, 0.0, heads=3))


@pytest.mark.parametrize(
    ("kv_heads", "dtype", "kvcalc_dtype"),
    [(4, "fp32", "fp32"), (2, "fp32", "fp32"), (1, "fp32", "fp32"), (2, "fp16", "auto")],
    ids=["MHA", "GQA", "MQA", "fp16-from-torch_dtype"],
)
def test_measured_nbytes_equals_kvcalc_estimate(
    tmp_path, kv_heads: int, dtype: str, kvcalc_dtype: str
) -> None:
    config = DecoderConfig(
        num_layers=3,
        num_heads=4,
        num_kv_heads=kv_heads,
        head_dim=16,
        max_positions=64,
        dtype=dtype,
    )
    (tmp_path / "config.json").write_text(config.to_config_json(), encoding="utf-8")
    prompt, n_new = [5, 17, 42, 7, 99, 3, 0, 250], 17
    cache = greedy_cached(Decoder.random(config), prompt, n_new).cache
    seq_len = cache.length
    assert seq_len == len(prompt) + n_new - 1  # the last new token is never fed back

    result = run_kvcalc(
        "estimate", str(tmp_path / "config.json"),
        "--dtype", kvcalc_dtype, "--seq", str(seq_len), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total_bytes"] == cache.nbytes
