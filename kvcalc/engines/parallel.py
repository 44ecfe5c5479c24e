"""Tensor and pipeline parallelism: the share of a model that the busiest GPU holds."""

from __future__ import annotations

from kvcalc.engines.deployment import Deployment
from kvcalc.errors import InputError
from kvcalc.model.architecture import (
    Architecture,
    Attention,
    LayerGroup,
    LayerKind,
    NaiveDims,
    RecurrentState,
)
from kvcalc.values import replace, value


@value
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

    vLLM 0.33 `config/model.py` `get_num_kv_heads` (docs/engines.md 1.2); SGLang the same.
    An MLA latent is one "head" that is never split: every GPU holds it whole.
    """
    if attention.mla is not None:
        return 1
    return max(1, attention.num_kv_heads // tp)


def check_tensor_parallel(architecture: Architecture, tp: int) -> None:
    """The engines' conditions: tp divides the query heads, and KV heads split or replicate
    evenly (vLLM `models/llama.py` asserts `tp % kv == 0` when tp exceeds the KV heads)."""
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


def stage_sizes(num_layers: int, pp: int) -> list[int]:
    """Layers per pipeline stage as vLLM deals them (`distributed/utils.py` `get_pp_indices`):
    `layers // pp` each, and the remainder one each to the stages just before the last,
    walking towards the first; the last stage never takes one."""
    if pp > num_layers:
        raise InputError(f"--pp {pp} exceeds the model's {num_layers} layers")
    sizes = [num_layers // pp] * pp
    for index in range(num_layers % pp):
        sizes[-2 - index] += 1
    return sizes


def llamacpp_split(num_layers: int, gpus: int) -> list[int]:
    """Repeating layers per GPU as llama.cpp deals them over equal GPUs (`src/llama-model.cpp`
    `load_tensors` L1556-1614, commit 0c1e57098): `n_layer + 1` slots, the output layer being
    the last; slot il goes to the first GPU whose cumulative share (g + 1) / gpus exceeds
    il / (n_layer + 1) (`std::upper_bound` over the normalised splits), so GPU g takes slots
    cdiv(g x slots, gpus) up to cdiv((g + 1) x slots, gpus), and the last GPU's last slot is
    the output layer. 32 layers on 2 GPUs: 17 and 15."""
    if gpus > num_layers:
        raise InputError(f"--pp {gpus} exceeds the model's {num_layers} layers")
    slots = num_layers + 1
    bounds = [-(-gpu * slots // gpus) for gpu in range(gpus + 1)]
    sizes = [bounds[gpu + 1] - bounds[gpu] for gpu in range(gpus)]
    sizes[-1] -= 1  # the output layer
    return sizes


def engine_stage_sizes(num_layers: int, pp: int, engine: str) -> list[int]:
    """Layers per pipeline stage (per GPU for llama.cpp's layer split) as `engine` deals them."""
    if engine == "llama.cpp":
        return llamacpp_split(num_layers, pp)
    return stage_sizes(num_layers, pp)


def _split(value: int, tp: int, what: str, model_type: str) -> int:
    if value % tp:
        raise InputError(
            f"--tp {tp} does not divide the {value} {what} of model_type {model_type!r}"
        )
    return value // tp


def shard_state(state: RecurrentState, tp: int, model_type: str) -> RecurrentState:
    """One GPU's share of a Mamba / linear-attention state (vLLM `mamba_utils.py`): heads and
    conv channels divided by tp; Mamba2's B/C groups replicated when tp does not divide them
    (`extra_groups_for_head_shards`: then each GPU holds one group)."""
    if tp == 1:
        return state
    shape = state.recurrent_shape
    if shape:
        shape = (_split(shape[0], tp, "state heads", model_type), *shape[1:])
    channels = state.conv_channels
    if state.groups:
        own = channels - state.groups * state.group_channels
        if state.groups % tp == 0:
            groups = state.groups // tp
        elif state.groups < tp and tp % state.groups == 0:
            groups = 1
        else:
            raise InputError(
                f"--tp {tp} cannot split the {state.groups} Mamba groups of model_type "
                f"{model_type!r}"
            )
        channels = _split(own, tp, "Mamba conv channels", model_type) + groups * (
            state.group_channels
        )
        return RecurrentState(channels, state.conv_kernel, shape, groups, state.group_channels)
    if channels:
        channels = _split(channels, tp, "conv channels", model_type)
    return RecurrentState(channels, state.conv_kernel, shape)


def _shard_group(group: LayerGroup, tp: int, model_type: str, count: int) -> LayerGroup:
    attention = group.attention
    if attention is not None and tp > 1:
        heads = attention.num_heads // tp
        kv = 1 if attention.mla is not None else kv_heads_per_gpu(attention, tp)
        attention = replace(attention, num_heads=heads, num_kv_heads=kv)
    state = group.state
    if state is not None:
        state = shard_state(state, tp, model_type)
    return replace(group, count=count, attention=attention, state=state)


def _weight(item: tuple[int, LayerGroup]) -> tuple[int, int]:
    """Heaviest first: attention by cache elements per token (full before windowed), then
    states."""
    group = item[1]
    if group.attention is None:
        return (1, 0)
    windowed = group.window_tokens is not None
    return (0, group.attention.elements_per_token * (1 if windowed else 1 << 20) * -1)


def _stage_counts(architecture: Architecture, pp: int, engine: str) -> dict[int, int]:
    """Layers of each group on the busiest stage. Layer order is not part of the
    architecture, so with several kinds the stage is taken to hold the heaviest layers
    first (full attention, then windowed, then states): exact when all layers cache alike,
    an upper bound at long contexts otherwise."""
    room = max(engine_stage_sizes(architecture.num_layers, pp, engine))
    counts: dict[int, int] = {}
    for index, group in sorted(enumerate(architecture.groups), key=_weight):
        if group.kind is LayerKind.CROSS:
            counts[index] = -(-group.count // pp)
            continue
        taken = min(group.count, room)
        counts[index] = taken
        if architecture.layer_count is None:
            room -= taken
    return counts


def shard(
    architecture: Architecture, deployment: Deployment, engine: str
) -> tuple[Architecture, tuple[str, ...]]:
    """The model as the busiest GPU of `deployment` holds it: KV heads per GPU, MLA whole,
    states split by heads, and the layers of the busiest pipeline stage."""
    tp, pp = deployment.tp, deployment.pp
    if tp == 1 and pp == 1:
        return architecture, ()
    if engine == "llama.cpp" and tp > 1:
        raise InputError(
            "--engine llama.cpp splits whole layers across GPUs (--split-mode layer), not "
            "heads: use --pp N for N GPUs"
        )
    check_tensor_parallel(architecture, tp)
    counts = _stage_counts(architecture, pp, engine)
    groups = tuple(
        _shard_group(group, tp, architecture.model_type, counts[index])
        for index, group in enumerate(architecture.groups)
        if counts[index] > 0
    )
    naive = architecture.naive
    if naive is not None:
        naive = NaiveDims(
            max(engine_stage_sizes(naive.num_layers, pp, engine)),
            max(1, naive.num_kv_heads // tp),
            naive.head_dim,
        )  # fmt: skip
    layer_count = architecture.layer_count
    if layer_count is not None:
        layer_count = max(engine_stage_sizes(layer_count, pp, engine))
    local = replace(architecture, groups=groups, naive=naive, layer_count=layer_count)
    return local, parallel_notes(architecture, tp, pp, engine)


def parallel_notes(
    architecture: Architecture, tp: int, pp: int, engine: str = "vllm"
) -> tuple[str, ...]:
    """What tensor and pipeline parallelism do to this model that is not obvious."""
    notes = []
    attention = architecture.attention
    if attention is not None and tp > 1:
        kv = attention.num_kv_heads
        if attention.mla is not None:
            notes.append(f"the MLA latent is not split: each of the {tp} GPUs holds it whole")
        elif tp > kv:
            notes.append(
                f"--tp {tp} exceeds the {kv} KV heads: each GPU holds 1 KV head, every "
                f"head replicated on {tp // kv} GPUs (vLLM's rule, docs/engines.md 1.2)"
            )
    kinds = {g.kind for g in architecture.groups if g.kind is not LayerKind.NONE}
    if pp > 1:
        sizes = engine_stage_sizes(architecture.num_layers, pp, engine)
        split = ("llama.cpp's layer split: GPUs of " if engine == "llama.cpp" else
                 "pipeline stages of ")  # fmt: skip
        notes.append(f"{split}{', '.join(map(str, sizes))} layers; the busiest GPU holds "
                     f"{max(sizes)}")  # fmt: skip
        if len(kinds) > 1:
            notes.append(
                "the busiest pipeline stage is taken to hold the heaviest layers (layer order "
                "is not modelled): an upper bound"
            )
    return tuple(notes)
