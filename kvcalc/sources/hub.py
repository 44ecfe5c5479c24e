"""Fetching config.json from the Hugging Face hub with the real client, errors made one line.

The client's HEAD request gives the file's commit and size (and the hub's own errors: gated,
not found, no such revision); kvcalc then reads the body itself under a byte budget and one
deadline (`hub_http`) and stores it in the HF cache only once complete and checked
(`hub_cache`), so no name the server sends becomes a path unchecked.
"""

from __future__ import annotations

import contextlib
import logging

from kvcalc.errors import InputError, SourceUnavailableError
from kvcalc.render.safe_text import add_secret
from kvcalc.sources import hub_cache, hub_http
from kvcalc.sources.hub_http import HubNotFoundError, HubUnavailableError

__all__ = ["HubNotFoundError", "HubUnavailableError", "download_config", "prepare"]

_CONFIG = "config.json"


def prepare(repo_id: str, revision: str | None, token: str | None) -> str | None:
    """Checks the repo id and revision, imports the client; returns the token to send.

    Done before the deadline starts: importing and setting up the client is not the hub's time.
    Surrounding whitespace of a token (a token file saved with CRLF) is dropped, and the
    token is never shown in any message.
    """
    add_secret(token)
    hub_cache.check_revision(revision)
    from huggingface_hub import get_session, get_token
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id  # type: ignore[attr-defined]

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise InputError(f"{repo_id!r} is not a valid hub repo id") from None
    # The client's own warnings would reach stderr unredacted; its errors reach us.
    client_log = logging.getLogger("huggingface_hub")
    client_log.handlers = [logging.NullHandler()]
    client_log.propagate = False
    get_session()  # the client's HTTP session (TLS certificates loaded): set-up, not the hub's time
    if token is None:
        add_secret(get_token())
        return None
    cleaned = token.strip()
    if not cleaned or not all(0x21 <= ord(char) <= 0x7E for char in cleaned):
        raise InputError("--token holds spaces or control characters: not a hub token")
    return cleaned


def download_config(
    repo_id: str, revision: str | None, token: str | None, timeout: float, max_bytes: int
) -> str:
    """The local path of `repo_id`'s config.json, from the HF cache or downloaded into it.

    The whole operation ends within `timeout` seconds of its first request; the body is read
    only up to `max_bytes`; an HF_HUB_OFFLINE run reads only the cache.
    """
    from huggingface_hub import constants

    where = f"{repo_id}@{revision}" if revision else repo_id
    sent_token = prepare(repo_id, revision, token)
    if constants.HF_HUB_OFFLINE:
        cached = hub_cache.cached_file(repo_id, revision, _CONFIG)
        if cached is None:
            raise HubUnavailableError(
                f"{where}: offline (HF_HUB_OFFLINE is set) and its config.json is not in the "
                "HF cache"
            )
        return str(cached)

    def work(deadline: hub_http.Deadline) -> str:
        return _download(repo_id, revision, sent_token, max_bytes, where, deadline)

    return hub_http.run_bounded(work, timeout, where)


def _download(
    repo_id: str, revision: str | None, token: str | None, max_bytes: int, where: str,
    deadline: hub_http.Deadline,
) -> str:  # fmt: skip
    from huggingface_hub import hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

    try:
        metadata = hub_http.head(hf_hub_url(repo_id, _CONFIG, revision=revision), token,
                                 deadline, _CONFIG)  # fmt: skip
    except Exception as error:
        if hub_http.passes_through(error):
            raise
        # Like the client: a hub that cannot answer now leaves the cached copy usable.
        cached = hub_cache.cached_file(repo_id, revision, _CONFIG)
        if cached is not None and not isinstance(
            error, (RevisionNotFoundError, EntryNotFoundError)
        ):
            return str(cached)
        raise hub_error(error, where, deadline) from error
    commit = getattr(metadata, "commit_hash", None)
    size = getattr(metadata, "size", None)
    if not isinstance(commit, str) or not hub_cache.COMMIT.fullmatch(commit):
        raise HubNotFoundError(
            f"{where}: {hub_http.endpoint()} named no commit for config.json (X-Repo-Commit "
            f"{commit!r}): not a hub answer kvcalc accepts"
        )
    cached = hub_cache.cached_file(repo_id, commit, _CONFIG)
    if cached is not None:
        with contextlib.suppress(OSError):  # a read-only cache still serves its files
            hub_cache.store_ref(repo_id, revision, commit)
        return str(cached)
    if isinstance(size, int) and size > max_bytes:
        raise HubNotFoundError(
            f"{where}: config.json is {size:,} bytes, over the {max_bytes:,}-byte limit for a "
            "config; not downloaded"
        )
    # Pinned to the commit the HEAD named, so both requests read the same file.
    pinned = hf_hub_url(repo_id, _CONFIG, revision=commit)
    try:
        data = hub_http.with_retries(
            lambda: hub_http.fetch(pinned, token, deadline, _CONFIG, budget=max_bytes), deadline
        )
    except Exception as error:
        if hub_http.passes_through(error):
            raise
        raise hub_error(error, where, deadline) from error
    if isinstance(size, int) and len(data) != size:
        raise HubUnavailableError(
            f"{where}: config.json arrived with {len(data):,} of its {size:,} bytes"
        )
    try:
        return str(hub_cache.store_file(repo_id, revision, commit, _CONFIG, data))
    except OSError as error:
        raise HubUnavailableError(
            f"{where}: cannot write config.json into the HF cache ({error.strerror})"
        ) from None


def hub_error(
    error: Exception, where: str, deadline: hub_http.Deadline | None = None
) -> SourceUnavailableError:
    """One line that says what went wrong reaching `where`, and what to do about it."""
    from huggingface_hub import errors

    endpoint = hub_http.endpoint()
    if isinstance(error, errors.GatedRepoError):
        return HubUnavailableError(
            f"{where} is gated: accept its terms on the hub, then authenticate with "
            "HF_TOKEN, --token or `hf auth login`"
        )
    if isinstance(error, errors.RevisionNotFoundError):
        return HubNotFoundError(f"{where}: revision not found on {endpoint}")
    if isinstance(error, errors.RepositoryNotFoundError):
        return HubNotFoundError(
            f"{where}: repository not found on {endpoint} (if it is private, authenticate "
            "with HF_TOKEN, --token or `hf auth login`)"
        )
    if isinstance(error, errors.OfflineModeIsEnabled):
        return HubUnavailableError(
            f"{where}: offline (HF_HUB_OFFLINE is set) and its config.json is not in the HF cache"
        )
    if isinstance(error, errors.EntryNotFoundError):
        return HubNotFoundError(f"{where} has no config.json")
    cause = hub_http.network_failure(error, deadline or hub_http.Deadline(0))
    return HubUnavailableError(f"{where}: {cause}")
