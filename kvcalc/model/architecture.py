"""The KV-relevant architecture of a model: one frozen, validated value."""

from __future__ import annotations

from enum import Enum

from kvcalc.values import field, value


class AttentionKind(str, Enum):
    """How keys and values are shared between query heads."""

    MHA = "MHA"
    GQA = "GQA"
    MQA = "MQA"
    MLA = "MLA"


class LayerKind(str, Enum):
    """What a layer keeps per sequence while generating."""

    FULL = "full"  # every token, keys and values
    SLIDING = "sliding"  # the last `window_tokens` tokens
    CHUNKED = "chunked"  # the tokens of the current chunk of `window_tokens`
    CROSS = "cross"  # encoder-decoder cross-attention: keys and values of every encoder token
    STATE = "state"  # linear attention or Mamba: a constant state per sequence
    NONE = "none"  # no cache at all (MLP-only or no-op attention layers, KV-sharing layers)


ATTENTION_KINDS = (LayerKind.FULL, LayerKind.SLIDING, LayerKind.CHUNKED, LayerKind.CROSS)


def _require_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


@value
class MlaDims:
    """Multi-head latent attention (DeepSeek V2/V3): the cache holds one latent per token."""

    kv_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int
    v_head_dim: int
    indexer_dim: int = 0  # DeepSeek sparse attention: one indexer key per token and layer

    def __post_init__(self) -> None:
        if self.indexer_dim < 0:
            raise ValueError("indexer_dim must not be negative")
        _require_positive("kv_lora_rank", self.kv_lora_rank)
        _require_positive("qk_rope_head_dim", self.qk_rope_head_dim)
        _require_positive("qk_nope_head_dim", self.qk_nope_head_dim)
        _require_positive("v_head_dim", self.v_head_dim)

    @property
    def latent_dim(self) -> int:
        """Elements cached per token and layer: the compressed KV plus the shared RoPE key."""
        return self.kv_lora_rank + self.qk_rope_head_dim


@value
class Attention:
    """The attention of one group of layers."""

    num_heads: int
    num_kv_heads: int
    k_head_dim: int
    v_head_dim: int
    mla: MlaDims | None = None
    # Keys are the values (DeepSeek V4's shared-KV MQA): one vector per KV head and token.
    shared_kv: bool = False

    def __post_init__(self) -> None:
        if self.shared_kv and (self.mla is not None or self.k_head_dim != self.v_head_dim):
            raise ValueError("shared keys and values need equal K and V head dims and no MLA")
        _require_positive("num_heads", self.num_heads)
        _require_positive("num_kv_heads", self.num_kv_heads)
        _require_positive("k_head_dim", self.k_head_dim)
        _require_positive("v_head_dim", self.v_head_dim)
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"{self.num_heads} attention heads do not divide into {self.num_kv_heads} KV heads"
            )

    @property
    def kind(self) -> AttentionKind:
        if self.mla is not None:
            return AttentionKind.MLA
        if self.num_kv_heads == self.num_heads:
            return AttentionKind.MHA
        if self.num_kv_heads == 1:
            return AttentionKind.MQA
        return AttentionKind.GQA

    @property
    def elements_per_token(self) -> int:
        """Cache elements one token adds to one layer: K and V per KV head, or the MLA latent."""
        if self.mla is not None:
            return self.mla.latent_dim + self.mla.indexer_dim
        if self.shared_kv:
            return self.num_kv_heads * self.k_head_dim
        return self.num_kv_heads * (self.k_head_dim + self.v_head_dim)


@value
class RecurrentState:
    """The constant per-sequence state of a linear-attention or Mamba layer.

    A causal convolution over `conv_channels` channels with a kernel of `conv_kernel` taps,
    and a recurrent state of `recurrent_shape` (Mamba2: heads x head dim x state size;
    gated DeltaNet: value heads x key dim x value dim). Either part may be absent: MiniMax's
    lightning attention has no convolution (0 channels, kernel 0), LFM2's short convolution
    no recurrent state (an empty shape).
    """

    conv_channels: int
    conv_kernel: int
    recurrent_shape: tuple[int, ...]
    # Mamba2: of the conv channels, `groups` x `group_channels` belong to the B/C groups,
    # which tensor parallelism replicates when it cannot split them (the rest split by head).
    groups: int = 0
    group_channels: int = 0

    def __post_init__(self) -> None:
        if self.groups < 0 or self.group_channels < 0:
            raise ValueError("Mamba groups and their channels must not be negative")
        if self.groups * self.group_channels > self.conv_channels:
            raise ValueError("the Mamba groups' channels exceed the conv channels")
        if self.conv_channels or self.conv_kernel:
            _require_positive("conv_channels", self.conv_channels)
            _require_positive("conv_kernel", self.conv_kernel)
        for size in self.recurrent_shape:
            _require_positive("recurrent state dimension", size)
        if not self.conv_channels and not self.recurrent_shape:
            raise ValueError("a recurrent state needs a convolution or a recurrent part")

    @property
    def recurrent_elements(self) -> int:
        if not self.recurrent_shape:
            return 0
        elements = 1
        for size in self.recurrent_shape:
            elements *= size
        return elements


