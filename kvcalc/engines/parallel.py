"""Fit arithmetic: per-GPU weights and KV cache under tensor and pipeline parallelism."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.architecture import Architecture, Attention, LayerGroup, LayerKind
from kvcalc.model.dtypes import CacheDtype

WINDOWED = (LayerKind.SLIDING, LayerKind.CHUNKED)


@dataclass(frozen=True)
class Parallelism:
    """`gpus` GPUs in replicas of `tp` x `pp` (tensor x pipeline parallel) GPUs each."""

    gpus: int
    tp: int
    pp: int

    @property
    def replicas(self) -> int:
        return self.gpus // (self.tp * self.pp)


def plan_parallelism(gpus: int | None, tp: int | None, pp: int) -> Parallelism:
    """Fill in what was not given: --tp defaults to every GPU of a stage, --gpus to tp x pp."""
    if gpus is None:
        tp = tp or 1
        return Parallelism(tp * pp, tp, pp)
    if tp is None:
        if gpus % pp:
            raise InputError(f"--pp {pp} does not divide --gpus {gpus}")
        tp = gpus // pp
    if gpus % (tp * pp):
        raise InputError(f"--gpus {gpus} is not a whole number of --tp {tp} x --pp {pp} replicas")
    return Parallelism(gpus, tp, pp)


def kv_heads_per_gpu(attention: Attention, tp: int) -> int:
    """KV heads on one GPU: `max(1, kv_heads // tp)`; below one head per GPU, heads replicate.

    vLLM 0.33 `vllm/config/model.py` L1663-1683, `models/llama.py` L147-156 (docs/engines.md
    1.2). An MLA latent is one "head" that is never split: every GPU holds it whole
    (`mla_attention.py` L1371-1389).
    """
    if attention.mla is not None:
        return 1
    return max(1, attention.num_kv_heads // tp)


def check_tensor_parallel(architecture: Architecture, tp: int) -> None:
    """vLLM's conditions: tp divides the query heads, and KV heads split or replicate evenly."""
    for group in architecture.groups:
        attention = group.attention
        if attention is None:
            continue
        if attention.num_heads % tp:
            raise InputError(
                f"--tp {tp} does not divide the {attention.num_heads} attention heads of "
                f"model_type {architecture.model_type!r}"
            )
        kv = attention.num_kv_heads
        if attention.mla is None and (kv % tp if kv >= tp else tp % kv):
            raise InputError(
                f"--tp {tp} cannot split {kv} KV heads: KV heads must divide by tp, or tp by "
                "the KV heads (then each GPU holds a replica of one head)"
            )


