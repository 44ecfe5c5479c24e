"""Byte arithmetic of the KV cache shared by every engine: pure functions over integers."""

from __future__ import annotations

from collections.abc import Callable

from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.architecture import Architecture, LayerGroup, LayerKind, RecurrentState
from kvcalc.model.dtypes import FP32, CacheDtype
from kvcalc.values import value


@value
class Workload:
    """What is being served: `batch` sequences of `seq_len` tokens, `enc_seq` encoder tokens."""

    batch: int
    seq_len: int
    enc_seq: int | None = None

    def __post_init__(self) -> None:
        if self.batch <= 0 or self.seq_len <= 0 or (self.enc_seq is not None and self.enc_seq <= 0):
            raise ValueError("batch, seq_len and enc_seq must be positive")


@value
class GroupBytes:
    """The cache of one layer group under one workload, as one engine allocates it."""

    group: LayerGroup
    tokens_per_sequence: int  # tokens (or cells) each layer holds per sequence; 0 for states
    bytes_per_token: int  # one token of one sequence, across the group's layers
    total_bytes: int
    detail: str = ""  # how the engine got there, e.g. "625 blocks of 16"
    # The engine's own arithmetic for one sequence where it is not tokens x bytes per token
    # (vLLM: blocks x groups x bytes of a block id): (count, what) factors whose product,
    # times the batch, is `total_bytes`. Shown by `--explain`.
    factors: tuple[tuple[int, str], ...] = ()


def tokens_held(group: LayerGroup, seq_len: int) -> int:
    """Tokens a layer of `group` keeps for one sequence of `seq_len` tokens.

    Full attention keeps every token. A sliding window keeps the last `window_tokens`;
    chunked attention needs at most one whole chunk, which is what must be reserved for a
    sequence that grows to `seq_len`.
    """
    if group.window_tokens is None:
        return seq_len
    return min(seq_len, group.window_tokens)


def layer_bytes_per_token(group: LayerGroup, dtype: CacheDtype) -> int:
    """Bytes one token adds to one layer: kv_heads x (K + V head dims), or one MLA latent."""
    return dtype.bytes_for(group.cached_attention.elements_per_token)


def encoder_tokens(architecture: Architecture, workload: Workload) -> int:
    """Encoder positions a cross-attention layer holds: --enc-seq, or the model's fixed length."""
    tokens = workload.enc_seq or architecture.encoder_tokens
    if tokens is None:
        raise InputError(
            f"model_type {architecture.model_type!r} is an encoder-decoder model: "
            "pass --enc-seq, the encoder's input length in tokens"
        )
    return tokens


def attention_group(
    group: LayerGroup, workload: Workload, tokens: int, per_layer_token: int, detail: str = ""
) -> GroupBytes:
    """batch x tokens held x layers x bytes per token and layer."""
    per_token = group.count * per_layer_token
    return GroupBytes(group, tokens, per_token, workload.batch * tokens * per_token, detail)


def state_bytes(
    state: RecurrentState, conv_taps: int, conv: CacheDtype, recurrent: CacheDtype
) -> int:
    """One layer's state for one sequence: `conv_taps` x channels, plus the recurrent state."""
    return conv.bytes_for(conv_taps * state.conv_channels) + recurrent.bytes_for(
        state.recurrent_elements
    )


