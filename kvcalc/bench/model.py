"""A small GPT-style decoder in NumPy with seeded random weights, and its config.json."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kvcalc.bench.cache import STORAGE_DTYPES, KVCache, storage_dtype
from kvcalc.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Floats = NDArray[np.floating[Any]]

_INIT_STD = 0.02  # GPT-2's initialisation scale
_NORM_EPS = 1e-5


@dataclass(frozen=True)
class DecoderConfig:
    """The decoder's shape. `dtype` (fp32 or fp16) is the element type of K, V and the weights.

    hidden_size is num_heads x head_dim and the MLP is 4 x hidden_size wide, as in GPT-2.
    """

    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    head_dim: int = 32
    vocab_size: int = 256
    max_positions: int = 2048
    dtype: str = "fp32"
    seed: int = 0

    def __post_init__(self) -> None:
        sizes = {
            "layers": self.num_layers, "heads": self.num_heads, "kv_heads": self.num_kv_heads,
            "head_dim": self.head_dim, "vocab_size": self.vocab_size,
            "max_positions": self.max_positions,
        }  # fmt: skip
        for name, value in sizes.items():
            if value <= 0:
                raise InputError(f"{name} must be at least 1, got {value}")
        if self.num_heads % self.num_kv_heads:
            raise InputError(
                f"heads ({self.num_heads}) must be a multiple of kv_heads ({self.num_kv_heads})"
            )
        if self.dtype not in STORAGE_DTYPES:
            raise InputError(f"bench dtype must be fp32 or fp16, got {self.dtype!r}")

    @property
    def hidden_size(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def intermediate_size(self) -> int:
        return 4 * self.hidden_size

    def to_config_json(self) -> str:
        """This shape as a config.json in the Llama dialect, so kvcalc can read it.

        Only the cache layout is Llama's; positions here are learned and the MLP is GELU,
        which kvcalc does not read.
        """
        config = {
            "model_type": "llama",
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "hidden_size": self.hidden_size,
            "head_dim": self.head_dim,
            "intermediate_size": self.intermediate_size,
            "max_position_embeddings": self.max_positions,
            "vocab_size": self.vocab_size,
            "torch_dtype": STORAGE_DTYPES[self.dtype],
        }
        return json.dumps(config, indent=2) + "\n"


@dataclass(frozen=True, eq=False)
class LayerWeights:
    """One pre-norm block: attention then MLP, each added to the residual stream."""

    attention_norm: Floats
    query: Floats  # (hidden, heads x head_dim)
    key: Floats  # (hidden, kv_heads x head_dim)
    value: Floats
    output: Floats  # (heads x head_dim, hidden)
    mlp_norm: Floats
    up: Floats  # (hidden, 4 x hidden)
    down: Floats


@dataclass(frozen=True, eq=False)
class Decoder:
    """Token and position embeddings, pre-norm blocks, a final norm and an output head.

    Weights are rounded to `config.dtype` but kept as float32, because NumPy has no fast
    float16 matrix product; K and V are rounded to `config.dtype` whether or not they are cached,
    so the cached and uncached paths see the same values.
    """

    config: DecoderConfig
    token_embedding: Floats
    position_embedding: Floats
    layers: tuple[LayerWeights, ...]
    final_norm: Floats
    head: Floats

    @classmethod
    def random(cls, config: DecoderConfig) -> Decoder:
        """A decoder with GPT-2-style random weights drawn from `config.seed`."""
        import numpy as np

        rng = np.random.default_rng(config.seed)
        hidden = config.hidden_size

        def weight(rows: int, cols: int, std: float = _INIT_STD) -> Floats:
            drawn = rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(std)
            return drawn.astype(storage_dtype(config.dtype)).astype(np.float32)

        # GPT-2 scales the projections that write to the residual stream by 1/sqrt(2 x layers).
        residual_std = _INIT_STD / math.sqrt(2 * config.num_layers)
        kv_width = config.num_kv_heads * config.head_dim
        layers = tuple(
            LayerWeights(
                attention_norm=np.ones(hidden, np.float32),
                query=weight(hidden, hidden),
                key=weight(hidden, kv_width),
                value=weight(hidden, kv_width),
                output=weight(hidden, hidden, residual_std),
                mlp_norm=np.ones(hidden, np.float32),
                up=weight(hidden, config.intermediate_size),
                down=weight(config.intermediate_size, hidden, residual_std),
            )
            for _ in range(config.num_layers)
        )
        return cls(
            config=config,
            token_embedding=weight(config.vocab_size, hidden),
            position_embedding=weight(config.max_positions, hidden),
            layers=layers,
            final_norm=np.ones(hidden, np.float32),
            head=weight(hidden, config.vocab_size),
        )

    def truncated(self, num_layers: int) -> Decoder:
        """This decoder cut to its first `num_layers` blocks; every array is shared, not copied."""
        if not 0 < num_layers <= self.config.num_layers:
            raise InputError(f"a truncated decoder needs 1 to {self.config.num_layers} layers")
        config = replace(self.config, num_layers=num_layers)
        return replace(self, config=config, layers=self.layers[:num_layers])

    def new_cache(self, max_len: int) -> KVCache:
        """An empty cache shaped for this decoder, for up to `max_len` tokens."""
        cfg = self.config
        return KVCache(cfg.num_layers, cfg.num_kv_heads, cfg.head_dim, max_len, cfg.dtype)

    def forward(self, tokens: Sequence[int], cache: KVCache | None = None) -> Floats:
        """Logits (tokens, vocab) for `tokens`, which follow the `cache.length` tokens cached.

        Without a cache, `tokens` is the whole sequence and attends to itself causally. With one,
        their K and V are appended and each token attends to everything cached before it.
        """
        import numpy as np

        ids = np.asarray(tokens, dtype=np.intp)
        start = 0 if cache is None else cache.length
        if start + len(ids) > self.config.max_positions:
            raise ValueError(f"position {start + len(ids)} exceeds max_positions")
        x = self.token_embedding[ids] + self.position_embedding[start : start + len(ids)]
        for index, layer in enumerate(self.layers):
            attended = self._attention(index, layer, _rms_norm(x, layer.attention_norm), cache)
            x = x + attended
            x = x + _mlp(layer, _rms_norm(x, layer.mlp_norm))
        logits: Floats = _rms_norm(x, self.final_norm) @ self.head
        return logits

    def _attention(
        self, index: int, layer: LayerWeights, x: Floats, cache: KVCache | None
    ) -> Floats:
        """Multi-head attention of `x` over the cached tokens and itself."""
        cfg = self.config
        count = x.shape[0]
        element = storage_dtype(cfg.dtype)
        # Heads first: (heads, tokens, head_dim), the layout the cache stores.
        keys: Floats = _heads_first(x @ layer.key, cfg.num_kv_heads).astype(element)
        values: Floats = _heads_first(x @ layer.value, cfg.num_kv_heads).astype(element)
        if cache is not None:
            cache.append(index, keys, values)
            keys, values = cache.get(index)
        context = grouped_attention(_heads_first(x @ layer.query, cfg.num_heads), keys, values)
        merged: Floats = context.transpose(1, 0, 2).reshape(count, cfg.hidden_size) @ layer.output
        return merged


def grouped_attention(queries: Floats, keys: Floats, values: Floats) -> Floats:
    """Causal attention of H query heads over G K/V heads, H/G query heads per K/V head.

    queries: (H, t, d), the last t of the n positions; keys and values: (G, n, d). Query head h
    reads K/V head h // (H/G), the grouping of Llama's `repeat_kv`. G = H is MHA, G = 1 MQA.
    """
    import numpy as np

    heads, count, dim = queries.shape
    groups, length, _ = keys.shape
    per_group = heads // groups
    grouped = queries.reshape(groups, per_group * count, dim) * np.float32(1 / math.sqrt(dim))
    keys32 = keys.astype(np.float32, copy=False)
    scores = (grouped @ keys32.transpose(0, 2, 1)).reshape(groups, per_group, count, length)
    if count > 1:
        # Query i sits at position length - count + i and sees keys up to and including it.
        future = np.triu(np.full((count, length), -np.inf, np.float32), length - count + 1)
        scores += future
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    weights = scores.reshape(groups, per_group * count, length)
    context: Floats = weights @ values.astype(np.float32, copy=False)
    return context.reshape(heads, count, dim)


def _heads_first(projected: Floats, heads: int) -> Floats:
    """(tokens, heads x head_dim) -> (heads, tokens, head_dim)."""
    count, width = projected.shape
    return projected.reshape(count, heads, width // heads).transpose(1, 0, 2)


def _rms_norm(x: Floats, gain: Floats) -> Floats:
    import numpy as np

    scale = 1 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + _NORM_EPS)
    normed: Floats = x * scale * gain
    return normed


def _mlp(layer: LayerWeights, x: Floats) -> Floats:
    """GELU MLP with GPT-2's tanh approximation."""
    import numpy as np

    hidden = x @ layer.up
    cubic = hidden + 0.044715 * hidden * hidden * hidden
    gelu = 0.5 * hidden * (1 + np.tanh(math.sqrt(2 / math.pi) * cubic))
    projected: Floats = gelu @ layer.down
    return projected
