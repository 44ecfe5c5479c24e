"""GGUF headers: the metadata and tensor infos, read within a byte budget, never tensor data.

The layout is GGUF v2/v3 as ggml/src/gguf.cpp (`gguf_init_from_reader`) reads it: the magic
`GGUF`, a uint32 version, uint64 tensor and metadata counts, the metadata key/value pairs, then
one info per tensor (name, dims, ggml type, offset). Only that prefix is read: a 100 GB model
costs a few MB at most, and a hostile header is refused once it passes `HEADER_MAX_BYTES`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kvcalc.errors import ConfigError, ModelNotFoundError
from kvcalc.model.dialects.gguf import GgufArray, GgufMetadata
from kvcalc.sources.weights import Weights
from kvcalc.values import value

if TYPE_CHECKING:
    from kvcalc.sources.resolve import HubOptions, ModelSource

MAGIC = b"GGUF"
# Real headers are a few MB (a 262k-token vocabulary is ~6 MB); 64 MiB leaves room, and bounds
# what a hostile file can make kvcalc read and hold.
HEADER_MAX_BYTES = 64 * 1024 * 1024
ARRAY_KEEP_MAX = 8192  # longer arrays (vocabularies, merges) are stepped over, not kept
ITEMS_MAX = 16_000_000  # strings and array values parsed one by one, over the whole header
CHUNK_BYTES = 1024 * 1024
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_DEPTH = 3  # arrays of arrays: gguf-py reads them; no model uses more than one level

# GGUF value types (gguf-py constants.py `GGUFValueType`) as struct formats; 8 STRING, 9 ARRAY.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
            12: "d"}  # fmt: skip
_STRING, _ARRAY = 8, 9

# ggml tensor types: id -> (name, values per block, bytes per block), from gguf-py 0.19
# constants.py `GGMLQuantizationType` and `GGML_QUANT_SIZES` (ggml.c `type_traits`). K-quants
# are super-blocks of 256 values (QK_K).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
}  # fmt: skip

# llama.cpp's split files (llama_split_path): PREFIX-00001-of-00003.gguf
_SPLIT_NAME = re.compile(r"(?P<prefix>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf")

Reader = Callable[[int], bytes]  # up to n bytes; b"" at the end


@value
class GgufHeader(GgufMetadata):
    """A GGUF header: its metadata, plus the stored tensors summed by ggml type."""

    version: int = 3
    tensor_count: int = 0
    tensor_elements: tuple[tuple[int, int], ...] = ()  # (ggml type id, elements)
    header_bytes: int = 0  # bytes the header spans
    bytes_read: int = 0  # bytes fetched from the source to read it


def is_gguf(file: Path) -> bool:
    """Named *.gguf, or (unless named *.json) starting with the GGUF magic."""
    name = file.name.lower()
    if name.endswith((".gguf", ".json")):
        return name.endswith(".gguf")
    try:
        with file.open("rb") as stream:
            return stream.read(4) == MAGIC
    except OSError:
        return False


def read_gguf_file(file: Path, max_bytes: int = HEADER_MAX_BYTES) -> GgufHeader:
    """The header of a local GGUF file; reads at most `max_bytes` of it, whatever its size."""
    try:
        with file.open("rb") as stream:
            return parse_header(stream.read, str(file), max_bytes)
    except OSError as error:
        raise ModelNotFoundError(f"cannot read {file}: {error.strerror}") from None


def parse_header(read: Reader, where: str, max_bytes: int = HEADER_MAX_BYTES) -> GgufHeader:
    """The header that `read` yields, refused past `max_bytes` or on the first malformed field."""
    cursor = _Cursor(read, where, max_bytes)
    if cursor.take(4, "the magic") != MAGIC:
        raise ConfigError(f"{where} is not a GGUF file (no GGUF magic)")
    version = struct.unpack("<I", cursor.take(4, "the version"))[0]
    if version & 0xFFFF == 0:  # gguf.cpp: a version read in the wrong byte order
        cursor.order = ">"
        version = struct.unpack(">I", struct.pack("<I", version))[0]
    if version not in (2, 3):
        raise ConfigError(f"{where}: GGUF version {version} is not supported (only 2 and 3)")
    tensor_count = cursor.scalar("Q", "the tensor count")
    kv_count = cursor.scalar("Q", "the metadata count")
    metadata: dict[str, object] = {}
    for _ in range(_bounded(cursor, kv_count, 12, "metadata entries")):
        key = cursor.string("a metadata key")
        kind = cursor.scalar("I", f"the type of {key!r}")
        if key in metadata:
            raise ConfigError(f"{where}: duplicate GGUF metadata key {key!r}")
        metadata[key] = cursor.value(kind, key, 0)
    elements: dict[int, int] = {}
    for _ in range(_bounded(cursor, tensor_count, 24, "tensor infos")):
        kind, count = _tensor_info(cursor)
        elements[kind] = elements.get(kind, 0) + count
    return GgufHeader(
        metadata, where, version, tensor_count, tuple(sorted(elements.items())),
        cursor.offset, cursor.bytes_read,
    )  # fmt: skip


def _bounded(cursor: _Cursor, count: int, min_bytes: int, what: str) -> int:
    """`count` entries of at least `min_bytes` each must fit in what is left of the budget."""
    if count * min_bytes > cursor.max_bytes - cursor.offset:
        raise ConfigError(
            f"{cursor.where}: the GGUF header claims {count:,} {what}, more than fit in "
            f"{cursor.max_bytes:,} bytes"
        )
    return count


def _tensor_info(cursor: _Cursor) -> tuple[int, int]:
    """(ggml type, elements) of one tensor info; its name and data offset are skipped."""
    name = cursor.string("a tensor name")
    dims = cursor.scalar("I", f"the dimensions of tensor {name!r}")
    if dims > _MAX_DIMS:
        raise ConfigError(f"{cursor.where}: tensor {name!r} has {dims} dimensions (at most 4)")
    shape = [cursor.scalar("Q", f"the shape of tensor {name!r}") for _ in range(dims)]
    kind = cursor.scalar("I", f"the type of tensor {name!r}")
    cursor.scalar("Q", f"the offset of tensor {name!r}")
    count = 1
    for size in shape:
        count *= size
    block = GGML_TYPES.get(kind, ("", 1, 0))[1]
    if shape and shape[0] % block:
        raise ConfigError(
            f"{cursor.where}: tensor {name!r} rows of {shape[0]} values are not whole "
            f"{GGML_TYPES[kind][0]} blocks of {block}"
        )
    return kind, count


class _Cursor:
    """Reads the header front to back from `read`, buffering at most what it parses."""

    def __init__(self, read: Reader, where: str, max_bytes: int) -> None:
        self.read, self.where, self.max_bytes = read, where, max_bytes
        self.order = "<"
        self.offset = 0  # position in the file of the next byte to parse
        self.bytes_read = 0
        self.items = 0
        self._buffer = b""
        self._start = 0  # position in the file of _buffer[0]

    def take(self, size: int, what: str) -> bytes:
        index = self._need(size, what)
        self.offset += size
        return self._buffer[index : index + size]

    def scalar(self, code: str, what: str) -> int:
        index = self._need(struct.calcsize(code), what)
        (value,) = struct.unpack_from(self.order + code, self._buffer, index)
        self.offset += struct.calcsize(code)
        return int(value)

    def string(self, what: str, keep: bool = True) -> str:
        size = self.scalar("Q", what)
        if not keep:
            self.skip(size, what)
            return ""
        return self.take(size, what).decode("utf-8", errors="replace")

    def skip(self, size: int, what: str) -> None:
        while size > 0:  # in chunks, so a long skip holds no more than a chunk
            step = min(size, CHUNK_BYTES)
            self._need(step, what)
            self.offset += step
            size -= step

    def value(self, kind: int, key: str, depth: int) -> object:
        if kind in _SCALARS:
            code = _SCALARS[kind]
            index = self._need(struct.calcsize(code), repr(key))
            (value,) = struct.unpack_from(self.order + code, self._buffer, index)
            self.offset += struct.calcsize(code)
            return value
        if kind == _STRING:
            return self.string(repr(key))
        if kind == _ARRAY and depth < _MAX_DEPTH:
            return self._array(key, depth)
        raise ConfigError(f"{self.where}: GGUF metadata {key!r} has unknown value type {kind}")

    def _array(self, key: str, depth: int) -> object:
        kind = self.scalar("I", f"the element type of {key!r}")
        count = self.scalar("Q", f"the length of {key!r}")
        code = _SCALARS.get(kind)
        width = struct.calcsize(code) if code else 8  # a string or array is at least 8 bytes
        _bounded(self, count, width, f"elements in {key!r}")
        keep = count <= ARRAY_KEEP_MAX
        if code is not None:
            if not keep:
                self.skip(count * width, repr(key))
                return GgufArray(kind, count)
            index = self._need(count * width, repr(key))
            values = struct.unpack_from(f"{self.order}{count}{code}", self._buffer, index)
            self.offset += count * width
            return values
        self.items += count
        if self.items > ITEMS_MAX:
            raise ConfigError(f"{self.where}: the GGUF header holds over {ITEMS_MAX:,} strings")
        if kind == _STRING:
            strings = self._strings(count, repr(key), keep)
            return tuple(strings) if keep else GgufArray(kind, count)
        items = [self.value(kind, key, depth + 1) for _ in range(count)]
        return tuple(items) if keep else GgufArray(kind, count)

    def _strings(self, count: int, what: str, keep: bool) -> list[str]:
        """`count` strings, kept or stepped over; a vocabulary of 262k tokens is one tight loop
        over the buffer, leaving it only to refill."""
        unpack = struct.Struct(self.order + "Q").unpack_from
        kept: list[str] = []
        for _ in range(count):
            index = self.offset - self._start
            if index + 8 > len(self._buffer):
                index = self._need(8, what)
            (size,) = unpack(self._buffer, index)
            end = index + 8 + size
            if end > len(self._buffer):  # past the buffer: the checked, refilling path
                text = self.string(what, keep)
            else:
                text = self._buffer[index + 8 : end].decode("utf-8", "replace") if keep else ""
                self.offset += 8 + size
            if keep:
                kept.append(text)
        return kept

    def _need(self, size: int, what: str) -> int:
        """Index in the buffer of the next `size` bytes, reading more from the source if needed."""
        end = self.offset + size
        if end > self.max_bytes:
            raise ConfigError(
                f"{self.where}: the GGUF header runs past {self.max_bytes:,} bytes ({what} at "
                f"byte {self.offset:,}); refusing to read further"
            )
        index = self.offset - self._start
        if index + size <= len(self._buffer):
            return index
        parts, have = [self._buffer[index:]], len(self._buffer) - index
        fetched_end = self._start + len(self._buffer)
        while have < size:
            chunk = self.read(min(max(CHUNK_BYTES, size - have), self.max_bytes - fetched_end))
            if not chunk:
                raise ConfigError(
                    f"{self.where}: the GGUF header is truncated: {what} at byte "
                    f"{self.offset:,} runs past the end of the file"
                )
            parts.append(chunk)
            have += len(chunk)
            fetched_end += len(chunk)
            self.bytes_read += len(chunk)
        self._buffer, self._start = b"".join(parts), self.offset
        return 0


def gguf_weights(header: GgufHeader, location: str, source: str = "gguf") -> Weights:
    """Stored bytes of every tensor the header lists: blocks x bytes per block of its type."""
    by_type: dict[str, int] = {}
    params = 0
    for kind, count in header.tensor_elements:
        if kind not in GGML_TYPES:
            raise ConfigError(f"{location}: ggml tensor type {kind} is not one kvcalc can size")
        name, block_values, block_bytes = GGML_TYPES[kind]
        by_type[name] = by_type.get(name, 0) + count // block_values * block_bytes
        params += count
    return Weights(
        total_bytes=sum(by_type.values()), params=params, source=source, location=location,
        bytes_by_dtype=tuple(sorted(by_type.items())), basis="GGUF tensor infos",
    )  # fmt: skip


def split_siblings(file: Path, header: GgufHeader) -> list[Path]:
    """Every file of a split GGUF (`split.count` > 1), as llama.cpp's gguf-split names them."""
    count = header.metadata.get("split.count")
    if not isinstance(count, int) or count <= 1:
        return [file]
    match = _SPLIT_NAME.fullmatch(file.name)
    if match is None:
        raise ConfigError(f"{file} is one of {count} split files but not named PREFIX-00001-of-N")
    return [file.with_name(f"{match['prefix']}-{i:05d}-of-{count:05d}.gguf")
            for i in range(1, count + 1)]  # fmt: skip


def local_gguf_weights(file: Path, header: GgufHeader) -> Weights:
    """The stored bytes of a local GGUF, every split file's tensors included."""
    totals: dict[int, int] = {}
    for part in split_siblings(file, header):
        part_header = header if part == file else read_gguf_file(part)
        for kind, count in part_header.tensor_elements:
            totals[kind] = totals.get(kind, 0) + count
    merged = GgufHeader(header.metadata, header.location, tensor_elements=tuple(totals.items()))
    return gguf_weights(merged, str(file))


def gguf_source_weights(source: ModelSource, header: GgufHeader, hub: HubOptions) -> Weights:
    """The stored weights of a GGUF model source, local (`path`) or on the hub (`org/name:file`)."""
    if source.kind == "hub":
        from kvcalc.sources.gguf_hub import hub_gguf_weights

        repo_id, _, filename = source.name.partition(":")
        return hub_gguf_weights(repo_id, filename, header, hub)
    return local_gguf_weights(Path(source.location), header)
