"""Hub requests under one deadline and a byte budget, with the true cause of a failure.

Every hub operation (reading a config, the safetensors headers or a GGUF header) runs in a
daemon thread against one `Deadline` that starts at its first request: each request waits at
most what is left of it, a body is read chunk by chunk and dropped once over its budget, and
the caller stops waiting when the deadline has passed, whatever the thread is stuck on (a DNS
lookup included). The requests go through `huggingface_hub`'s own session and headers.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from kvcalc.errors import KvcalcError, SourceUnavailableError

T = TypeVar("T")
_GRACE_SECONDS = 0.5  # for the worker to report its own, more precise, failure
_RETRIES = 2  # more tries after an overloaded hub or a dropped connection
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class HubUnavailableError(SourceUnavailableError):
    """The hub could not be read now (offline, unreachable, gated, overloaded).

    A bundled copy of the same repo's config may stand in for it.
    """


class HubNotFoundError(SourceUnavailableError):
    """The hub answered: no such repo, revision or file, or not a config we accept."""


class Deadline:
    """One hub operation's time, from its first request, and what it is doing now."""

    def __init__(self, seconds: float, where: str = "") -> None:
        self.seconds = seconds
        self.where = where
        self.end = time.monotonic() + seconds
        self.doing = f"reaching {endpoint()}"

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def request_timeout(self, doing: str) -> float:
        """Seconds the next request may take; a timeout error once none are left."""
        self.doing = doing
        left = self.remaining()
        if left <= 0:
            raise self.fail(HubUnavailableError, self.expired())
        return left

    def expired(self) -> str:
        return f"timed out after {self.seconds:g} s {self.doing}"

    def fail(self, kind: type[SourceUnavailableError], text: str) -> SourceUnavailableError:
        """An error about this operation's repo: `org/name: text`."""
        return kind(f"{self.where}: {text}" if self.where else text)


def run_bounded(work: Callable[[Deadline], T], seconds: float, where: str) -> T:
    """`work(deadline)` in a daemon thread; a one-line error if it fails or outlives `seconds`."""
    deadline = Deadline(seconds, where)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(work(deadline))
        except BaseException as error:  # handed to the calling thread
            failure.append(error)

    worker = threading.Thread(target=target, daemon=True, name=f"kvcalc hub {where}")
    worker.start()
    worker.join(max(0.0, deadline.remaining()) + _GRACE_SECONDS)
    if worker.is_alive():
        raise deadline.fail(HubUnavailableError, deadline.expired())
    if failure:
        raise failure[0]
    return outcome[0]


def run_all(work: Callable[[str], T], items: Iterable[str], deadline: Deadline) -> dict[str, T]:
    """`work(item)` for every item, 8 at a time in daemon threads, within `deadline`."""
    pending = list(items)
    results: dict[str, T] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()

    def drain() -> None:
        while True:
            with lock:
                if not pending or failures:
                    return
                item = pending.pop()
            try:
                value = work(item)
            except BaseException as error:
                with lock:
                    failures.append(error)
                return
            with lock:
                results[item] = value

    workers = [threading.Thread(target=drain, daemon=True) for _ in range(min(8, len(pending)))]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(max(0.0, deadline.remaining()) + _GRACE_SECONDS)
    if failures:
        raise failures[0]
    if any(thread.is_alive() for thread in workers):
        raise deadline.fail(HubUnavailableError, deadline.expired())
    return results


def endpoint() -> str:
    """HF_ENDPOINT as shown to a person: without any user:password@."""
    from huggingface_hub import constants

    parts = urlsplit(constants.ENDPOINT)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def head(url: str, token: str | None, deadline: Deadline, what: str) -> object:
    """The hub's metadata of one file (HEAD, hub redirects followed); retried if transient."""
    from huggingface_hub import get_hf_file_metadata

    def once() -> object:
        timeout = deadline.request_timeout(f"waiting for {endpoint()} to answer about {what}")
        return get_hf_file_metadata(url, token=token, timeout=timeout)

    return with_retries(once, deadline)


def with_retries(request: Callable[[], T], deadline: Deadline) -> T:
    """`request()`, tried again after a transient failure while the deadline allows."""
    for attempt in range(_RETRIES + 1):
        try:
            return request()
        except Exception as error:
            pause = 0.25 * 2**attempt
            if attempt == _RETRIES or not transient(error) or deadline.remaining() < pause + 0.5:
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")


