"""`kvcalc fit --json` and `kvcalc gpus --json`: one JSON document on stdout."""

from __future__ import annotations

import json
import sys
from typing import Literal

from typing_extensions import TypedDict  # pydantic reads it for `kvcalc schema`

from kvcalc.planning.choices import Option
from kvcalc.planning.fit import Fit
from kvcalc.planning.gpus import CATALOGUE, Gpu
from kvcalc.render.record_types import LayerGroupRecord
from kvcalc.render.records import layer_record

SCHEMA_VERSION = 2  # 2: one sizing path per engine; budget_bytes_per_gpu became kv_budget_…


class GpuRecord(TypedDict):
    name: str
    label: str
    aliases: list[str]
    arch: str
    memory_bytes: int
    memory_mib: int | None
    budget_bytes: int
    confirmed: bool
    basis: str


class SourceRecord(TypedDict):
    kind: str
    location: str


class WeightsRecord(TypedDict):
    source: str
    location: str
    params: int | None
    basis: str
    dtype: str | None
    bytes_by_dtype: dict[str, int]
    total_bytes: int
    bytes_per_gpu: int


class ReservePart(TypedDict):
    name: str
    bytes: int


class ReserveRecord(TypedDict):
    estimate: bool
    basis: str
    parts: list[ReservePart]


class PoolRecord(TypedDict):
    unit: str
    unit_bytes: int
    units: int
    reserved_units: int
    worst_case_units_per_request: int | None


class FitRecord(TypedDict):
    schema_version: int
    model: str
    source: SourceRecord
    engine: str
    engine_semantics: str
    engine_assumptions: list[str]
    engine_log: list[str]
    gpu: GpuRecord
    gpus: int
    tp: int
    pp: int
    replicas: int
    solved: bool
    util: float | None
    usable_bytes_per_gpu: int
    weights: WeightsRecord
    reserve_bytes_per_gpu: int
    reserve: ReserveRecord
    kv_budget_bytes_per_gpu: int
    kv_dtype: str
    batch: int
    batch_per_replica: int
    seq_len: int
    kv_bytes_per_token_per_gpu: int
    kv_bytes_per_request_per_gpu: int
    kv_bytes_per_gpu: int
    free_bytes_per_gpu: int
    kv_tokens_per_gpu: int
    max_concurrency: float
    pool: PoolRecord
    max_batch: int
    max_seq_len: int | None
    max_seq_len_by_memory: int | None
    max_position_embeddings: int | None
    fits: bool
    reason: Literal["weights", "kv", "context"] | None
    layers: list[LayerGroupRecord]
    speculative_kv_bytes_per_request_per_gpu: int
    draft_weights_bytes_per_gpu: int
    budget_rule: str
    notes: list[str]


def gpu_record(gpu: Gpu) -> GpuRecord:
    return {
        "name": gpu.name,
        "label": gpu.label,
        "aliases": list(gpu.aliases),
        "arch": gpu.arch,
        "memory_bytes": gpu.memory_bytes,
        "memory_mib": gpu.memory_mib,
        "budget_bytes": gpu.budget_bytes,
        "confirmed": gpu.confirmed,
        "basis": gpu.basis,
    }


def fit_record(result: Fit) -> FitRecord:
    """Every figure as an exact integer of bytes (per GPU unless named otherwise)."""
    from kvcalc.engines import SEMANTICS

    report, weights, par = result.report, result.weights, result.report.parallelism
    budget, pool = report.budget, report.capacity.pool
    limit = report.max_position_embeddings
    by_memory = report.max_seq_len
    usable_seq = limit if by_memory is None else min(by_memory, limit or by_memory)
    reason = report.reason
    return {
        "schema_version": SCHEMA_VERSION,
        "model": result.source.name,
        "source": {"kind": result.source.kind, "location": result.source.location},
        "engine": report.engine,
        "engine_semantics": SEMANTICS[report.engine],
        "engine_assumptions": list(report.result.assumptions),
        "engine_log": list(pool.lines),
        "gpu": gpu_record(result.gpu),
        "gpus": par.gpus,
        "tp": par.tp,
        "pp": par.pp,
        "replicas": par.replicas,
        "solved": result.solved,
        "util": None if budget.util is None else float(budget.util),
        "usable_bytes_per_gpu": budget.usable_bytes,
        "weights": {
            "source": weights.source,
            "location": weights.location,
            "params": weights.params,
            "basis": weights.basis,
            "dtype": weights.dtype,
            "bytes_by_dtype": dict(weights.bytes_by_dtype),
            "total_bytes": weights.total_bytes,
            "bytes_per_gpu": budget.weights_bytes,
        },
        "reserve_bytes_per_gpu": budget.reserve.total_bytes,
        "reserve": {
            "estimate": not budget.reserve.basis.startswith(("given", "not applied")),
            "basis": budget.reserve.basis,
            "parts": [{"name": name, "bytes": size} for name, size in budget.reserve.parts],
        },
        "kv_budget_bytes_per_gpu": budget.kv_budget_bytes,
        "kv_dtype": result.kv_dtype.name,
        "batch": report.batch,
        "batch_per_replica": report.batch_per_replica,
        "seq_len": report.seq_len,
        "kv_bytes_per_token_per_gpu": report.kv_bytes_per_token,
        "kv_bytes_per_request_per_gpu": report.kv_bytes_per_request,
        "kv_bytes_per_gpu": report.kv_bytes,
        "free_bytes_per_gpu": report.free_bytes,
        "kv_tokens_per_gpu": pool.kv_tokens,
        "max_concurrency": pool.max_concurrency,
        "pool": {
            "unit": pool.unit,
            "unit_bytes": pool.unit_bytes,
            "units": pool.units,
            "reserved_units": pool.reserved_units,
            "worst_case_units_per_request": pool.worst_case_units,
        },
        "max_batch": report.max_batch,
        "max_seq_len": usable_seq,
        "max_seq_len_by_memory": by_memory,
        "max_position_embeddings": limit,
        "fits": reason is None,
        "reason": reason,  # type: ignore[typeddict-item]
        "layers": [layer_record(group) for group in report.result.groups],
        "speculative_kv_bytes_per_request_per_gpu": report.speculative_bytes_per_request,
        "draft_weights_bytes_per_gpu": report.draft_weights_bytes_per_gpu,
        "budget_rule": budget.rule,
        "notes": list(result.notes),
    }


def render_fit_json(result: Fit) -> None:
    print(json.dumps(fit_record(result), indent=2), file=sys.stdout)


def render_gpus_json() -> None:
    print(json.dumps([gpu_record(gpu) for gpu in CATALOGUE], indent=2), file=sys.stdout)


class OptionRecord(TypedDict):
    gpu: GpuRecord
    gpus: int
    tp: int
    pp: int
    total_memory_bytes: int
    kv_budget_bytes_per_gpu: int
    max_batch: int
    kv_tokens_per_gpu: int


def render_options_json(options: list[Option]) -> None:
    records: list[OptionRecord] = [
        {
            "gpu": gpu_record(option.gpu),
            "gpus": option.result.report.parallelism.gpus,
            "tp": option.result.report.parallelism.tp,
            "pp": option.result.report.parallelism.pp,
            "total_memory_bytes": option.total_memory_bytes,
            "kv_budget_bytes_per_gpu": option.result.report.budget.kv_budget_bytes,
            "max_batch": option.result.report.max_batch,
            "kv_tokens_per_gpu": option.result.report.capacity.pool.kv_tokens,
        }
        for option in options
    ]
    print(json.dumps(records, indent=2), file=sys.stdout)
