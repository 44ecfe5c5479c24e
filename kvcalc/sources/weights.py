"""Weight bytes without the weights: safetensors headers, or a parameter count x a dtype."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

from kvcalc.errors import ConfigError, InputError
from kvcalc.model.dtypes import CacheDtype, parse_dtype
from kvcalc.values import value

SAFETENSORS_INDEX = "model.safetensors.index.json"
HEADER_MAX_BYTES = 100_000_000  # the safetensors format refuses larger headers
INDEX_MAX_BYTES = 64 * 1024 * 1024

# Bits per element of each safetensors dtype (safetensors 0.8 `Dtype`); F4/F6 pack below a byte.
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8,
    "U16": 16, "I16": 16, "F16": 16, "BF16": 16,
    "U32": 32, "I32": 32, "F32": 32, "U64": 64, "I64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip


@value
class Weights:
    """The bytes of a model's weights and how they were found.

    `dtype` is None when the bytes are those of the stored tensors (every tensor's elements x
    its dtype's size: fp8, packed int4 and quantisation scales count as stored); otherwise the
    bytes are `params` x `dtype`.
    """

    total_bytes: int
    params: int  # elements stored (safetensors), or the parameter count
    source: str  # "safetensors" (local files), "hub", "preset" or "params" (--params)
    location: str
    dtype: str | None = None
    bytes_by_dtype: tuple[tuple[str, int], ...] = ()  # stored tensors only
    notes: tuple[str, ...] = ()
    basis: str = "safetensors headers"  # where the bytes or the parameter count come from


class NoWeightsError(InputError):
    """No weights to read: no safetensors files, and no parameter count to fall back on."""


def tensor_size(where: str, name: str, entry: object) -> tuple[str, int, int]:
    """(dtype, elements, bytes) of one header entry; bytes from its data offsets, checked."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: tensor {name!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or not _int_list(shape) or not _int_list(offsets, 2):
        raise ConfigError(f"{where}: tensor {name!r} lacks a dtype, shape or data_offsets")
    assert isinstance(shape, list) and isinstance(offsets, list)
    elements = 1
    for dim in shape:
        elements *= dim
    stored = offsets[1] - offsets[0]
    bits = DTYPE_BITS.get(dtype)
    if stored < 0 or (bits is not None and stored != -(-elements * bits // 8)):
        raise ConfigError(
            f"{where}: tensor {name!r} ({dtype} {shape}) spans {stored} bytes, which its "
            "dtype and shape contradict"
        )
    return dtype, elements, stored


def _int_list(value: object, length: int | None = None) -> bool:
    return (
        isinstance(value, list)
        and (length is None or len(value) == length)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    )


def tally(where: str, tensors: Mapping[str, object], into: dict[str, list[int]]) -> None:
    """Adds each tensor's elements and bytes to `into[dtype]`; `__metadata__` is skipped."""
    for name, entry in tensors.items():
        if name == "__metadata__":
            continue
        dtype, elements, stored = tensor_size(where, name, entry)
        counts = into.setdefault(dtype, [0, 0])
        counts[0] += elements
        counts[1] += stored


def stored_weights(source: str, location: str, counts: dict[str, list[int]]) -> Weights:
    """Weights from tallied tensors: real bytes, elements as params."""
    return Weights(
        total_bytes=sum(size for _, size in counts.values()),
        params=sum(elements for elements, _ in counts.values()),
        source=source,
        location=location,
        bytes_by_dtype=tuple(sorted((dtype, size) for dtype, (_, size) in counts.items())),
    )


def read_header(file: Path) -> dict[str, object]:
    """The JSON header of a safetensors file: an 8-byte little-endian length, then the JSON."""
    try:
        if not file.is_file():  # a FIFO or a device would block or never end
            raise ConfigError(f"{file} is not a regular file")
        with file.open("rb") as stream:
            prefix = stream.read(8)
            length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
            if not 0 < length <= HEADER_MAX_BYTES:
                raise ConfigError(f"{file} is not a safetensors file (header length {length})")
            raw = stream.read(length)
    except OSError as error:
        raise ConfigError(f"cannot read {file}: {error.strerror}") from None
    try:
        header = json.loads(raw) if len(raw) == length else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict):
        raise ConfigError(f"{file}: the safetensors header is truncated or not a JSON object")
    return header


def weight_files(folder: Path) -> list[Path]:
    """The shards named by model.safetensors.index.json, else every *.safetensors file."""
    index = folder / SAFETENSORS_INDEX
    if not index.is_file():
        return sorted(folder.glob("*.safetensors"))
    try:
        if index.stat().st_size > INDEX_MAX_BYTES:
            raise ConfigError(f"{index} is over {INDEX_MAX_BYTES:,} bytes")
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise ConfigError(f"{index} is not a readable safetensors index") from None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ConfigError(f"{index} has no weight_map")
    shards = sorted({str(name) for name in weight_map.values()})
    if any(Path(name).name != name for name in shards):
        raise ConfigError(f"{index} names a shard outside its folder")
    missing = [name for name in shards if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"{index} names {missing[0]}, which is not in {folder}")
    return [folder / name for name in shards]


def local_weights(folder: Path) -> Weights | None:
    """The stored bytes of the safetensors weights in `folder`; None if it has none."""
    files = weight_files(folder)
    if not files:
        return None
    counts: dict[str, list[int]] = {}
    for file in files:
        tally(str(file), read_header(file), counts)
    return stored_weights("safetensors", str(folder), counts)


def counted_weights(
    params: int,
    dtype: CacheDtype,
    source: str,
    location: str,
    notes: Iterable[str] = (),
    basis: str = "safetensors headers",
) -> Weights:
    """params x dtype, rounded up to whole blocks of the dtype."""
    return Weights(
        dtype.bytes_for(params), params, source, location, dtype.name, (), tuple(notes), basis
    )


def weights_dtype(name: str) -> CacheDtype:
    """A dtype for weights: any element format kvcalc knows except engine-specific cache rows."""
    dtype = parse_dtype(name)
    if dtype.name == "fp8_ds_mla":
        raise InputError("--weights-dtype fp8_ds_mla is a cache layout, not a weight format")
    return dtype


_COUNT = re.compile(r"(?P<number>\d+(?:\.\d+)?)(?P<suffix>[kmbt]?)", re.IGNORECASE)
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}


def parse_params(text: str) -> int:
    """A parameter count: `8030261248`, `8_030_261_248`, `70B`, `8.03B` (decimal suffixes)."""
    match = _COUNT.fullmatch(text.strip().replace("_", "").replace(",", ""))
    if match is None:
        raise InputError(f"--params {text!r} is not a parameter count; use e.g. 8030261248 or 70B")
    try:
        value = Decimal(match["number"]) * _SCALE[match["suffix"].lower()]
    except InvalidOperation:
        raise InputError(f"--params {text!r} is not a parameter count") from None
    if value != value.to_integral_value() or value <= 0:
        raise InputError(f"--params {text!r} is not a positive whole number of parameters")
    return int(value)