@value
class Compression:
    """DeepSeek V4's compressed attention, on top of a layer's sliding window.

    Every `ratio` tokens are pooled into one compressed entry of the layer's head dim, which
    every later token attends to. CSA (compressed sparse attention) pools overlapping windows
    of 2 x ratio tokens (two series per token, each of the head dim) and keeps a lightning
    indexer key of `indexer_dim` per entry; HCA (heavily compressed attention) pools disjoint
    windows and has no indexer (`indexer_dim` 0).
    """

    ratio: int
    indexer_dim: int = 0

    def __post_init__(self) -> None:
        _require_positive("compression ratio", self.ratio)
        if self.indexer_dim < 0:
            raise ValueError("indexer_dim must not be negative")

    @property
    def sparse(self) -> bool:
        """CSA: overlapping windows and an indexer."""
        return self.indexer_dim > 0

    def entries(self, tokens: int) -> int:
        """Compressed entries emitted after `tokens` tokens: one per whole window."""
        return tokens // self.ratio

    def state_elements(self, head_dim: int) -> int:
        """The compressor's running state for one sequence: a kv and a score row for every
        token of the windows still open, 2 x ratio tokens of two series (Ca, Cb) for CSA,
        ratio tokens of one for HCA; the indexer's compressor alike at its own key dim."""
        series = 2 if self.sparse else 1
        return 2 * series * self.ratio * series * (head_dim + self.indexer_dim)


@value
class LayerGroup:
    """`count` layers that cache alike."""

    kind: LayerKind
    count: int
    attention: Attention | None = None
    window_tokens: int | None = None
    state: RecurrentState | None = None
    # Compressed entries kept beside the window (DeepSeek V4); only on sliding groups.
    compression: Compression | None = None

    def __post_init__(self) -> None:
        _require_positive("count", self.count)
        if self.compression is not None and self.kind is not LayerKind.SLIDING:
            raise ValueError("compressed attention sits on a sliding group's window")
        if (self.kind in ATTENTION_KINDS) != (self.attention is not None):
            raise ValueError(f"a {self.kind.value} group needs attention exactly if it attends")
        if (self.kind is LayerKind.STATE) != (self.state is not None):
            raise ValueError("a state group, and only it, needs a recurrent state")
        windowed = self.kind in (LayerKind.SLIDING, LayerKind.CHUNKED)
        if windowed and self.window_tokens is None:
            raise ValueError(f"a {self.kind.value} group needs window_tokens")
        if not windowed and self.window_tokens is not None:
            raise ValueError(f"a {self.kind.value} group has no window")
        if self.window_tokens is not None:
            _require_positive("window_tokens", self.window_tokens)

    @property
    def cached_attention(self) -> Attention:
        """The attention of an attention group (an error for state and cache-less groups)."""
        if self.attention is None:
            raise ValueError(f"a {self.kind.value} group has no attention")
        return self.attention


@value
class NaiveDims:
    """What the textbook formula reads: all layers, KV heads and head dim as the config says."""

    num_layers: int
    num_kv_heads: int
    head_dim: int


@value
class ComputeDims:
    """Widths outside the cache that the engines' non-KV memory grows with (activations,
    logits); None where the config does not state them."""

    hidden_size: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    num_experts: int | None = None
    experts_per_token: int | None = None
    moe_intermediate_size: int | None = None


@value
class Architecture:
    """Everything about a model that decides the size of its KV cache."""

    model_type: str
    groups: tuple[LayerGroup, ...]
    max_position_embeddings: int | None = None
    config_dtype: str | None = None
    # The cache dtype the checkpoint itself asks for (quantization_config), e.g. "fp8".
    kv_cache_dtype: str | None = None
    naive: NaiveDims | None = None
    encoder_tokens: int | None = None  # encoder length of an encoder-decoder model, if fixed
    # Decoder layers, where groups overlap: a Falcon-H1 or Zamba2 layer holds attention keys
    # and a state, so it counts in two groups. None: the groups' counts add up to the layers.
    layer_count: int | None = None
    # The SSM-state dtype the config names ("auto", "float32", "float16" or "bfloat16"), under
    # each key an engine reads: `mamba_ssm_cache_dtype` (vLLM, Nemotron-H) and `mamba_ssm_dtype`
    # (vLLM, Qwen3.5; SGLang). None: the config does not say.
    mamba_ssm_cache_dtype: str | None = None
    mamba_ssm_dtype: str | None = None
    # Engine-specific behaviours of this family, e.g. "transformers-repeats-kv" (Falcon's
    # new architecture caches K/V broadcast to every query head in transformers).
    quirks: frozenset[str] = frozenset()
    compute: ComputeDims = ComputeDims()
    # (what, config key it was read from), in reading order; for `inspect` and error messages.
    provenance: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.groups:
            raise ValueError("an architecture needs at least one layer group")
        if not any(group.attention or group.state for group in self.groups):
            raise ValueError("an architecture needs at least one layer that caches")
        if self.max_position_embeddings is not None:
            _require_positive("max_position_embeddings", self.max_position_embeddings)
        if self.layer_count is not None:
            _require_positive("layer_count", self.layer_count)
            if any(group.count > self.layer_count for group in self.groups):
                raise ValueError("a layer group has more layers than the model")

    @property
    def num_layers(self) -> int:
        # A decoder layer of an encoder-decoder model holds self- and cross-attention.
        return self.layer_count or sum(
            group.count for group in self.groups if group.kind is not LayerKind.CROSS
        )

    @property
    def attention(self) -> Attention | None:
        """The attention of the first attention group: the model's headline attention."""
        return next((g.attention for g in self.groups if g.attention is not None), None)
