"""Weight bytes of a hub repo from its safetensors headers, read with the real client.

Only each file's header is read (its first bytes, even from a server that ignores Range), the
index under a byte budget, the shards named by the index checked as plain file names, all
within one deadline.
"""

from __future__ import annotations

import json

from kvcalc.errors import KvcalcError, SourceUnavailableError
from kvcalc.sources import hub_cache, hub_http
from kvcalc.sources.hub import HubNotFoundError, HubUnavailableError, prepare
from kvcalc.sources.resolve import HubOptions
from kvcalc.sources.weights import (
    HEADER_MAX_BYTES,
    INDEX_MAX_BYTES,
    SAFETENSORS_INDEX,
    NoWeightsError,
    Weights,
    stored_weights,
    tally,
)

SINGLE_FILE = "model.safetensors"
FIRST_READ_BYTES = 100_000  # most headers fit: one request per file
MAX_SHARDS = 10_000


def hub_weights(repo_id: str, hub: HubOptions) -> Weights:
    """Sum of every tensor's stored bytes, from the headers only; no weights are downloaded."""
    from huggingface_hub import constants

    where = f"{repo_id}@{hub.revision}" if hub.revision else repo_id
    token = prepare(repo_id, hub.revision, hub.token)
    if constants.HF_HUB_OFFLINE:
        raise HubUnavailableError(f"{where}: offline, so its safetensors headers cannot be read")

    def work(deadline: hub_http.Deadline) -> dict[str, dict[str, object]]:
        try:
            return _headers(repo_id, hub.revision, token, deadline)
        except Exception as error:
            if hub_http.passes_through(error):
                raise
            raise weights_error(error, where, deadline) from error

    counts: dict[str, list[int]] = {}
    for filename, header in sorted(hub_http.run_bounded(work, hub.timeout, where).items()):
        tally(f"{where}/{filename}", header, counts)
    return stored_weights("hub", where, counts)


def _headers(
    repo_id: str, revision: str | None, token: str | None, deadline: hub_http.Deadline
) -> dict[str, dict[str, object]]:
    from huggingface_hub import hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError

    def url(filename: str) -> str:
        return hf_hub_url(repo_id, filename, revision=revision)

    try:
        hub_http.head(url(SINGLE_FILE), token, deadline, SINGLE_FILE)
        return {SINGLE_FILE: _header(url(SINGLE_FILE), SINGLE_FILE, token, deadline)}
    except EntryNotFoundError:
        pass
    try:
        index = hub_http.head(url(SAFETENSORS_INDEX), token, deadline, SAFETENSORS_INDEX)
    except EntryNotFoundError:
        raise NoWeightsError(f"{deadline.where}: no {SINGLE_FILE} or {SAFETENSORS_INDEX}") from None
    size = getattr(index, "size", None)
    if isinstance(size, int) and size > INDEX_MAX_BYTES:
        raise HubNotFoundError(
            f"{deadline.where}: {SAFETENSORS_INDEX} is {size:,} bytes, over the "
            f"{INDEX_MAX_BYTES:,}-byte limit; not downloaded"
        )
    body = hub_http.fetch(url(SAFETENSORS_INDEX), token, deadline, SAFETENSORS_INDEX,
                          budget=INDEX_MAX_BYTES)  # fmt: skip
    shards = _shards(body, deadline.where)
    return hub_http.run_all(
        lambda shard: _header(url(shard), shard, token, deadline), shards, deadline
    )


def _shards(index: bytes, where: str) -> list[str]:
    """The distinct shard names of an index, each checked to be a plain file name."""
    try:
        weight_map = json.loads(index).get("weight_map")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        weight_map = None
    if not isinstance(weight_map, dict) or not weight_map:
        raise HubNotFoundError(f"{where}: {SAFETENSORS_INDEX} has no weight_map")
    shards = sorted({str(name) for name in weight_map.values()})
    if len(shards) > MAX_SHARDS:
        raise HubNotFoundError(f"{where}: {SAFETENSORS_INDEX} names over {MAX_SHARDS:,} shards")
    for name in shards:
        try:
            hub_cache.check_file_name(name)
        except KvcalcError:
            raise HubNotFoundError(
                f"{where}: {SAFETENSORS_INDEX} names a shard {name!r} that is not a plain file name"
            ) from None
    return shards


def _header(
    url: str, filename: str, token: str | None, deadline: hub_http.Deadline
) -> dict[str, object]:
    """The JSON header of one safetensors file: an 8-byte little-endian length, then JSON."""
    what = f"the header of {filename}"

    def read(count: int) -> bytes:
        return hub_http.with_retries(
            lambda: hub_http.fetch(url, token, deadline, what, budget=count, first_bytes=count),
            deadline,
        )

    start = read(FIRST_READ_BYTES)
    length = int.from_bytes(start[:8], "little") if len(start) >= 8 else -1
    if not 0 < length <= HEADER_MAX_BYTES:
        raise HubNotFoundError(
            f"{deadline.where}: {filename} is not a safetensors file (header length {length})"
        )
    raw = start[8 : 8 + length] if 8 + length <= len(start) else read(8 + length)[8:]
    try:
        header = json.loads(raw) if len(raw) == length else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict):
        raise HubNotFoundError(
            f"{deadline.where}/{filename}: the safetensors header is truncated or not a JSON object"
        )
    return header


def weights_error(
    error: Exception, where: str, deadline: hub_http.Deadline
) -> SourceUnavailableError | NoWeightsError:
    """One line for a failure to read the headers."""
    from huggingface_hub import errors

    endpoint = hub_http.endpoint()
    # Most specific first: GatedRepoError is a RepositoryNotFoundError.
    table: list[tuple[type[Exception], type[SourceUnavailableError], str]] = [
        (errors.GatedRepoError, HubUnavailableError,
         "gated: accept its terms on the hub, then authenticate with HF_TOKEN, --token "
         "or `hf auth login`"),
        (errors.RevisionNotFoundError, HubNotFoundError, f"revision not found on {endpoint}"),
        (errors.RepositoryNotFoundError, HubNotFoundError, f"repository not found on {endpoint}"),
        (errors.OfflineModeIsEnabled, HubUnavailableError,
         "offline, so its safetensors headers cannot be read"),
    ]  # fmt: skip
    for kind, ours, message in table:
        if isinstance(error, kind):
            return ours(f"{where}: {message}")
    cause = hub_http.network_failure(error, deadline)
    return HubUnavailableError(f"{where}: cannot read the safetensors headers: {cause}")