def stage_layers(num_layers: int, pp: int) -> int:
    """Layers on the busiest pipeline stage: ceil(layers / pp).

    Each stage sizes only its own layers' cache (vLLM 0.33, docs/engines.md 1.2); however the
    layers are dealt out, some stage gets at least ceil(layers / pp) of them.
    """
    if pp > num_layers:
        raise InputError(f"--pp {pp} exceeds the model's {num_layers} layers")
    return -(-num_layers // pp)


def validate(architecture: Architecture, dtype: CacheDtype, par: Parallelism) -> None:
    """Every check that does not need a workload: tp, pp, and layer kinds fit can size."""
    check_tensor_parallel(architecture, par.tp)
    stage_layers(architecture.num_layers, par.pp)
    for group in architecture.groups:
        layer_bytes_per_gpu(group, dtype, par.tp, 1)


def tokens_held_per_gpu(group: LayerGroup, seq_len: int) -> int:
    """Tokens a layer keeps for one sequence; refuses kinds whose per-GPU split is not modelled."""
    if group.kind is LayerKind.FULL:
        return seq_len
    if group.kind in WINDOWED and group.window_tokens is not None:
        return min(seq_len, group.window_tokens)
    raise UnsupportedConfigError(
        f"kvcalc fit does not size {group.kind.value!r} layers yet: how tensor parallelism "
        "splits them is not modelled"
    )


def layer_bytes_per_gpu(group: LayerGroup, dtype: CacheDtype, tp: int, seq_len: int) -> int:
    """Bytes one layer of `group` holds on one GPU for one sequence of `seq_len` tokens."""
    if group.kind is LayerKind.NONE:
        return 0
    tokens = tokens_held_per_gpu(group, seq_len)
    attention = group.cached_attention
    if attention.mla is not None:
        elements = attention.elements_per_token  # the whole latent, on every GPU
    else:
        elements = kv_heads_per_gpu(attention, tp) * (attention.k_head_dim + attention.v_head_dim)
    return tokens * dtype.bytes_for(elements)


def request_bytes_per_gpu(
    architecture: Architecture, dtype: CacheDtype, par: Parallelism, seq_len: int
) -> int:
    """KV bytes of one sequence of `seq_len` tokens on the busiest GPU.

    Its stage holds ceil(layers / pp) layers; the layer order is not part of the architecture,
    so with mixed layer kinds the stage is taken to hold the heaviest layers: an upper bound,
    exact whenever all layers cache alike.
    """
    per_layer = sorted(
        ((layer_bytes_per_gpu(g, dtype, par.tp, seq_len), g.count) for g in architecture.groups),
        reverse=True,
    )
    room = stage_layers(architecture.num_layers, par.pp)
    total = 0
    for size, count in per_layer:
        taken = min(count, room)
        total += taken * size
        room -= taken
    return total


@dataclass(frozen=True)
class Draft:
    """A speculative-decoding draft served on the same GPUs with the same TP and PP split."""

    architecture: Architecture
    dtype: CacheDtype
    spec_tokens: int
    weights_bytes: int


def serving_bytes_per_gpu(
    architecture: Architecture, dtype: CacheDtype, par: Parallelism, seq_len: int,
    draft: Draft | None = None,
) -> int:  # fmt: skip
    """One sequence on the busiest GPU; with a draft, both caches hold seq + K tokens (the
    target writes K slots ahead while verifying, the draft has proposed K)."""
    if draft is None:
        return request_bytes_per_gpu(architecture, dtype, par, seq_len)
    ahead = seq_len + draft.spec_tokens
    return request_bytes_per_gpu(architecture, dtype, par, ahead) + request_bytes_per_gpu(
        draft.architecture, draft.dtype, par, ahead
    )


def usable_bytes(gpu_bytes: int, util: Fraction) -> int:
    """floor(gpu_bytes x util): the memory an engine may use, as vLLM's --gpu-memory-utilization."""
    return gpu_bytes * util.numerator // util.denominator


def parse_util(text: str) -> Fraction:
    """A fraction in (0, 1] from `0.9`, `0.95` or `9/10`, exactly."""
    try:
        util = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise InputError(f"--util {text!r} is not a number; use e.g. 0.9") from None
    if not 0 < util <= 1:
        raise InputError(f"--util must be more than 0 and at most 1, got {text!r}")
    return util


@dataclass(frozen=True)
class FitReport:
    """Per-GPU memory of one workload: weights, KV cache, what is left, and the limits."""

    gpu_bytes: int
    util: Fraction
    parallelism: Parallelism
    weights_bytes_per_gpu: int
    batch: int  # sequences held by the whole deployment
    seq_len: int
    kv_bytes_per_token: int  # busiest GPU, one token of one sequence, before window caps
    kv_bytes_per_request: int  # busiest GPU, one sequence of seq_len tokens
    max_batch: int | None  # whole deployment at seq_len; None: a request needs no bytes
    max_seq_len: int | None  # by memory, at this batch; None: windows cap every layer
    speculative_bytes_per_request: int = 0  # of kv_bytes_per_request: draft and K slots
    draft_weights_bytes_per_gpu: int = 0  # of weights_bytes_per_gpu

    @property
    def usable_bytes(self) -> int:
        return usable_bytes(self.gpu_bytes, self.util)

    @property
    def budget_bytes(self) -> int:
        """floor(gpu x util) - weights per GPU: what the KV cache may take (negative: none)."""
        return self.usable_bytes - self.weights_bytes_per_gpu

    @property
    def batch_per_replica(self) -> int:
        return -(-self.batch // self.parallelism.replicas)

    @property
    def kv_bytes(self) -> int:
        """KV cache on the busiest GPU for this replica's share of the batch."""
        return self.batch_per_replica * self.kv_bytes_per_request

    @property
    def free_bytes(self) -> int:
        return self.budget_bytes - self.kv_bytes

    @property
    def fits(self) -> bool:
        return self.budget_bytes >= 0 and self.free_bytes >= 0


def longest_seq(
    architecture: Architecture, dtype: CacheDtype, par: Parallelism, batch: int, budget: int,
    draft: Draft | None = None,
) -> int | None:  # fmt: skip
    """The longest sequence such that `batch` of them fit in `budget` bytes on the busiest GPU.

    Exact: a doubling then a binary search over seq with `request_bytes_per_gpu`, which grows
    with seq and stops growing once every layer of the stage is capped by its window. None
    when even an endless sequence fits (every caching layer windowed).
    """

    def fits(seq: int) -> bool:
        return batch * serving_bytes_per_gpu(architecture, dtype, par, seq, draft) <= budget

    if not fits(1):
        return 0
    groups = (*architecture.groups, *(draft.architecture.groups if draft else ()))
    if any(group.kind is LayerKind.FULL for group in groups):
        low, high = 1, 2
        while fits(high):
            low, high = high, high * 2
    else:
        windows = [g.window_tokens or 1 for g in groups if g.kind in WINDOWED]
        low, high = 1, max(windows, default=1)
        if fits(high):
            return None
    while high - low > 1:  # fits(low), not fits(high)
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def fit_report(
    architecture: Architecture,
    dtype: CacheDtype,
    par: Parallelism,
    *,
    gpu_bytes: int,
    util: Fraction,
    weights_bytes: int,
    batch: int,
    seq_len: int,
    draft: Draft | None = None,
) -> FitReport:
    """The fit of `batch` sequences of `seq_len` tokens; weights split evenly over tp x pp."""
    validate(architecture, dtype, par)
    shards = par.tp * par.pp
    draft_weights = 0
    if draft is not None:
        validate(draft.architecture, draft.dtype, par)
        draft_weights = -(-draft.weights_bytes // shards)
    weights_per_gpu = -(-weights_bytes // shards) + draft_weights
    per_request = serving_bytes_per_gpu(architecture, dtype, par, seq_len, draft)
    plain = request_bytes_per_gpu(architecture, dtype, par, seq_len)
    budget = usable_bytes(gpu_bytes, util) - weights_per_gpu
    per_replica = -(-batch // par.replicas)
    most = None if per_request == 0 else max(0, budget) // per_request * par.replicas
    return FitReport(
        gpu_bytes=gpu_bytes,
        util=util,
        parallelism=par,
        weights_bytes_per_gpu=weights_per_gpu,
        batch=batch,
        seq_len=seq_len,
        kv_bytes_per_token=request_bytes_per_gpu(architecture, dtype, par, 1),
        kv_bytes_per_request=per_request,
        max_batch=most,
        max_seq_len=longest_seq(architecture, dtype, par, per_replica, budget, draft),
        speculative_bytes_per_request=per_request - plain,
        draft_weights_bytes_per_gpu=draft_weights,
    )
