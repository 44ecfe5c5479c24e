"""The header of a GGUF file on the hub (`org/name:file.gguf`), read with ranged requests."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from kvcalc.errors import KvcalcError, ModelNotFoundError, SourceUnavailableError
from kvcalc.sources.gguf import HEADER_MAX_BYTES, GgufHeader, gguf_weights, parse_header
from kvcalc.sources.hub import HubNotFoundError, HubUnavailableError, hub_error
from kvcalc.sources.resolve import HubOptions
from kvcalc.sources.weights import Weights

if TYPE_CHECKING:
    import httpx2

_SPLIT_NAME = re.compile(r"(?P<prefix>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf")


class _StreamReader:
    """`read(n)` over a streamed response body: at most `limit` bytes are ever taken from it,
    so a server that ignores the Range header cannot make kvcalc read the whole file."""

    def __init__(self, chunks: Iterator[bytes], limit: int) -> None:
        self._chunks, self._limit = chunks, limit
        self._pending = b""
        self.taken = 0

    def __call__(self, size: int) -> bytes:
        size = min(size, self._limit - self.taken)
        if size <= 0:
            return b""
        if not self._pending:
            self._pending = next(self._chunks, b"")
        piece, self._pending = self._pending[:size], self._pending[size:]
        self.taken += len(piece)
        return piece


def read_hub_header(
    repo_id: str, filename: str, hub: HubOptions, max_bytes: int = HEADER_MAX_BYTES
) -> GgufHeader:
    """The GGUF header of `filename` in `repo_id`: one GET with `Range: bytes=0-(max_bytes - 1)`
    through huggingface_hub's session (its token, endpoint and offline mode), read only as far
    as the header goes and then closed (as `file_download.http_get` streams a download)."""
    if filename.startswith("/") or ".." in filename.split("/"):
        raise ModelNotFoundError(f"{repo_id}:{filename}: not a file path inside the repo")
    where = f"{repo_id}@{hub.revision}:{filename}" if hub.revision else f"{repo_id}:{filename}"
    # The client reads its download timeout once, at import.
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(max(1, round(hub.timeout))))
    try:
        with _open(repo_id, filename, hub, max_bytes) as response:
            chunks = response.iter_bytes(chunk_size=256 * 1024)
            return parse_header(_StreamReader(chunks, max_bytes), where, max_bytes)
    except KvcalcError:
        raise
    except Exception as error:
        found = _gguf_hub_error(error, where)
        if found is None:
            raise
        raise found from None


def _open(
    repo_id: str, filename: str, hub: HubOptions, max_bytes: int
) -> AbstractContextManager[httpx2.Response]:
    from contextlib import contextmanager

    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils._headers import build_hf_headers
    from huggingface_hub.utils._http import hf_raise_for_status, http_stream_backoff

    url = hf_hub_url(repo_id, filename, revision=hub.revision)
    headers = {**build_hf_headers(token=hub.token), "Range": f"bytes=0-{max_bytes - 1}"}

    @contextmanager
    def opened() -> Iterator[httpx2.Response]:
        with http_stream_backoff(
            "GET", url, headers=headers, timeout=hub.timeout, max_retries=2,
            retry_on_exceptions=(), retry_on_status_codes=(408, 429),
        ) as response:  # fmt: skip
            hf_raise_for_status(response)
            yield response

    return opened()


def _gguf_hub_error(error: Exception, where: str) -> SourceUnavailableError | None:
    """One line for a failure to fetch the header; None for what is not a hub failure."""
    from huggingface_hub import errors

    if isinstance(error, errors.OfflineModeIsEnabled):
        return HubUnavailableError(f"{where}: offline (HF_HUB_OFFLINE is set), so the GGUF "
                                   "header cannot be read")  # fmt: skip
    if isinstance(error, errors.EntryNotFoundError):
        return HubNotFoundError(f"{where}: no such file in the repo")
    if isinstance(error, (errors.HfHubHTTPError, OSError)) or type(error).__module__ == "httpx2":
        return hub_error(error, where)
    return None


def hub_gguf_weights(repo_id: str, filename: str, header: GgufHeader, hub: HubOptions) -> Weights:
    """The stored bytes of a hub GGUF, the header of every split file read the same way."""
    where = f"{repo_id}@{hub.revision}:{filename}" if hub.revision else f"{repo_id}:{filename}"
    count = header.metadata.get("split.count")
    if not isinstance(count, int) or count <= 1:
        return gguf_weights(header, where, "hub")
    folder, _, name = filename.rpartition("/")
    match = _SPLIT_NAME.fullmatch(name)
    if match is None:
        raise HubNotFoundError(f"{where} is one of {count} split files but not named "
                               "PREFIX-00001-of-N.gguf")  # fmt: skip
    totals: dict[int, int] = dict(header.tensor_elements)
    for index in range(2, count + 1):
        part = f"{match['prefix']}-{index:05d}-of-{count:05d}.gguf"
        part_header = read_hub_header(repo_id, f"{folder}/{part}" if folder else part, hub)
        for kind, elements in part_header.tensor_elements:
            totals[kind] = totals.get(kind, 0) + elements
    merged = GgufHeader(header.metadata, where, tensor_elements=tuple(totals.items()))
    return gguf_weights(merged, where, "hub")
