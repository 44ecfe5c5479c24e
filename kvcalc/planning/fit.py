"""A fit request end to end: the model, the GPU, the weights, then the engine's sizing rule.

Every KV byte here comes from `kvcalc.engines.size` and `kvcalc.engines.capacity`, the same
rule `estimate` uses; this module only chooses the deployment and compares with the budget.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction

from kvcalc.engines import Deployment, EngineResult, capacity, rule, size
from kvcalc.engines.budget import KvBudget, kv_budget
from kvcalc.engines.kvbytes import Workload
from kvcalc.engines.parallel import Parallelism, check_tensor_parallel, plan_parallelism
from kvcalc.engines.pool import Capacity, most_requests
from kvcalc.errors import InputError
from kvcalc.model.architecture import Architecture, LayerKind
from kvcalc.model.dtypes import CacheDtype
from kvcalc.planning.estimation import (
    LoadedModel,
    load_model,
    model_dtype_of,
    positive_count,
    resolve_dtype,
    resolve_seq,
)
from kvcalc.planning.fit_weights import resolve_weights
from kvcalc.planning.gpus import Gpu, custom_gpu, engine_arch, find_gpu
from kvcalc.sizes import parse_size
from kvcalc.sources.resolve import HubOptions, ModelSource
from kvcalc.sources.weights import Weights
from kvcalc.units import format_size, parse_tokens
from kvcalc.values import replace, value

MAX_GPUS = 64  # the solver's search: up to 8 nodes of 8 GPUs


@value
class Draft:
    """A speculative-decoding draft served on the same GPUs with the same TP and PP split."""

    architecture: Architecture
    dtype: CacheDtype
    spec_tokens: int
    weights_bytes: int


@value
class Workplan:
    """Everything fixed before the parallelism is chosen."""

    engine: str
    architecture: Architecture
    kv_dtype: CacheDtype
    model_dtype: CacheDtype
    gpu: Gpu
    weights_bytes: int
    batch: int
    seq_len: int
    enc_seq: int | None
    deployment: Deployment  # the engine knobs; tp and pp are filled in per candidate
    util: Fraction | None
    reserve_bytes: int | None
    kv_cache_memory: int | None
    draft: Draft | None = None


@value
class FitReport:
    """Per-GPU memory of one workload on one deployment, as the engine allocates it."""

    engine: str
    parallelism: Parallelism
    deployment: Deployment
    budget: KvBudget
    batch: int  # sequences held by the whole deployment
    seq_len: int
    kv_bytes_per_token: int  # busiest GPU, one token of one sequence, before window caps
    kv_bytes_per_request: int  # busiest GPU, one sequence of seq_len tokens (draft included)
    kv_bytes: int  # busiest GPU, this replica's share of the batch
    capacity: Capacity  # the engine's figures for the KV budget
    max_batch: int  # whole deployment at seq_len
    max_seq_len: int | None  # by memory at this batch; None: windows cap every layer
    max_position_embeddings: int | None
    result: EngineResult  # the busiest GPU's groups for its share of the batch
    speculative_bytes_per_request: int = 0
    draft_weights_bytes_per_gpu: int = 0

    @property
    def weights_bytes_per_gpu(self) -> int:
        return self.budget.weights_bytes

    @property
    def batch_per_replica(self) -> int:
        return -(-self.batch // self.parallelism.replicas)

    @property
    def free_bytes(self) -> int:
        return self.budget.kv_budget_bytes - self.kv_bytes

    @property
    def reason(self) -> str | None:
        """None if it fits; else why not: `weights` (weights and reserve exceed the usable
        memory), `context` (not one request of seq_len tokens fits, or seq_len exceeds the
        model's positions), `kv` (the batch does not)."""
        budget = self.budget
        if budget.weights_bytes + budget.reserve.total_bytes > budget.usable_bytes or (
            budget.kv_budget_bytes < 0
        ):
            return "weights"
        limit = self.max_position_embeddings
        if (limit is not None and self.seq_len > limit) or not self.capacity.admits_one:
            return "context"
        if self.max_batch < self.batch:
            return "kv"
        return None

    @property
    def fits(self) -> bool:
        return self.reason is None


def _request_bytes(plan: Workplan, local: Deployment, batch: int, seq: int) -> int:
    """The busiest GPU's KV bytes for `batch` requests of `seq` tokens: target and draft
    caches both at seq + K when speculating."""
    ahead = seq + (plan.draft.spec_tokens if plan.draft else 0)
    workload = Workload(batch, ahead, plan.enc_seq)
    total = size(plan.engine, plan.architecture, workload, plan.kv_dtype, plan.model_dtype,
                 local).total_bytes  # fmt: skip
    if plan.draft is not None:
        draft = plan.draft
        total += size(plan.engine, draft.architecture, workload, draft.dtype, draft.dtype,
                      local).total_bytes  # fmt: skip
    return total


def _windowed_only(plan: Workplan) -> bool:
    groups = (*plan.architecture.groups, *(plan.draft.architecture.groups if plan.draft else ()))
    return not any(g.kind in (LayerKind.FULL, LayerKind.CROSS) for g in groups)


def longest_seq(plan: Workplan, local: Deployment, batch: int, budget: int) -> int | None:
    """The longest sequence such that `batch` of them fit in `budget` bytes on the busiest
    GPU: a doubling then a bisection over the engine's own allocation. None when even an
    endless sequence fits (every caching layer windowed or constant)."""

    def fits(seq: int) -> bool:
        return _request_bytes(plan, local, batch, seq) <= budget

    if budget < 0 or not fits(1):
        return 0
    low, high = 1, 2
    while fits(high):
        low, high = high, high * 2
        if high > 1 << 40:
            if _windowed_only(plan):
                return None
            raise InputError("the KV budget holds sequences beyond 2^40 tokens")
    while high - low > 1:  # fits(low), not fits(high)
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def evaluate(plan: Workplan, par: Parallelism) -> FitReport:
    """The fit of the plan's workload on `par`: weights split evenly over tp x pp."""
    check_tensor_parallel(plan.architecture, par.tp)
    local = replace(plan.deployment, tp=par.tp, pp=par.pp)
    shards = par.tp * par.pp
    draft_weights = -(-plan.draft.weights_bytes // shards) if plan.draft else 0
    weights = -(-plan.weights_bytes // shards) + draft_weights
    budget = kv_budget(
        plan.engine, plan.architecture, local, gpu_bytes=plan.gpu.budget_bytes,
        weights_bytes=weights, util=plan.util, reserve_bytes=plan.reserve_bytes,
        kv_cache_memory=plan.kv_cache_memory,
    )  # fmt: skip
    per_replica = -(-plan.batch // par.replicas)
    one = size(plan.engine, plan.architecture, Workload(per_replica, plan.seq_len, plan.enc_seq),
               plan.kv_dtype, plan.model_dtype, local)  # fmt: skip
    pool = capacity(plan.engine, plan.architecture, plan.kv_dtype, plan.model_dtype, local,
                    budget.kv_budget_bytes, plan.seq_len, plan.enc_seq)  # fmt: skip
    usable = budget.kv_budget_bytes - pool.pool.reserved_units * pool.pool.unit_bytes
    per_request = _request_bytes(plan, local, 1, plan.seq_len)
    plain = size(plan.engine, plan.architecture, Workload(1, plan.seq_len, plan.enc_seq),
                 plan.kv_dtype, plan.model_dtype, local).total_bytes  # fmt: skip
    most = most_requests(lambda b: _request_bytes(plan, local, b, plan.seq_len), usable)
    if pool.pool.requests is not None and plan.draft is None:
        most = min(most, pool.pool.requests)  # the engine's own limit (window pools, caps)
    return FitReport(
        engine=plan.engine, parallelism=par, deployment=local, budget=budget, batch=plan.batch,
        seq_len=plan.seq_len,
        kv_bytes_per_token=sum(group.bytes_per_token for group in one.groups),
        kv_bytes_per_request=per_request,
        kv_bytes=_request_bytes(plan, local, per_replica, plan.seq_len),
        capacity=pool, max_batch=most * par.replicas,
        max_seq_len=longest_seq(plan, local, per_replica, usable),
        max_position_embeddings=plan.architecture.max_position_embeddings, result=one,
        speculative_bytes_per_request=per_request - plain,
        draft_weights_bytes_per_gpu=draft_weights,
    )  # fmt: skip


def candidates(plan: Workplan, most_gpus: int = MAX_GPUS) -> list[Parallelism]:
    """Deployments the engine can use, fewest GPUs first, tensor before pipeline parallel:
    TP a power of two that splits the heads (llama.cpp: none, it splits layers), PP a power
    of two no larger than the layer count."""
    found = []
    layers = plan.architecture.num_layers
    powers = [1 << n for n in range(most_gpus.bit_length()) if 1 << n <= most_gpus]
    for tp in [1] if plan.engine == "llama.cpp" else powers:
        try:
            check_tensor_parallel(plan.architecture, tp)
        except InputError:
            continue
        found += [Parallelism(tp * pp, tp, pp) for pp in powers if tp * pp <= most_gpus
                  and pp <= layers]  # fmt: skip
    return sorted(found, key=lambda par: (par.gpus, par.pp))


def quick_fits(plan: Workplan, par: Parallelism) -> bool:
    """Whether the batch fits on `par`, without the searches a full report makes."""
    local = replace(plan.deployment, tp=par.tp, pp=par.pp)
    shards = par.tp * par.pp
    weights = -(-plan.weights_bytes // shards)
    weights += -(-plan.draft.weights_bytes // shards) if plan.draft else 0
    budget = kv_budget(
        plan.engine, plan.architecture, local, gpu_bytes=plan.gpu.budget_bytes,
        weights_bytes=weights, util=plan.util, reserve_bytes=plan.reserve_bytes,
        kv_cache_memory=plan.kv_cache_memory,
    )  # fmt: skip
    if budget.kv_budget_bytes < 0 or weights + budget.reserve.total_bytes > budget.usable_bytes:
        return False
    pool = capacity(plan.engine, plan.architecture, plan.kv_dtype, plan.model_dtype, local,
                    budget.kv_budget_bytes, plan.seq_len, plan.enc_seq,
                    count_requests=False)  # fmt: skip
    if not pool.admits_one:
        return False
    usable = budget.kv_budget_bytes - pool.pool.reserved_units * pool.pool.unit_bytes
    per_replica = -(-plan.batch // par.replicas)
    if pool.pool.requests is not None and plan.draft is None:
        return pool.pool.requests >= per_replica
    return _request_bytes(plan, local, per_replica, plan.seq_len) <= usable


def solve(plan: Workplan, most_gpus: int = MAX_GPUS) -> tuple[FitReport, int]:
    """The first candidate that fits, and how many were tried; if none fits, the largest.

    A --seq beyond the model's positions fits nowhere: the first candidate says so."""
    options = candidates(plan, most_gpus)
    if not options:
        raise InputError(f"no tensor-parallel size up to {most_gpus} splits this model's heads")
    limit = plan.architecture.max_position_embeddings
    if limit is not None and plan.seq_len > limit:
        return evaluate(plan, options[0]), 1
    for tried, par in enumerate(options, 1):
        if quick_fits(plan, par):
            report = evaluate(plan, par)
            if report.fits:
                return report, tried
    return evaluate(plan, options[-1]), len(options)


@value
class Fit:
    """A model, a GPU and a workload, and how they fit."""

    source: ModelSource
    architecture: Architecture
    gpu: Gpu
    kv_dtype: CacheDtype
    weights: Weights
    report: FitReport
    notes: tuple[str, ...] = ()
    solved: bool = False  # the parallelism was searched, not given

    @property
    def engine(self) -> str:
        return self.report.engine


def choose_gpu(gpu: str | None, gpu_memory: str | None) -> Gpu:
    """The catalogue GPU `gpu`, or a GPU of `gpu_memory` (`80GiB`); exactly one of them."""
    if (gpu is None) == (gpu_memory is None):
        raise InputError("give one of --gpu NAME (see `kvcalc gpus`) or --gpu-memory SIZE")
    if gpu is not None:
        return find_gpu(gpu)
    assert gpu_memory is not None
    return custom_gpu(parse_size(gpu_memory, what="--gpu-memory"), gpu_memory)


def parse_util(text: str | Fraction | None) -> Fraction | None:
    """A fraction in (0, 1] from `0.9`, `0.95` or `9/10`, exactly; None: the engine's."""
    if text is None or isinstance(text, Fraction):
        return text
    cleaned = text.strip()
    # A plain decimal or a ratio only: an exponent (1e-100000000) would make Fraction build
    # an enormous integer before any check could run.
    if len(cleaned) > 40 or not re.fullmatch(r"[0-9]*\.?[0-9]+(/[0-9]+)?|[0-9]+\.", cleaned):
        raise InputError(f"--util {text[:40]!r} is not a number; use e.g. 0.9 or 9/10")
    try:
        util = Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"--util {text!r} is not a number; use e.g. 0.9") from None
    if not 0 < util <= 1:
        raise InputError(f"--util must be more than 0 and at most 1, got {text!r}")
    if util.denominator > 10**12:
        raise InputError(f"--util {text!r} has too many digits; use e.g. 0.9")
    return util


def _optional_size(text: str | int | None, what: str) -> int | None:
    if text is None or isinstance(text, int):
        return text
    return parse_size(text, what=what)


@value
class EngineKnobs:
    """The engine options of `fit` (None: the engine's default)."""

    engine: str = "vllm"
    block_size: int | None = None
    gpu_arch: str | None = None
    prefix_caching: bool | None = None
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    kv_unified: bool | None = None
    mamba_strategy: str | None = None
    mamba_dtype: str | None = None
    mamba_ssm_dtype: str | None = None
    attention_windows: bool | None = None


def fit(
    model: str | os.PathLike[str] | LoadedModel,
    *,
    gpu: str | None = None,
    gpu_memory: str | None = None,
    gpus: int | None = None,
    tp: int | None = None,
    pp: int | None = None,
    seq: int | str = "max",
    batch: int | str = 1,
    dtype: str = "auto",
    weights_dtype: str = "auto",
    params: int | str | None = None,
    weights: int | str | None = None,
    util: str | Fraction | None = None,
    reserve: int | str | None = None,
    kv_cache_memory: int | str | None = None,
    knobs: EngineKnobs | None = None,
    enc_seq: int | str | None = None,
    hub: HubOptions | None = None,
    draft: str | os.PathLike[str] | LoadedModel | None = None,
    spec_tokens: int = 4,
) -> Fit:
    """Whether `batch` sequences of `seq` tokens of `model` fit on the GPUs; without `gpus`,
    `tp` and `pp`, the fewest GPUs on which they do (the solver)."""
    hub = hub or HubOptions()
    knobs = knobs or EngineKnobs()
    engine = knobs.engine.lower()
    rule(engine)
    device = choose_gpu(gpu, gpu_memory)
    fraction = parse_util(util)
    loaded = model if isinstance(model, LoadedModel) else load_model(model, hub)
    architecture = loaded.architecture
    kv_dtype, dtype_notes = resolve_dtype(dtype, architecture, kv_cache=True, engine=engine)
    seq_len, seq_notes = resolve_seq(seq, architecture)
    batch_size = positive_count(batch, "--batch") or 1
    encoder = positive_count(parse_tokens(enc_seq, what="--enc-seq") if isinstance(enc_seq, str)
                        else enc_seq, "--enc-seq")  # fmt: skip
    solve_it = gpus is None and tp is None and pp is None
    par = None if solve_it else plan_parallelism(gpus, tp, pp or 1)
    if par is not None:
        check_tensor_parallel(architecture, par.tp)  # before any hub request for the weights
    found = resolve_weights(loaded.source, architecture, dtype=weights_dtype, params=params,
                            weights=weights, hub=hub)  # fmt: skip
    deployment = Deployment(
        block_size=knobs.block_size, gpu_arch=knobs.gpu_arch or engine_arch(device),
        gpu_name=device.label, gpu_memory_bytes=device.memory_bytes,
        prefix_caching=knobs.prefix_caching, max_num_batched_tokens=knobs.max_num_batched_tokens,
        max_num_seqs=knobs.max_num_seqs, kv_unified=knobs.kv_unified,
        mamba_strategy=knobs.mamba_strategy, mamba_dtype=knobs.mamba_dtype,
        mamba_ssm_dtype=knobs.mamba_ssm_dtype, attention_windows=knobs.attention_windows,
    )  # fmt: skip
    plan_draft, draft_notes = _draft(draft, spec_tokens, dtype, weights_dtype, hub, engine)
    plan = Workplan(
        engine, architecture, kv_dtype, model_dtype_of(architecture, kv_dtype, engine), device,
        found.total_bytes, batch_size, seq_len, encoder, deployment, fraction,
        _optional_size(reserve, "--reserve"), _optional_size(kv_cache_memory, "--kv-cache-memory"),
        plan_draft,
    )  # fmt: skip
    if par is None:
        report, tried = solve(plan)
        how = "fits" if report.fits else "does not fit even"
        solver = (f"solver: {how} on {report.parallelism.gpus} x {device.name} (tp "
                  f"{report.parallelism.tp} x pp {report.parallelism.pp}), {tried} "
                  f"deployment(s) tried, fewest GPUs first")  # fmt: skip
    else:
        report, solver = evaluate(plan, par), ""
    notes = dict.fromkeys((
        *loaded.source.notes, *dtype_notes, *seq_notes, *found.notes, *draft_notes,
        *report.result.notes, *([solver] if solver else []),
    ))  # fmt: skip
    return Fit(loaded.source, architecture, device, kv_dtype, found, report, tuple(notes),
               par is None)  # fmt: skip


def _draft(
    draft: str | os.PathLike[str] | LoadedModel | None, spec_tokens: int, dtype: str,
    weights_dtype: str, hub: HubOptions, engine: str,
) -> tuple[Draft | None, tuple[str, ...]]:  # fmt: skip
    """The draft of speculative decoding: its architecture, cache dtype and weights."""
    if draft is None:
        return None, ()
    if isinstance(spec_tokens, bool) or spec_tokens <= 0:
        raise InputError(f"--spec-tokens must be a positive integer, got {spec_tokens!r}")
    loaded = draft if isinstance(draft, LoadedModel) else load_model(draft, hub)
    draft_dtype, notes = resolve_dtype(dtype, loaded.architecture, kv_cache=True, engine=engine)
    weights = resolve_weights(loaded.source, loaded.architecture, dtype=weights_dtype,
                              params=None, hub=hub)  # fmt: skip
    note = (f"draft {loaded.source.name}: served on the same GPUs with the same TP/PP split; "
            f"both caches hold seq + {spec_tokens} tokens")  # fmt: skip
    plan = Draft(loaded.architecture, draft_dtype, spec_tokens, weights.total_bytes)
    return plan, (*loaded.source.notes, *notes, *weights.notes, note)


def shortfall(result: Fit) -> str:
    """Why `result` does not fit, in one line."""
    report = result.report
    budget = report.budget
    reason = report.reason
    if reason == "weights":
        return (
            f"does not fit: the weights ({format_size(budget.weights_bytes)}) and the reserve "
            f"({format_size(budget.reserve.total_bytes)}) per GPU leave no KV budget in the "
            f"{format_size(budget.usable_bytes)} usable"
        )
    limit = report.max_position_embeddings
    if reason == "context" and limit is not None and report.seq_len > limit:
        return f"does not fit: --seq {report.seq_len:,} exceeds the model's {limit:,} positions"
    if reason == "context":
        return (
            f"does not fit: one request of {report.seq_len:,} tokens needs more KV cache than "
            f"the {format_size(budget.kv_budget_bytes)} budget per GPU"
        )
    most = report.max_batch
    limits = [f"at most {most:,} sequence{'' if most == 1 else 's'} of {report.seq_len:,} tokens"]
    if report.max_seq_len is not None:
        limits.append(f"{report.max_seq_len:,} tokens at batch {report.batch:,}")
    return (
        f"does not fit: batch {report.batch:,} x {report.seq_len:,} tokens needs "
        f"{format_size(report.kv_bytes)} of KV cache per GPU, "
        f"{format_size(-report.free_bytes)} more than the "
        f"{format_size(budget.kv_budget_bytes)} budget; {' or '.join(limits)} fit"
    )
