"""The NumPy decoder and its three ways of greedy decoding agree token for token."""

from __future__ import annotations

import json
import math

import pytest

np = pytest.importorskip("numpy")

from kvcalc.bench.generate import greedy_cached, greedy_uncached, speculative  # noqa: E402
from kvcalc.bench.model import Decoder, DecoderConfig, grouped_attention  # noqa: E402
from kvcalc.errors import InputError  # noqa: E402

PROMPT = [11, 200, 3, 87, 87, 150, 9, 64]
SMALL = {"num_layers": 4, "num_heads": 4, "head_dim": 16, "max_positions": 64}
SHAPES = {
    "MHA": DecoderConfig(**SMALL, num_kv_heads=4),
    "GQA": DecoderConfig(**SMALL, num_kv_heads=2),
    "MQA": DecoderConfig(**SMALL, num_kv_heads=1),
    "GQA-fp16": DecoderConfig(**SMALL, num_kv_heads=2, dtype="fp16"),
}


@pytest.fixture(params=list(SHAPES), scope="module")
def model(request) -> Decoder:
    return Decoder.random(SHAPES[request.param])


def reference_attention(queries, keys, values):
    """Causal attention one head and one query at a time, K/V heads repeated as in Llama."""
    heads, count, dim = queries.shape
    groups, length, _ = keys.shape
    out = np.zeros((heads, count, dim))
    for head in range(heads):
        k = keys[head // (heads // groups)].astype(np.float64)
        v = values[head // (heads // groups)].astype(np.float64)
        for i in range(count):
            visible = length - count + i + 1
            scores = k[:visible] @ queries[head, i] / math.sqrt(dim)
            weights = np.exp(scores - scores.max())
            out[head, i] = weights @ v[:visible] / weights.sum()
    return out


@pytest.mark.parametrize(("groups", "count", "length"), [(4, 5, 5), (2, 3, 9), (1, 1, 7)])
def test_grouped_attention_matches_a_per_head_reference(groups, count, length) -> None:
    rng = np.random.default_rng(3)
    queries = rng.standard_normal((4, count, 8), dtype=np.float32)
    keys = rng.standard_normal((groups, length, 8), dtype=np.float32)
    values = rng.standard_normal((groups, length, 8), dtype=np.float32)
    expected = reference_attention(queries, keys, values)
    np.testing.assert_allclose(grouped_attention(queries, keys, values), expected, atol=1e-5)


def test_cached_and_uncached_greedy_give_the_same_tokens(model: Decoder) -> None:
    n_new = 24
    uncached = greedy_uncached(model, PROMPT, n_new)
    cached = greedy_cached(model, PROMPT, n_new)
    assert cached.tokens == uncached  # exact, token for token
    assert cached.cache.length == len(PROMPT) + n_new - 1


def test_cached_logits_match_uncached_logits_with_margin(model: Decoder) -> None:
    """The logits agree to float32 precision, far inside the gap between the top two."""
    generated = greedy_cached(model, PROMPT, 16).tokens
    sequence = [*PROMPT, *generated[:-1]]
    # A causal pass over the whole sequence gives every step's uncached logits at once.
    uncached = model.forward(sequence)[len(PROMPT) - 1 :]
    cache = model.new_cache(len(sequence))
    cached = [model.forward(PROMPT, cache)[-1]]
    cached += [model.forward([token], cache)[-1] for token in generated[:-1]]
    np.testing.assert_allclose(np.array(cached), uncached, rtol=1e-4, atol=1e-5)
    # Rounding moves the logits far less than the smallest top-two gap, so no argmax can flip.
    drift = np.abs(np.array(cached) - uncached).max()
    top_two = np.sort(uncached, axis=-1)[:, -2:]
    assert (top_two[:, 1] - top_two[:, 0]).min() > 10 * drift, "a near-tie: pick another prompt"
    assert [int(row.argmax()) for row in uncached] == list(generated)


@pytest.mark.parametrize("lookahead", [1, 3, 7])
@pytest.mark.parametrize("draft_layers", [1, 3])
def test_speculative_output_is_the_target_greedy_output(
    model: Decoder, draft_layers: int, lookahead: int
) -> None:
    n_new = 30
    greedy = greedy_cached(model, PROMPT, n_new).tokens
    run = speculative(model, model.truncated(draft_layers), PROMPT, n_new, lookahead)
    assert run.tokens == greedy
    assert 0 <= run.accepted <= run.proposed == lookahead * (run.target_passes - 1)
    # Each verify pass commits the accepted drafts plus one token of the target's own.
    assert run.accepted + run.target_passes >= n_new
    assert run.tokens_per_target_pass == n_new / run.target_passes


def test_a_draft_equal_to_the_target_is_always_accepted() -> None:
    target = Decoder.random(SHAPES["GQA"])
    run = speculative(target, target.truncated(4), PROMPT, n_new=21, lookahead=4)
    assert run.acceptance_rate == 1.0
    # The prefill gives 1 token, then every pass commits 4 drafts + 1: 1 + 4 x 5 = 21.
    assert run.target_passes == 5
    assert run.tokens == greedy_cached(target, PROMPT, 21).tokens


def test_a_truncated_draft_shares_the_target_weights() -> None:
    target = Decoder.random(SHAPES["GQA"])
    draft = target.truncated(1)
    assert draft.config.num_layers == 1
    assert draft.layers == target.layers[:1]
    assert draft.head is target.head and draft.token_embedding is target.token_embedding
    with pytest.raises(InputError):
        target.truncated(5)


def test_weights_come_from_the_seed() -> None:
    first = Decoder.random(SHAPES["GQA"]).forward(PROMPT)
    again = Decoder.random(SHAPES["GQA"]).forward(PROMPT)
    other = Decoder.random(DecoderConfig(**SMALL, num_kv_heads=2, seed=1)).forward(PROMPT)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


def test_config_json_speaks_the_llama_dialect() -> None:
    config = DecoderConfig(num_layers=3, num_heads=8, num_kv_heads=2, head_dim=16, dtype="fp16")
    assert json.loads(config.to_config_json()) == {
        "model_type": "llama",
        "num_hidden_layers": 3,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "hidden_size": 128,
        "head_dim": 16,
        "intermediate_size": 512,
        "max_position_embeddings": 2048,
        "vocab_size": 256,
        "torch_dtype": "float16",
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"num_heads": 4, "num_kv_heads": 3},
        {"num_layers": 0},
        {"dtype": "bf16"},
    ],
)
def test_an_impossible_shape_is_an_input_error(bad: dict[str, object]) -> None:
    with pytest.raises(InputError):
        DecoderConfig(**bad)  # type: ignore[arg-type]


def test_positions_past_max_positions_are_refused() -> None:
    model = Decoder.random(DecoderConfig(max_positions=8))
    with pytest.raises(ValueError, match="max_positions"):
        model.forward(list(range(9)))
