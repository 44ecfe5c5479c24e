"""A preallocated KV cache for one sequence: K and V of every layer, with rollback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Floats = NDArray[np.floating[Any]]

# The element types the bench models and caches use, by kvcalc's dtype names.
STORAGE_DTYPES = {"fp32": "float32", "fp16": "float16"}


def storage_dtype(name: str) -> np.dtype[Any]:
    """The NumPy dtype that stores elements of the kvcalc dtype `name` (fp32 or fp16)."""
    import numpy as np

    return np.dtype(STORAGE_DTYPES[name])


class KVCache:
    """K and V of every layer for up to `max_len` tokens, allocated once.

    Each layer holds two arrays shaped (kv_heads, max_len, head_dim), so the filled part of a
    layer is a view, and `truncate` rolls back by moving a length, not by copying.

    `nbytes` is the bytes of the filled part: the K and V elements of the `length` tokens stored
    in every layer, i.e. layers x 2 x kv_heads x head_dim x length x bytes per element. That is
    what a serving engine must hold for the sequence and what kvcalc estimates. The slack that
    was reserved but not yet written is `capacity_bytes - nbytes`.
    """

    def __init__(
        self, num_layers: int, kv_heads: int, head_dim: int, max_len: int, dtype: str = "fp32"
    ) -> None:
        import numpy as np

        if min(num_layers, kv_heads, head_dim, max_len) <= 0:
            raise ValueError("cache dimensions must be positive")
        shape = (kv_heads, max_len, head_dim)
        element = storage_dtype(dtype)
        self.kv_heads = kv_heads
        self.head_dim = head_dim
        self.max_len = max_len
        self.dtype = dtype
        self._keys = [np.zeros(shape, element) for _ in range(num_layers)]
        self._values = [np.zeros(shape, element) for _ in range(num_layers)]
        # Layers fill one after another during a forward pass, so each keeps its own count.
        self._lengths = [0] * num_layers

    @property
    def num_layers(self) -> int:
        return len(self._lengths)

    @property
    def length(self) -> int:
        """Tokens whose K and V are stored in every layer."""
        return min(self._lengths)

    @property
    def nbytes(self) -> int:
        """Bytes of the filled K and V views of every layer (see the class docstring)."""
        return sum(k.nbytes + v.nbytes for k, v in map(self.get, range(self.num_layers)))

    @property
    def capacity_bytes(self) -> int:
        """Bytes preallocated for `max_len` tokens, filled or not."""
        return sum(k.nbytes + v.nbytes for k, v in zip(self._keys, self._values, strict=True))

    def append(self, layer: int, keys: Floats, values: Floats) -> None:
        """Store K and V, each shaped (kv_heads, tokens, head_dim), after `layer`'s last token."""
        start = self._lengths[layer]
        stop = start + keys.shape[1]
        expected = (self.kv_heads, keys.shape[1], self.head_dim)
        if keys.shape != expected or values.shape != expected:
            raise ValueError(f"K and V must be shaped {expected}, got {keys.shape}, {values.shape}")
        if stop > self.max_len:
            raise ValueError(f"cache holds {self.max_len} tokens; layer {layer} would need {stop}")
        self._keys[layer][:, start:stop] = keys
        self._values[layer][:, start:stop] = values
        self._lengths[layer] = stop

    def get(self, layer: int) -> tuple[Floats, Floats]:
        """Views of `layer`'s stored K and V, each shaped (kv_heads, tokens, head_dim)."""
        filled = self._lengths[layer]
        return self._keys[layer][:, :filled], self._values[layer][:, :filled]

    def truncate(self, length: int) -> None:
        """Keep only the first `length` tokens of every layer (roll back rejected tokens)."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot truncate a cache of {self.length} tokens to {length}")
        self._lengths = [length] * self.num_layers
