"""The header of a GGUF file on the hub (`org/name:file.gguf`), read with ranged requests.

Each hub operation (one file's header, or the headers of a split model's other files) runs
under `hub_http`'s one deadline from its first request, as reading a config does: a HEAD for the
hub's own answer (gated, no such file) and the commit, then one GET of the commit's file with
`Range: bytes=0-(max_bytes - 1)`, read only as far as the header goes and then closed, even
from a server that ignores the Range header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kvcalc.errors import ModelNotFoundError, SourceUnavailableError
from kvcalc.sources import hub_cache, hub_http
from kvcalc.sources.gguf import HEADER_MAX_BYTES, GgufHeader, gguf_weights, parse_header
from kvcalc.sources.hub import HubNotFoundError, HubUnavailableError, hub_error, prepare
from kvcalc.sources.resolve import HubOptions
from kvcalc.sources.weights import Weights

_SPLIT_NAME = re.compile(r"(?P<prefix>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf")


class _StreamReader:
    """`read(n)` over a streamed response body: up to `n` bytes, b"" at its end."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def __call__(self, size: int) -> bytes:
        if size <= 0:
            return b""
        if not self._pending:
            self._pending = next(self._chunks, b"")
        piece, self._pending = self._pending[:size], self._pending[size:]
        return piece


def read_hub_header(
    repo_id: str, filename: str, hub: HubOptions, max_bytes: int = HEADER_MAX_BYTES
) -> GgufHeader:
    """The GGUF header of `filename` in `repo_id`, read within `hub.timeout` seconds of the
    first request and at most `max_bytes` into the file."""
    where = _where(repo_id, filename, hub.revision)
    token = _prepare(repo_id, filename, hub, where)

    def work(deadline: hub_http.Deadline) -> GgufHeader:
        return _header(repo_id, filename, hub.revision, token, deadline, max_bytes)

    return hub_http.run_bounded(work, hub.timeout, where)


def hub_gguf_weights(repo_id: str, filename: str, header: GgufHeader, hub: HubOptions) -> Weights:
    """The stored bytes of a hub GGUF; the other split files' headers are one more operation."""
    where = _where(repo_id, filename, hub.revision)
    count = header.metadata.get("split.count")
    if not isinstance(count, int) or count <= 1:
        return gguf_weights(header, where, "hub")
    folder, _, name = filename.rpartition("/")
    match = _SPLIT_NAME.fullmatch(name)
    if match is None:
        raise HubNotFoundError(f"{where} is one of {count} split files but not named "
                               "PREFIX-00001-of-N.gguf")  # fmt: skip
    parts = [f"{match['prefix']}-{index:05d}-of-{count:05d}.gguf" for index in range(2, count + 1)]
    token = _prepare(repo_id, filename, hub, where)

    def work(deadline: hub_http.Deadline) -> list[GgufHeader]:
        return [
            _header(repo_id, f"{folder}/{part}" if folder else part, hub.revision, token,
                    deadline, HEADER_MAX_BYTES)
            for part in parts
        ]  # fmt: skip

    totals: dict[int, int] = dict(header.tensor_elements)
    for part_header in hub_http.run_bounded(work, hub.timeout, where):
        for kind, elements in part_header.tensor_elements:
            totals[kind] = totals.get(kind, 0) + elements
    merged = GgufHeader(header.metadata, where, tensor_elements=tuple(totals.items()))
    return gguf_weights(merged, where, "hub")


def _where(repo_id: str, filename: str, revision: str | None) -> str:
    return f"{repo_id}@{revision}:{filename}" if revision else f"{repo_id}:{filename}"


def _prepare(repo_id: str, filename: str, hub: HubOptions, where: str) -> str | None:
    """Checks before the deadline starts, as for a config; returns the token to send."""
    if filename.startswith("/") or ".." in filename.split("/"):
        raise ModelNotFoundError(f"{repo_id}:{filename}: not a file path inside the repo")
    token = prepare(repo_id, hub.revision, hub.token)
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise HubUnavailableError(f"{where}: offline (HF_HUB_OFFLINE is set), so the GGUF "
                                  "header cannot be read")  # fmt: skip
    return token


def _header(
    repo_id: str, filename: str, revision: str | None, token: str | None,
    deadline: hub_http.Deadline, max_bytes: int,
) -> GgufHeader:  # fmt: skip
    """One file's header: HEAD, then a GET pinned to the commit the HEAD named, if it named one."""
    from huggingface_hub import hf_hub_url

    where = _where(repo_id, filename, revision)
    what = f"the header of {filename}"
    try:
        metadata = hub_http.head(hf_hub_url(repo_id, filename, revision=revision), token,
                                 deadline, filename)  # fmt: skip
        commit = getattr(metadata, "commit_hash", None)
        pinned = commit if isinstance(commit, str) and hub_cache.COMMIT.fullmatch(commit) else None
        url = hf_hub_url(repo_id, filename, revision=pinned or revision)

        def read() -> GgufHeader:
            with hub_http.stream(url, token, deadline, what, budget=max_bytes,
                                 first_bytes=max_bytes) as chunks:  # fmt: skip
                return parse_header(_StreamReader(chunks), where, max_bytes)

        return hub_http.with_retries(read, deadline)
    except Exception as error:
        if hub_http.passes_through(error):
            raise
        raise _gguf_hub_error(error, where, deadline) from error


def _gguf_hub_error(
    error: Exception, where: str, deadline: hub_http.Deadline
) -> SourceUnavailableError:
    """One line for a failure to fetch the header, with its true cause."""
    from huggingface_hub import errors

    if isinstance(error, errors.EntryNotFoundError):
        return HubNotFoundError(f"{where}: no such file in the repo")
    return hub_error(error, where, deadline)
