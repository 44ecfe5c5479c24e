"""`kvcalc fit --json` and `kvcalc gpus --json`: one JSON document on stdout."""

from __future__ import annotations

import json
import sys

from typing_extensions import TypedDict  # pydantic reads it for `kvcalc schema`

from kvcalc.planning.fit import BUDGET_RULE, Fit
from kvcalc.planning.gpus import CATALOGUE, Gpu

SCHEMA_VERSION = 1


class GpuRecord(TypedDict):
    name: str
    label: str
    aliases: list[str]
    memory_bytes: int
    memory_mib: int | None
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


class FitRecord(TypedDict):
    schema_version: int
    model: str
    source: SourceRecord
    gpu: GpuRecord
    gpus: int
    tp: int
    pp: int
    replicas: int
    util: float
    usable_bytes_per_gpu: int
    weights: WeightsRecord
    kv_dtype: str
    batch: int
    batch_per_replica: int
    seq_len: int
    kv_bytes_per_token_per_gpu: int
    kv_bytes_per_request_per_gpu: int
    kv_bytes_per_gpu: int
    budget_bytes_per_gpu: int
    free_bytes_per_gpu: int
    max_batch: int | None
    max_seq_len: int | None
    max_seq_len_by_memory: int | None
    max_position_embeddings: int | None
    fits: bool
    speculative_kv_bytes_per_request_per_gpu: int
    draft_weights_bytes_per_gpu: int
    budget_rule: str
    notes: list[str]


def gpu_record(gpu: Gpu) -> GpuRecord:
    return {
        "name": gpu.name,
        "label": gpu.label,
        "aliases": list(gpu.aliases),
        "memory_bytes": gpu.memory_bytes,
        "memory_mib": gpu.memory_mib,
        "confirmed": gpu.confirmed,
        "basis": gpu.basis,
    }


def fit_record(result: Fit) -> FitRecord:
    """Every figure as an exact integer of bytes (per GPU unless named otherwise)."""
    report, weights, par = result.report, result.weights, result.report.parallelism
    limit = result.architecture.max_position_embeddings
    by_memory = report.max_seq_len
    usable_seq = limit if by_memory is None else min(by_memory, limit or by_memory)
    return {
        "schema_version": SCHEMA_VERSION,
        "model": result.source.name,
        "source": {"kind": result.source.kind, "location": result.source.location},
        "gpu": gpu_record(result.gpu),
        "gpus": par.gpus,
        "tp": par.tp,
        "pp": par.pp,
        "replicas": par.replicas,
        "util": float(report.util),
        "usable_bytes_per_gpu": report.usable_bytes,
        "weights": {
            "source": weights.source,
            "location": weights.location,
            "params": weights.params,
            "basis": weights.basis,
            "dtype": weights.dtype,
            "bytes_by_dtype": dict(weights.bytes_by_dtype),
            "total_bytes": weights.total_bytes,
            "bytes_per_gpu": report.weights_bytes_per_gpu,
        },
        "kv_dtype": result.kv_dtype.name,
        "batch": report.batch,
        "batch_per_replica": report.batch_per_replica,
        "seq_len": report.seq_len,
        "kv_bytes_per_token_per_gpu": report.kv_bytes_per_token,
        "kv_bytes_per_request_per_gpu": report.kv_bytes_per_request,
        "kv_bytes_per_gpu": report.kv_bytes,
        "budget_bytes_per_gpu": report.budget_bytes,
        "free_bytes_per_gpu": report.free_bytes,
        "max_batch": report.max_batch,
        "max_seq_len": usable_seq,
        "max_seq_len_by_memory": by_memory,
        "max_position_embeddings": limit,
        "fits": report.fits,
        "speculative_kv_bytes_per_request_per_gpu": report.speculative_bytes_per_request,
        "draft_weights_bytes_per_gpu": report.draft_weights_bytes_per_gpu,
        "budget_rule": BUDGET_RULE,
        "notes": list(result.notes),
    }


def render_fit_json(result: Fit) -> None:
    print(json.dumps(fit_record(result), indent=2), file=sys.stdout)


def render_gpus_json() -> None:
    print(json.dumps([gpu_record(gpu) for gpu in CATALOGUE], indent=2), file=sys.stdout)