def transient(error: BaseException) -> bool:
    """An overloaded hub or a dropped connection: worth one more try."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int):
        return status in _TRANSIENT_STATUS
    return type(error).__name__ in ("RemoteProtocolError", "ReadError")


def fetch(
    url: str, token: str | None, deadline: Deadline, what: str, *, budget: int,
    first_bytes: int | None = None,
) -> bytes:  # fmt: skip
    """The body of `url`, or its first `first_bytes`; a budget overrun is an error.

    Reading stops at the budget (or at `first_bytes`, even when the server ignores the Range
    header and sends the whole file), counted after any decompression.
    """
    body = bytearray()
    with stream(url, token, deadline, what, budget=budget, first_bytes=first_bytes) as chunks:
        for chunk in chunks:
            body += chunk
    return bytes(body)


@contextmanager
def stream(
    url: str, token: str | None, deadline: Deadline, what: str, *, budget: int,
    first_bytes: int | None = None,
) -> Iterator[Iterator[bytes]]:  # fmt: skip
    """The body of `url` chunk by chunk as it arrives, for a reader that may stop early.

    `fetch`'s limits hold chunk by chunk: the deadline is checked after each one (a server
    that drips a byte at a time is stopped there), at most `first_bytes` are yielded, and
    without `first_bytes` a body over `budget` is an error. The connection is closed on leaving.
    """
    from huggingface_hub import get_session
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

    headers = build_hf_headers(token=token)
    headers["Accept-Encoding"] = "identity"
    if first_bytes is not None:
        headers["Range"] = f"bytes=0-{first_bytes - 1}"
    timeout = deadline.request_timeout(f"waiting for {endpoint()} to send {what}")
    with get_session().stream(
        "GET", url, headers=headers, timeout=timeout, follow_redirects=True
    ) as response:
        if response.status_code not in (200, 206):
            raise status_error(response.status_code, what, deadline)
        if response.status_code == 206 and not response.headers.get("Content-Range", "").startswith(
            "bytes 0-"
        ):
            raise deadline.fail(
                HubNotFoundError, f"{endpoint()} sent another part of {what} than asked for"
            )
        yield _bounded_chunks(response.iter_bytes(), deadline, what, budget, first_bytes)


def _bounded_chunks(
    chunks: Iterable[bytes], deadline: Deadline, what: str, budget: int, first_bytes: int | None
) -> Iterator[bytes]:
    received = 0
    for chunk in chunks:
        received += len(chunk)
        deadline.request_timeout(f"receiving {what} ({received:,} bytes so far)")
        if first_bytes is not None:
            yield chunk[: len(chunk) - max(0, received - first_bytes)]
            if received >= first_bytes:
                return
        elif received > budget:
            over = f"{what} is over the {budget:,}-byte limit; stopped reading it"
            raise deadline.fail(HubNotFoundError, over)
        else:
            yield chunk


def status_error(status: int, what: str, deadline: Deadline) -> SourceUnavailableError:
    """An unexpected HTTP status for `what`."""
    kind = HubUnavailableError if status in _TRANSIENT_STATUS else HubNotFoundError
    return deadline.fail(kind, f"{endpoint()} answered HTTP {status} for {what}")


def network_failure(error: BaseException, deadline: Deadline) -> str:
    """The root cause: no DNS name, refused, unreachable, reset, a timeout, an HTTP status."""
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for link in chain:
        found = _cause(link, deadline)
        if found is not None:
            return found
    connect = next((link for link in chain if type(link).__name__ == "ConnectError"), None)
    if connect is not None:
        return f"cannot connect to {endpoint()} ({_first_line(connect)})"
    return f"cannot read from {endpoint()} ({_first_line(error)})"


def _cause(link: BaseException, deadline: Deadline) -> str | None:
    host = urlsplit(endpoint()).hostname or endpoint()
    status = getattr(getattr(link, "response", None), "status_code", None)
    causes = [
        (isinstance(link, socket.gaierror), f"cannot resolve the host name {host} (DNS: "
         f"{_first_line(link)})"),
        (isinstance(link, ConnectionRefusedError),
         f"cannot connect to {endpoint()} (connection refused)"),
        (isinstance(link, ConnectionResetError), f"{endpoint()} reset the connection"),
        (isinstance(link, OSError) and link.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH),
         f"cannot reach {endpoint()} (network unreachable)"),
        ("Timeout" in type(link).__name__ or isinstance(link, TimeoutError), deadline.expired()),
        (isinstance(status, int), f"{endpoint()} answered HTTP {status}"),
    ]  # fmt: skip
    return next((text for matches, text in causes if matches), None)


def passes_through(error: BaseException) -> bool:
    """Our own errors, and what is not an error of the hub (a bug, an interrupt)."""
    return isinstance(error, KvcalcError) or not isinstance(error, Exception)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