def compressed_group(
    group: LayerGroup, workload: Workload, tokens: int, row: CacheDtype, state: CacheDtype
) -> GroupBytes:
    """DeepSeek V4's compressed layers: each holds `tokens` window rows of K (= V), one
    compressed entry (plus a CSA indexer key) per whole `ratio` tokens, both in `row`, and its
    compressor's open-window state in `state`, once per sequence."""
    compression = group.compression
    attention = group.cached_attention
    if compression is None:
        raise ValueError("not a compressed group")
    dim = attention.num_kv_heads * attention.k_head_dim
    entries = compression.entries(workload.seq_len)
    per_layer = (row.bytes_for(tokens * dim)
                 + row.bytes_for(entries * (dim + compression.indexer_dim))
                 + state.bytes_for(compression.state_elements(dim)))  # fmt: skip
    kind = "CSA" if compression.sparse else "HCA"
    detail = (f"{kind} 1:{compression.ratio}: {tokens:,} window rows + {entries:,} compressed "
              f"entries + {state.name} compressor state")  # fmt: skip
    per_token = group.count * row.bytes_for(dim)
    return GroupBytes(group, tokens, per_token, workload.batch * group.count * per_layer, detail)


def cdiv(a: int, b: int) -> int:
    """Integer division rounding up, as the engines size blocks and pages."""
    return -(-a // b)


def has_shared_kv(architecture: Architecture) -> bool:
    """DeepSeek V4's shared K=V window and compressed layers, which vLLM and SGLang keep in
    pools of their own (kvcalc.engines.vllm_dsv4, sglang_dsv4)."""
    return any(g.attention is not None and g.attention.shared_kv for g in architecture.groups)


def refuse_compressed(architecture: Architecture, engine: str, unmodelled: str) -> None:
    """Refuses DeepSeek V4's shared-K=V window and compressed layers under an engine whose
    layout for them kvcalc does not model; `unmodelled` names that layout."""
    if has_shared_kv(architecture):
        raise UnsupportedConfigError(
            f"--engine {engine}: DeepSeek V4's {unmodelled} are not modelled for model_type "
            f"{architecture.model_type!r}; "
            "--engine default, transformers and llama.cpp size it"
        )


def state_group(group: LayerGroup, workload: Workload, per_layer: int, detail: str) -> GroupBytes:
    return GroupBytes(group, 0, 0, workload.batch * group.count * per_layer, detail)


StateRule = Callable[[RecurrentState], tuple[int, str]]
AttentionRule = Callable[[LayerGroup], GroupBytes]


def size_groups(
    architecture: Architecture, workload: Workload, state: StateRule, attention: AttentionRule
) -> tuple[GroupBytes, ...]:
    """Every group sized by its kind: nothing for cache-less layers, `state` (bytes per layer
    and sequence, and how) for constant-state layers, `attention` for the rest."""
    groups = []
    for group in architecture.groups:
        if group.kind is LayerKind.NONE:
            groups.append(GroupBytes(group, 0, 0, 0, "no cache"))
        elif group.state is not None:
            per_layer, detail = state(group.state)
            groups.append(state_group(group, workload, per_layer, detail))
        else:
            groups.append(attention(group))
    return tuple(groups)


def cache_bytes(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model_dtype: CacheDtype
) -> tuple[GroupBytes, ...]:
    """The default semantics: what each layer needs to hold to generate `seq_len` tokens.

    Attention layers hold the tokens they can attend to (`tokens_held`); cross-attention the
    encoder's tokens; MLA its latent; a linear-attention or Mamba layer its conv window
    (kernel - 1 inputs, model dtype) and recurrent state (fp32), once per sequence. DeepSeek
    V4's compressed layers add their compressed entries and an fp32 compressor state
    (`compressed_group`).
    """

    def state(recurrent: RecurrentState) -> tuple[int, str]:
        size = state_bytes(recurrent, recurrent.conv_kernel - 1, model_dtype, FP32)
        return size, "conv (kernel - 1) + fp32 state"

    def attention(group: LayerGroup) -> GroupBytes:
        tokens = (
            encoder_tokens(architecture, workload)
            if group.kind is LayerKind.CROSS
            else tokens_held(group, workload.seq_len)
        )
        if group.compression is not None:
            return compressed_group(group, workload, tokens, dtype, FP32)
        return attention_group(group, workload, tokens, layer_bytes_per_token(group, dtype))

    return size_groups(architecture, workload, state, attention)
