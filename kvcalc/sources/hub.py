"""Fetching config.json from the Hugging Face hub with the real client, errors made one line."""

from __future__ import annotations

import logging
import os
import re
import threading

from kvcalc.errors import SourceUnavailableError


class HubUnavailableError(SourceUnavailableError):
    """The hub could not be read now (offline, unreachable, gated, overloaded).

    A bundled copy of the same repo's config may stand in for it.
    """


class HubNotFoundError(SourceUnavailableError):
    """The hub answered: no such repo, revision or file, or not a config we accept."""


class _LastHubWarning(logging.Handler):
    """Keeps the client's last retry warning off stderr, to name the cause if we give up."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Retrying" not in message and "Rate limited" not in message:
            self.last = message


def download_config(
    repo_id: str, revision: str | None, token: str | None, timeout: float, max_bytes: int
) -> str:
    """The local path of `repo_id`'s config.json, from the HF cache or downloaded into it.

    Each request waits at most `timeout` seconds; the client's retries of failing requests
    are cut off after twice that, so a hub that keeps failing cannot hold a script for long.
    """
    where = f"{repo_id}@{revision}" if revision else repo_id
    recorder = _LastHubWarning()
    outcome: dict[str, str | BaseException] = {}

    def work() -> None:
        try:
            # Importing the download module installs the client's own stderr handler.
            from huggingface_hub import hf_hub_download  # noqa: F401

            client_log = logging.getLogger("huggingface_hub")
            client_log.handlers = [recorder]
            client_log.propagate = False
            outcome["path"] = _download(repo_id, revision, token, timeout, max_bytes, where)
        except BaseException as error:  # handed to the calling thread
            outcome["error"] = error

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(2 * timeout)
    if worker.is_alive():
        raise HubUnavailableError(f"{where}: {_gave_up(recorder.last, 2 * timeout)}")
    error = outcome.get("error")
    if isinstance(error, SourceUnavailableError):
        raise error
    if isinstance(error, Exception):
        raise hub_error(error, where) from error
    if isinstance(error, BaseException):
        raise error
    return str(outcome["path"])


def _gave_up(last_warning: str | None, seconds: float) -> str:
    from huggingface_hub import constants

    status = re.search(r"HTTP Error (\d{3})", last_warning or "")
    if last_warning and "Connection refused" in last_warning:
        return f"cannot connect to {constants.ENDPOINT} (connection refused)"
    if status:
        return f"{constants.ENDPOINT} answered HTTP {status[1]} (gave up after {seconds:g} s)"
    return f"timed out after {seconds:g} s reaching {constants.ENDPOINT}"


def _download(
    repo_id: str, revision: str | None, token: str | None, timeout: float, max_bytes: int,
    where: str,
) -> str:
    # The client reads its download timeout once, at import.
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(max(1, round(timeout))))
    from huggingface_hub import hf_hub_download

    common = {
        "repo_id": repo_id,
        "filename": "config.json",
        "revision": revision,
        "token": token,
        "etag_timeout": timeout,
    }
    info = hf_hub_download(**common, dry_run=True)  # type: ignore[call-overload]
    if info.will_download and info.file_size is not None and info.file_size > max_bytes:
        raise HubNotFoundError(
            f"{where}: config.json is {info.file_size:,} bytes, over the "
            f"{max_bytes:,}-byte limit for a config; not downloaded"
        )
    path: str = hf_hub_download(**common)  # type: ignore[call-overload]
    return path


def hub_error(error: Exception, where: str) -> SourceUnavailableError:
    """One line that says what went wrong reaching `where`, and what to do about it."""
    from huggingface_hub import constants, errors

    endpoint = constants.ENDPOINT
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
    if isinstance(error, errors.OfflineModeIsEnabled) or (
        isinstance(error, errors.LocalEntryNotFoundError) and constants.HF_HUB_OFFLINE
    ):
        return HubUnavailableError(
            f"{where}: offline (HF_HUB_OFFLINE is set) and its config.json is not in the HF cache"
        )
    if isinstance(error, errors.EntryNotFoundError) and not isinstance(
        error, errors.LocalEntryNotFoundError
    ):
        return HubNotFoundError(f"{where} has no config.json")
    return HubUnavailableError(f"{where}: {_network_failure(error, endpoint)}")


def _network_failure(error: BaseException, endpoint: str) -> str:
    """Names the root cause: a timeout, a refused connection, an HTTP status."""
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for link in chain:
        name = type(link).__name__
        if "Timeout" in name:
            return f"timed out reaching {endpoint}"
        if isinstance(link, ConnectionRefusedError) or name == "ConnectError":
            return f"cannot connect to {endpoint} ({_first_line(link)})"
        response = getattr(link, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return f"{endpoint} answered HTTP {status}"
    return f"cannot download config.json from {endpoint} ({_first_line(error)})"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
