"""A local stand-in for the Hugging Face Hub HTTP API, for tests (standard library only).

The server speaks the subset of the Hub protocol that ``huggingface_hub`` (1.x and 2.x) uses to
download single files and to read safetensors headers:

* ``HEAD``/``GET /{repo_id}/resolve/{revision}/{filename}`` with the ``X-Repo-Commit``, ``ETag``,
  ``Content-Length`` and ``Accept-Ranges`` headers, single-range ``GET`` (``206``), and the Hub's
  ``X-Error-Code``/``X-Error-Message`` errors: ``RepoNotFound`` (unknown or private repo),
  ``GatedRepo``, ``RevisionNotFound`` and ``EntryNotFound``;
* ``GET /api/models/{repo_id}`` and ``/api/models/{repo_id}/revision/{revision}`` (model info with
  ``sha`` and ``siblings``, sizes with ``?blobs=true``), ``/api/models/{repo_id}/tree/{revision}``
  and ``/api/models/{repo_id}/safetensors-metadata/{index}``;
* ``GET /api/agent-harnesses`` (an empty registry: only fetched when telemetry is enabled).

Faults are injected with :meth:`HubServer.inject` (see :class:`Fault`): status codes with the Hub's
error headers, HTML pages, stalls, resets, disconnects and redirects, for every request or only
for some repositories, files, methods, paths, or the first *n* matching requests.

Example::

    with HubServer() as hub:
        sha = hub.add_repo("org/model", {"config.json": b'{"model_type": "llama"}'})
        hub.inject(Fault.server_error(), repo_id="org/model", times=1)
        env = hub_environment(hub.url, tmp_path / "hf_home")
        ...  # run the code under test in a subprocess with env
        assert [(r.method, r.status) for r in hub.requests] == [("HEAD", 500), ...]

Every request is recorded (:attr:`HubServer.requests`) with its headers, so tests can check that
a token was sent or that a weights file was never downloaded in full.

:func:`hub_environment` builds the environment of a subprocess that must reach only this server
(``huggingface_hub`` reads ``HF_ENDPOINT`` when it is imported), and :class:`HubContext` bundles
a server with that environment (see the ``hub`` fixture in ``tests/conftest_hub.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import http.server
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = [
    "DTYPE_SIZES",
    "Fault",
    "FaultRule",
    "GeneratedFile",
    "HubContext",
    "HubServer",
    "RecordedRequest",
    "SafetensorsLayout",
    "build_safetensors",
    "hub_environment",
    "safetensors_header",
    "unused_local_url",
]

#: Bytes per element of the safetensors dtypes the builder supports.
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E8M0": 1,
    "U16": 2,
    "I16": 2,
    "F16": 2,
    "BF16": 2,
    "U32": 4,
    "I32": 4,
    "F32": 4,
    "U64": 8,
    "I64": 8,
    "F64": 8,
    "C64": 8,
}

SAFETENSORS_SINGLE_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"

# Files stored with Git LFS on the Hub: ETag is the sha256 of the content, not the git blob id.
_LFS_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".gguf",
    ".h5",
    ".msgpack",
    ".onnx",
)
_LFS_MIN_SIZE = 10 * 1024 * 1024
_LFS_POINTER_SIZE = 134
_CHUNK_SIZE = 256 * 1024
_FIXED_DATE = "2024-01-01T00:00:00.000Z"
_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Network login required</title></head>\n"
    b"<body><h1>Please sign in to the network</h1><p>This page replaces the content you "
    b"asked for.</p></body></html>\n"
)
_REPO_NOT_FOUND_ANONYMOUS = "Invalid username or password."
_REPO_NOT_FOUND = "Repository not found"
_GATED_ANONYMOUS = (
    "Access to model {repo_id} is restricted. You must have access to it and be authenticated "
    "to access it. Please log in."
)
_GATED_DENIED = (
    "Access to model {repo_id} is restricted and you are not in the authorized list. "
    "Visit {url}/{repo_id} to ask for access."
)
_INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


# --------------------------------------------------------------------------------------------
# File contents
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedFile:
    """File content of ``size`` bytes produced on demand: ``head``, ``fill`` repeated, ``tail``.

    Used for files too large to keep in memory (a 50 MB ``config.json``, safetensors weights).
    Its ETag is derived from its description, not from its bytes.
    """

    size: int
    head: bytes = b""
    tail: bytes = b""
    fill: bytes = b"\0"

    def __post_init__(self) -> None:
        if not self.fill:
            raise ValueError("fill must not be empty")
        if self.size < len(self.head) + len(self.tail):
            raise ValueError("size is smaller than head + tail")

    @classmethod
    def padded_json(
        cls, data: Mapping[str, Any], size: int, pad_key: str = "_padding"
    ) -> GeneratedFile:
        """A valid JSON object of exactly ``size`` bytes: ``data`` plus one long padding string."""
        start = json.dumps(dict(data))
        opening = start[:-1] + (", " if data else "") + json.dumps(pad_key) + ': "'
        return cls(size=size, head=opening.encode(), tail=b'"}', fill=b" ")

    def iter_range(self, start: int, end: int, chunk_size: int = _CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the bytes in ``[start, end)`` in chunks of at most ``chunk_size``."""
        fill_start = len(self.head)
        fill_end = self.size - len(self.tail)
        position = start
        while position < end:
            if position < fill_start:
                stop = min(end, fill_start)
                yield self.head[position:stop]
            elif position < fill_end:
                stop = min(end, fill_end, position + chunk_size)
                offset = (position - fill_start) % len(self.fill)
                repeats = (stop - position + offset) // len(self.fill) + 1
                yield (self.fill * repeats)[offset : offset + stop - position]
            else:
                stop = end
                yield self.tail[position - fill_end : stop - fill_end]
            position = stop

    def to_bytes(self) -> bytes:
        """The whole content (only sensible for small files)."""
        return b"".join(self.iter_range(0, self.size))


@dataclass(frozen=True)
class _StoredFile:
    content: bytes | GeneratedFile
    size: int
    git_sha: str
    sha256: str
    lfs: bool

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_sha

    def iter_range(self, start: int, end: int) -> Iterator[bytes]:
        if isinstance(self.content, GeneratedFile):
            yield from self.content.iter_range(start, end)
            return
        for offset in range(start, end, _CHUNK_SIZE):
            yield self.content[offset : min(end, offset + _CHUNK_SIZE)]


def _store(filename: str, content: bytes | GeneratedFile) -> _StoredFile:
    if isinstance(content, GeneratedFile):
        description = repr(content).encode()
        git_sha = hashlib.sha1(b"generated " + description).hexdigest()
        sha256 = hashlib.sha256(b"generated " + description).hexdigest()
        size = content.size
    elif isinstance(content, (bytes, bytearray)):
        data = bytes(content)
        size = len(data)
        git_sha = hashlib.sha1(b"blob %d\0" % size + data).hexdigest()
        sha256 = hashlib.sha256(data).hexdigest()
        content = data
    else:
        raise TypeError(f"content of {filename!r} must be bytes or GeneratedFile")
    lfs = filename.endswith(_LFS_SUFFIXES) or size >= _LFS_MIN_SIZE
    return _StoredFile(content=content, size=size, git_sha=git_sha, sha256=sha256, lfs=lfs)


# --------------------------------------------------------------------------------------------
# Safetensors
# --------------------------------------------------------------------------------------------

TensorSpec = tuple[str, Sequence[int]]


def _element_count(name: str, dtype: str, shape: Sequence[int]) -> int:
    if dtype not in DTYPE_SIZES:
        raise ValueError(f"tensor {name!r}: unsupported dtype {dtype!r}")
    count = 1
    for dim in shape:
        if dim < 0:
            raise ValueError(f"tensor {name!r}: negative dimension in {list(shape)}")
        count *= dim
    return count


def safetensors_header(
    tensors: Mapping[str, TensorSpec], metadata: Mapping[str, str] | None = None
) -> tuple[bytes, int]:
    """Build the start of a safetensors file for ``tensors`` (name -> (dtype, shape)).

    Returns ``(prefix, data_size)``: ``prefix`` is the 8-byte little-endian header length followed
    by the JSON header (space-padded to a multiple of 8 bytes), and the file is complete once
    ``data_size`` bytes of tensor data follow it. Tensors are laid out in the mapping's order.
    """
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, (dtype, shape) in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is not a valid tensor name")
        nbytes = _element_count(name, dtype, shape) * DTYPE_SIZES[dtype]
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded, offset


def build_safetensors(
    tensors: Mapping[str, TensorSpec], metadata: Mapping[str, str] | None = None
) -> GeneratedFile:
    """A safetensors file for ``tensors`` whose tensor data is all zeros (generated lazily)."""
    prefix, data_size = safetensors_header(tensors, metadata)
    return GeneratedFile(size=len(prefix) + data_size, head=prefix)


@dataclass(frozen=True)
class SafetensorsLayout:
    """What :meth:`HubServer.add_safetensors` put in the repository."""

    files: dict[str, int]
    """Safetensors file name -> file size in bytes (header included)."""
    weight_map: dict[str, str]
    """Tensor name -> file name."""
    total_size: int
    """Sum of the tensor data sizes (the index file's ``metadata.total_size``)."""
    parameters: dict[str, int]
    """Dtype -> number of elements."""
    sharded: bool

    @property
    def total_parameters(self) -> int:
        return sum(self.parameters.values())


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------

FaultKind = Literal[
    "respond",
    "stall",
    "reset",
    "disconnect",
    "redirect",
    "headers",
    "ignore_range",
    "endless",
    "drip",
]
AfterStall = Literal["close", "reset", "serve"]


@dataclass(frozen=True)
class Fault:
    """A misbehaviour of the server; build one with the class methods.

    ``after_bytes`` (stall, reset, disconnect): first send the normal status line, headers and
    that many body bytes, then misbehave. Such faults only match requests whose response has a
    body (so never ``HEAD``).
    """

    kind: FaultKind
    label: str
    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    seconds: float = 0.0
    then: AfterStall = "close"
    after_bytes: int | None = None

    @classmethod
    def http_error(
        cls,
        status: int,
        *,
        error_code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        label: str | None = None,
    ) -> Fault:
        """A JSON error like the Hub's: ``{"error": message}`` plus ``X-Error-*`` headers."""
        all_headers: dict[str, str] = {"Content-Type": "application/json; charset=utf-8"}
        if error_code is not None:
            all_headers["X-Error-Code"] = error_code
        if message is not None:
            all_headers["X-Error-Message"] = message
        all_headers.update(headers or {})
        body = json.dumps({"error": message or http.HTTPStatus(status).phrase}).encode()
        return cls(
            kind="respond",
            label=label or f"http_{status}",
            status=status,
            headers=tuple(all_headers.items()),
            body=body,
        )

    @classmethod
    def gated(cls, *, authenticated: bool = False) -> Fault:
        """The Hub's gated-repo refusal: 401 without a token, 403 with one (``GatedRepo``)."""
        template = _GATED_DENIED if authenticated else _GATED_ANONYMOUS
        return cls.http_error(
            403 if authenticated else 401,
            error_code="GatedRepo",
            message=template.format(repo_id="this model", url="the Hub"),
            label="gated",
        )

    @classmethod
    def forbidden(cls, message: str = "You don't have the rights to access this resource") -> Fault:
        """A plain 403 without ``X-Error-Code`` (e.g. a fine-grained token lacking a scope)."""
        return cls.http_error(403, message=message, label="forbidden")

    @classmethod
    def invalid_token(cls) -> Fault:
        """The Hub's answer to an unknown or revoked token: 401 without ``X-Error-Code``."""
        return cls.http_error(401, message=_INVALID_CREDENTIALS, label="invalid_token")

    @classmethod
    def repo_not_found(cls, status: int = 404) -> Fault:
        """``RepoNotFound`` (the Hub says 401 to anonymous callers, 404 to authenticated ones)."""
        message = _REPO_NOT_FOUND_ANONYMOUS if status == 401 else _REPO_NOT_FOUND
        return cls.http_error(
            status, error_code="RepoNotFound", message=message, label="repo_not_found"
        )

    @classmethod
    def revision_not_found(cls, revision: str = "unknown") -> Fault:
        return cls.http_error(
            404,
            error_code="RevisionNotFound",
            message=f"Invalid rev id: {revision}",
            label="revision_not_found",
        )

    @classmethod
    def entry_not_found(cls) -> Fault:
        return cls.http_error(
            404, error_code="EntryNotFound", message="Entry not found", label="entry_not_found"
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls.http_error(status, message="Internal Error - We're working hard to fix this")

    @classmethod
    def rate_limited(cls, retry_after: int | None = 1, *, ratelimit: bool = False) -> Fault:
        """429; ``retry_after`` seconds in ``Retry-After``, or the Hub's ``RateLimit`` headers."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
            if ratelimit:
                headers["RateLimit"] = f'"resolvers";r=0;t={retry_after}'
                headers["RateLimit-Policy"] = '"fixed window";"resolvers";q=3000;w=300'
        return cls.http_error(
            429, message="You have exceeded our rate limit", headers=headers, label="rate_limited"
        )

    @classmethod
    def html_page(cls, status: int = 200, body: bytes = _HTML_PAGE) -> Fault:
        """An HTML page (captive portal, proxy error) instead of the expected file or JSON."""
        return cls(
            kind="respond",
            label=f"html_{status}",
            status=status,
            headers=(("Content-Type", "text/html; charset=utf-8"),),
            body=body,
        )

    @classmethod
    def stall(
        cls, seconds: float, *, then: AfterStall = "close", after_bytes: int | None = None
    ) -> Fault:
        """Read the request, send nothing for ``seconds``, then ``close``, ``reset`` or ``serve``.

        The wait ends early when the server closes.
        """
        return cls(kind="stall", label="stall", seconds=seconds, then=then, after_bytes=after_bytes)

    @classmethod
    def reset(cls, *, after_bytes: int | None = None) -> Fault:
        """Abort the connection with a TCP RST (``SO_LINGER`` 0)."""
        return cls(kind="reset", label="reset", after_bytes=after_bytes)

    @classmethod
    def disconnect(cls, *, after_bytes: int | None = None) -> Fault:
        """Close the connection normally (FIN) without sending (the rest of) a response."""
        return cls(kind="disconnect", label="disconnect", after_bytes=after_bytes)

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Fault:
        """Redirect to ``location`` (a path on this server, or any URL)."""
        return cls(
            kind="redirect",
            label=f"redirect_{status}",
            status=status,
            headers=(("Location", location),),
        )

    # -- hostile servers: answers that try to escape the cache or exhaust the client ------------

    @classmethod
    def with_headers(cls, **headers: str) -> Fault:
        """The normal answer with some headers replaced, e.g. ``ETag='"../../x"'``.

        Use ``X_Repo_Commit`` for ``X-Repo-Commit`` (underscores become dashes).
        """
        pairs = tuple((name.replace("_", "-"), value) for name, value in headers.items())
        return cls(kind="headers", label="headers", headers=pairs)

    @classmethod
    def ignore_range(cls) -> Fault:
        """Answer ``200`` with the whole file, whatever ``Range`` asked for."""
        return cls(kind="ignore_range", label="ignore_range")

    @classmethod
    def endless(cls, *, size: int = 2 * 1024**3, headers: Mapping[str, str] | None = None) -> Fault:
        """``200`` without ``Content-Length``: ``size`` bytes of spaces, until the client leaves.

        ``headers`` are added (a lying ``Content-Length`` makes the body longer than announced:
        the connection is closed after ``size`` bytes whatever it says).
        """
        return cls(
            kind="endless",
            label="endless",
            headers=tuple((headers or {}).items()),
            after_bytes=size,
        )

    @classmethod
    def gzip_bomb(cls, expanded: int = 256 * 1024**2) -> Fault:
        """``200`` with ``Content-Encoding: gzip``: a small body that inflates to ``expanded``."""
        return cls(
            kind="respond",
            label="gzip_bomb",
            status=200,
            headers=(("Content-Encoding", "gzip"), ("Content-Type", "application/json")),
            body=_gzip_of_spaces(expanded),
        )

    @classmethod
    def drip(cls, interval: float = 0.5, *, limit: float = 60.0) -> Fault:
        """``200``, then one byte every ``interval`` seconds, for at most ``limit`` seconds."""
        return cls(kind="drip", label="drip", seconds=limit, body=str(interval).encode())


def _gzip_of_spaces(size: int) -> bytes:
    """A gzip stream of ``size`` spaces (compressed once per size: a few hundred KB per GB)."""
    cached = _GZIP_CACHE.get(size)
    if cached is None:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = b" " * (1024 * 1024)
        parts = [compressor.compress(block) for _ in range(size // len(block))]
        parts.append(compressor.compress(b" " * (size % len(block))))
        parts.append(compressor.flush())
        cached = _GZIP_CACHE[size] = b"".join(parts)
    return cached


_GZIP_CACHE: dict[int, bytes] = {}


@dataclass(eq=False)
class FaultRule:
    """An injected fault and which requests it applies to (see :meth:`HubServer.inject`)."""

    fault: Fault
    repo_id: str | None = None
    filename: str | None = None
    path: str | None = None
    methods: frozenset[str] | None = None
    times: int | None = None
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, request: RecordedRequest) -> bool:
        if self.exhausted:
            return False
        if self.fault.after_bytes is not None and request.method == "HEAD":
            return False
        if self.methods is not None and request.method not in self.methods:
            return False
        if self.repo_id is not None and request.repo_id != self.repo_id:
            return False
        if self.filename is not None and (
            request.filename is None or not fnmatch.fnmatchcase(request.filename, self.filename)
        ):
            return False
        return self.path is None or fnmatch.fnmatchcase(request.path, self.path)


# --------------------------------------------------------------------------------------------
# Requests and repositories
# --------------------------------------------------------------------------------------------

RouteKind = Literal[
    "resolve", "api_model", "api_tree", "api_safetensors", "api_other", "cdn", "other"
]


@dataclass(eq=False)
class RecordedRequest:
    """One request the server received, and what it did with it."""

    method: str
    target: str
    """Request target as sent (path and query, still percent-encoded)."""
    path: str
    """Decoded path, without the query."""
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes
    kind: RouteKind
    repo_id: str | None
    revision: str | None
    filename: str | None
    received_at: float
    """``time.monotonic()`` when the request line was read."""
    status: int | None = None
    """Status sent, or ``None`` if no status line was sent (stall, reset, disconnect)."""
    fault: str | None = None
    """Label of the fault applied, if any."""
    body_bytes_sent: int = 0

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def token(self) -> str | None:
        """The bearer token sent, if any."""
        value = self.authorization
        if value is None or not value.lower().startswith("bearer "):
            return None
        return value[7:].strip()

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


@dataclass
class _Revision:
    commit_sha: str
    files: dict[str, _StoredFile] = field(default_factory=dict)
    parameters: dict[str, int] = field(default_factory=dict)


@dataclass
class _Repo:
    repo_id: str
    gated: bool
    private: bool
    tokens: frozenset[str] | None
    revisions: dict[str, _Revision] = field(default_factory=dict)

    def resolve(self, revision: str) -> _Revision | None:
        found = self.revisions.get(revision)
        if found is not None:
            return found
        for candidate in self.revisions.values():
            if candidate.commit_sha == revision:
                return candidate
        return None

    def authorized(self, token: str | None) -> bool:
        if not (self.gated or self.private):
            return True
        if token is None:
            return False
        return self.tokens is None or token in self.tokens


def _split_repo(segments: Sequence[str], markers: Iterable[str]) -> tuple[str, list[str]] | None:
    """Split ``[ns, name, marker, ...]`` or ``[name, marker, ...]`` into repo id and the rest."""
    marker_set = set(markers)
    if len(segments) >= 3 and segments[2] in marker_set:
        return f"{segments[0]}/{segments[1]}", list(segments[2:])
    if len(segments) >= 2 and segments[1] in marker_set:
        return segments[0], list(segments[1:])
    return None


def _parse_route(raw_path: str) -> tuple[RouteKind, str | None, str | None, str | None, list[str]]:
    """Classify a request path: (kind, repo_id, revision, filename, extra)."""
    segments = [unquote(part) for part in raw_path.split("/")[1:]]
    if len(segments) >= 2 and segments[0] == "_cdn":
        return "cdn", None, None, "/".join(segments[2:]) or None, [segments[1]]
    if len(segments) >= 3 and segments[0] == "api" and segments[1] == "models":
        rest = segments[2:]
        split = _split_repo(rest, ("revision", "tree", "safetensors-metadata"))
        if split is None:
            if 1 <= len(rest) <= 2 and all(rest):
                return "api_model", "/".join(rest), None, None, []
            return "api_other", None, None, None, []
        repo_id, tail = split
        if tail[0] == "revision" and len(tail) == 2:
            return "api_model", repo_id, tail[1], None, []
        if tail[0] == "tree" and len(tail) >= 2:
            return "api_tree", repo_id, tail[1], "/".join(tail[2:]) or None, []
        if tail[0] == "safetensors-metadata" and len(tail) >= 2:
            return "api_safetensors", repo_id, None, "/".join(tail[1:]), []
        return "api_other", repo_id, None, None, []
    if segments and segments[0] == "api":
        return "api_other", None, None, None, []
    split = _split_repo(segments, ("resolve",))
    if split is not None:
        repo_id, tail = split
        if len(tail) >= 3 and tail[1] and all(tail[2:]):
            return "resolve", repo_id, tail[1], "/".join(tail[2:]), []
    return "other", None, None, None, []


def _commit_for(repo_id: str, revision: str) -> str:
    return hashlib.sha1(f"commit {repo_id}@{revision}".encode()).hexdigest()


def _parse_range(value: str | None, size: int) -> tuple[int, int] | Literal["invalid"] | None:
    """Parse a single ``bytes=`` range into ``[start, end)``; ``None`` means serve everything."""
    if value is None:
        return None
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first.strip():
            suffix = int(last)
            if suffix <= 0:
                return "invalid"
            return max(0, size - suffix), size
        start = int(first)
        end = int(last) + 1 if last.strip() else size
    except ValueError:
        return None
    if start >= size or end <= start:
        return "invalid"
    return start, min(end, size)


def _content_type(filename: str) -> str:
    if filename.endswith(".json"):
        return "application/json; charset=utf-8"
    if filename.endswith((".txt", ".md", ".py", ".yaml", ".yml")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def unused_local_url() -> str:
    """``http://127.0.0.1:<port>`` for a port nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


@dataclass
class _Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    file: _StoredFile | None = None
    start: int = 0
    end: int = 0

    @property
    def length(self) -> int:
        return self.end - self.start if self.file is not None else len(self.body)

    def chunks(self) -> Iterator[bytes]:
        if self.file is not None:
            yield from self.file.iter_range(self.start, self.end)
        elif self.body:
            yield self.body


class _Abort(Exception):
    """Stop handling the current connection (the server is closing or the client left)."""


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: HubServer) -> None:
        self.hub = hub
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.hub._record_error()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubserver/1"
    sys_version = ""
    server: _HTTPServer

    # -- connection lifecycle ------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.hub._register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.hub._unregister(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    # -- request handling ---------------------------------------------------------------

    def _dispatch(self) -> None:
        hub = self.server.hub
        body = self._read_body()
        split = urlsplit(self.path)
        kind, repo_id, revision, filename, extra = _parse_route(split.path)
        record = RecordedRequest(
            method=self.command,
            target=self.path,
            path=unquote(split.path),
            query=parse_qs(split.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            kind=kind,
            repo_id=repo_id,
            revision=revision,
            filename=filename,
            received_at=time.monotonic(),
        )
        hub._record(record)
        try:
            rule = hub._take_fault(record)
            if rule is None:
                self._send(record, hub._respond(record, extra))
            else:
                record.fault = rule.fault.label
                self._apply_fault(record, rule.fault, extra)
        except (_Abort, ConnectionError, TimeoutError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True
            return b""
        return self.rfile.read(int(length))

    def _apply_fault(self, record: RecordedRequest, fault: Fault, extra: list[str]) -> None:
        hub = self.server.hub
        if fault.kind == "respond":
            headers = [*fault.headers, *hub._common_headers()]
            self._send(record, _Response(fault.status, headers, fault.body))
            return
        if fault.kind == "redirect":
            headers = [*fault.headers, *hub._common_headers()]
            self._send(record, _Response(fault.status, headers))
            return
        if fault.kind in ("headers", "ignore_range"):
            self._send_altered(record, fault, extra)
            return
        if fault.kind in ("endless", "drip"):
            self._send_stream(record, fault)
            return
        response: _Response | None = None
        if fault.after_bytes is not None:
            response = hub._respond(record, extra)
            self._send(record, response, limit=fault.after_bytes)
        action: Literal["close", "reset", "serve", "disconnect"]
        if fault.kind == "stall":
            hub._closing.wait(fault.seconds)
            if hub._closing.is_set():
                raise _Abort
            action = fault.then
        else:
            action = "reset" if fault.kind == "reset" else "disconnect"
        if action == "serve":
            if response is None:
                self._send(record, hub._respond(record, extra))
            else:
                self._send_body(record, response, skip=fault.after_bytes or 0)
            return
        if action == "reset":
            self._reset()
        # Otherwise no (more) bytes, then FIN.
        self.close_connection = True

    def _send_altered(self, record: RecordedRequest, fault: Fault, extra: list[str]) -> None:
        hub = self.server.hub
        if fault.kind == "ignore_range":
            headers = {name: value for name, value in record.headers.items() if name != "range"}
            response = hub._respond(dataclasses.replace(record, headers=headers), extra)
        else:
            response = hub._respond(record, extra)
            replaced = {name.lower() for name, _ in fault.headers}
            response.headers = [
                *((n, v) for n, v in response.headers if n.lower() not in replaced),
                *fault.headers,
            ]
        self._send(record, response)

    def _send_stream(self, record: RecordedRequest, fault: Fault) -> None:
        """An answer whose body has no announced end: streamed, or dripped byte by byte."""
        closing = self.server.hub._closing
        self.close_connection = True
        self.send_response(200)
        for name, value in (("Content-Type", "application/octet-stream"), *fault.headers):
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        record.status = 200
        if fault.kind == "drip":
            interval = float(fault.body)
            stop = time.monotonic() + fault.seconds
            while time.monotonic() < stop and not closing.wait(interval):
                self.wfile.write(b" ")
                self.wfile.flush()
                record.body_bytes_sent += 1
            return
        block = b" " * _CHUNK_SIZE
        while record.body_bytes_sent < (fault.after_bytes or 0):
            if closing.is_set():
                raise _Abort
            self.wfile.write(block)
            record.body_bytes_sent += len(block)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout turns close() into a TCP RST. The socket is really closed
        # only once the buffered reader made from it is closed too.
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def _send(self, record: RecordedRequest, response: _Response, limit: int | None = None) -> None:
        self.send_response(response.status)
        names = set()
        for name, value in response.headers:
            names.add(name.lower())
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(response.length))
        self.end_headers()
        record.status = response.status
        if self.command == "HEAD":
            return
        self._send_body(record, response, limit=limit)

    def _send_body(
        self, record: RecordedRequest, response: _Response, skip: int = 0, limit: int | None = None
    ) -> None:
        closing = self.server.hub._closing
        position = 0
        for chunk in response.chunks():
            piece = chunk
            if position < skip:
                piece = chunk[skip - position :]
            position += len(chunk)
            if limit is not None:
                room = limit - record.body_bytes_sent
                piece = piece[: max(room, 0)]
            if piece:
                if closing.is_set():
                    raise _Abort
                self.wfile.write(piece)
                record.body_bytes_sent += len(piece)
            if limit is not None and record.body_bytes_sent >= limit:
                break


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class HubServer:
    """A threaded local Hub on ``127.0.0.1`` (port 0 by default), usable as a context manager.

    Args:
        host: interface to listen on.
        port: TCP port, ``0`` for any free port.
        lfs_via_cdn: answer ``resolve`` requests for LFS files (weights, files >= 10 MiB) like the
            Hub does, with a ``302`` to another origin (``http://localhost:<port>/_cdn/...``)
            carrying ``X-Linked-Etag``/``X-Linked-Size``; otherwise serve them directly.
    """

    closing_timeout: ClassVar[float] = 5.0

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, lfs_via_cdn: bool = False
    ) -> None:
        self._address = (host, port)
        self.lfs_via_cdn = lfs_via_cdn
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._repos: dict[str, _Repo] = {}
        self._renamed: dict[str, tuple[str, int]] = {}
        self._rules: list[FaultRule] = []
        self._requests: list[RecordedRequest] = []
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []
        """Unexpected exceptions raised while handling requests (bugs in a test or here)."""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> HubServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._httpd = _HTTPServer(self._address, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="hubserver",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving: end stalls and streams, drop open connections, join the threads."""
        httpd = self._httpd
        if httpd is None or self._closing.is_set():
            return
        self._closing.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(self.closing_timeout)
        deadline = time.monotonic() + self.closing_timeout
        while True:
            with self._lock:
                connections = dict(self._connections)
            if not connections or time.monotonic() > deadline:
                break
            for connection, thread in connections.items():
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                thread.join(max(0.0, min(0.1, deadline - time.monotonic())))
        if connections:
            names = sorted(thread.name for thread in connections.values())
            self.errors.append(RuntimeError(f"handler threads still running: {names}"))

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for ``HF_ENDPOINT``, e.g. ``http://127.0.0.1:43125`` (no trailing slash)."""
        return f"http://{self._address[0]}:{self.port}"

    @property
    def cdn_url(self) -> str:
        """Where LFS files are redirected to with ``lfs_via_cdn`` (a different origin)."""
        return f"http://localhost:{self.port}"

    # -- repositories --------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes | GeneratedFile] | None = None,
        *,
        revision: str = "main",
        commit_sha: str | None = None,
        gated: bool | None = None,
        private: bool | None = None,
        tokens: Iterable[str] | None = None,
    ) -> str:
        """Create or extend a model repo with ``files`` at ``revision``; return its commit sha.

        ``revision`` is a branch or tag name (``refs/pr/1`` works too); the revision is also
        reachable by its commit sha (default: derived from ``repo_id`` and ``revision``).
        ``gated``/``private`` repos serve files only to requests bearing one of ``tokens`` (any
        bearer token while ``tokens`` was never given). Without a token a gated repo answers 401
        ``GatedRepo``, with another token 403 ``GatedRepo``; a private repo answers like a
        missing one (401 ``RepoNotFound``, or 404 with a token). On an existing repo, ``None``
        keeps the current ``gated``/``private``/``tokens`` and files are added or replaced.
        """
        if not repo_id or repo_id.count("/") > 1 or any(not part for part in repo_id.split("/")):
            raise ValueError(f"invalid repo id {repo_id!r}")
        stored = {name: _store(name, content) for name, content in (files or {}).items()}
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is None:
                repo = _Repo(repo_id=repo_id, gated=False, private=False, tokens=None)
                self._repos[repo_id] = repo
            if gated is not None:
                repo.gated = gated
            if private is not None:
                repo.private = private
            if tokens is not None:
                repo.tokens = frozenset(tokens)
            current = repo.revisions.get(revision)
            if current is None:
                current = _Revision(commit_sha=commit_sha or _commit_for(repo_id, revision))
                repo.revisions[revision] = current
            elif commit_sha is not None:
                current.commit_sha = commit_sha
            current.files.update(stored)
            return current.commit_sha

    def add_files(
        self, repo_id: str, files: Mapping[str, bytes | GeneratedFile], *, revision: str = "main"
    ) -> str:
        """Add or replace files of a repo revision (both created if missing); return its sha."""
        return self.add_repo(repo_id, files, revision=revision)

    def add_huge_file(
        self,
        repo_id: str,
        filename: str = "config.json",
        size: int = 50_000_000,
        *,
        revision: str = "main",
        data: Mapping[str, Any] | None = None,
    ) -> str:
        """Add a streamed file of ``size`` bytes (a valid JSON object padded with spaces)."""
        content = GeneratedFile.padded_json(data or {"model_type": "llama"}, size)
        return self.add_files(repo_id, {filename: content}, revision=revision)

    def add_safetensors(
        self,
        repo_id: str,
        tensors: Mapping[str, TensorSpec],
        *,
        revision: str = "main",
        shards: int = 1,
        metadata: Mapping[str, str] | None = None,
    ) -> SafetensorsLayout:
        """Add safetensors weights for ``tensors`` (name -> (dtype, shape)) to a repo revision.

        With ``shards == 1`` this writes ``model.safetensors``; otherwise the tensors are split in
        order into ``model-0000i-of-0000n.safetensors`` plus ``model.safetensors.index.json``
        (``metadata.total_size`` and ``weight_map``). Headers are real safetensors headers
        (``__metadata__`` defaults to ``{"format": "pt"}``); tensor data are zeros, streamed.
        """
        names = list(tensors)
        if not names:
            raise ValueError("no tensors")
        if not 1 <= shards <= len(names):
            raise ValueError(f"cannot split {len(names)} tensors into {shards} shards")
        file_metadata = dict(metadata) if metadata is not None else {"format": "pt"}
        groups: list[list[str]] = []
        base, extra = divmod(len(names), shards)
        start = 0
        for index in range(shards):
            stop = start + base + (1 if index < extra else 0)
            groups.append(names[start:stop])
            start = stop
        files: dict[str, bytes | GeneratedFile] = {}
        sizes: dict[str, int] = {}
        weight_map: dict[str, str] = {}
        total_size = 0
        for index, group in enumerate(groups, start=1):
            filename = (
                SAFETENSORS_SINGLE_FILE
                if shards == 1
                else f"model-{index:05d}-of-{shards:05d}.safetensors"
            )
            content = build_safetensors({name: tensors[name] for name in group}, file_metadata)
            files[filename] = content
            sizes[filename] = content.size
            total_size += content.size - len(content.head)
            weight_map.update(dict.fromkeys(group, filename))
        if shards > 1:
            index_json = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
            files[SAFETENSORS_INDEX_FILE] = json.dumps(index_json, indent=2).encode()
        parameters: dict[str, int] = {}
        for name, (dtype, shape) in tensors.items():
            parameters[dtype] = parameters.get(dtype, 0) + _element_count(name, dtype, shape)
        self.add_files(repo_id, files, revision=revision)
        with self._lock:
            self._repos[repo_id].revisions[revision].parameters = dict(parameters)
        return SafetensorsLayout(
            files=sizes,
            weight_map=weight_map,
            total_size=total_size,
            parameters=parameters,
            sharded=shards > 1,
        )

    def rename_repo(self, old_repo_id: str, new_repo_id: str, *, status: int = 307) -> None:
        """Make every request for ``old_repo_id`` redirect (relative ``Location``) to the new id."""
        with self._lock:
            self._renamed[old_repo_id] = (new_repo_id, status)

    def commit_sha(self, repo_id: str, revision: str = "main") -> str:
        with self._lock:
            found = self._repos[repo_id].resolve(revision)
        if found is None:
            raise KeyError(revision)
        return found.commit_sha

    # -- faults ---------------------------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        *,
        repo_id: str | None = None,
        filename: str | None = None,
        path: str | None = None,
        method: str | Iterable[str] | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Apply ``fault`` to the matching requests; with no filter, to every request.

        ``filename`` and ``path`` are ``fnmatch`` patterns (on the file name inside the repo and
        on the decoded URL path); ``times`` limits the fault to the first ``times`` matching
        requests. Rules are tried in order of injection; the first match wins.
        """
        methods = None
        if method is not None:
            methods = frozenset(
                [method.upper()] if isinstance(method, str) else map(str.upper, method)
            )
        rule = FaultRule(
            fault=fault, repo_id=repo_id, filename=filename, path=path, methods=methods, times=times
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove_fault(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.remove(rule)

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    # -- recorded requests ----------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def requests_for(
        self,
        *,
        method: str | None = None,
        repo_id: str | None = None,
        filename: str | None = None,
        kind: RouteKind | None = None,
        path: str | None = None,
    ) -> list[RecordedRequest]:
        """Recorded requests matching all the given filters (``filename``/``path``: fnmatch)."""
        return [
            request
            for request in self.requests
            if (method is None or request.method == method.upper())
            and (repo_id is None or request.repo_id == repo_id)
            and (kind is None or request.kind == kind)
            and (
                filename is None
                or (
                    request.filename is not None and fnmatch.fnmatchcase(request.filename, filename)
                )
            )
            and (path is None or fnmatch.fnmatchcase(request.path, path))
        ]

    def downloads_of(self, filename: str, repo_id: str | None = None) -> list[RecordedRequest]:
        """``GET`` requests for ``filename`` (pattern) that asked for the whole file (no Range)."""
        return [
            request
            for request in self.requests_for(method="GET", filename=filename)
            if request.kind in ("resolve", "cdn")
            and request.range is None
            and (repo_id is None or request.repo_id in (repo_id, None))
        ]

    # -- internals used by the handler ----------------------------------------------------

    def _register(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections[connection] = threading.current_thread()

    def _unregister(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.pop(connection, None)

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def _record_error(self) -> None:
        error = sys.exc_info()[1]
        if error is None or isinstance(error, (_Abort, ConnectionError, TimeoutError)):
            return
        if isinstance(error, OSError) and self._closing.is_set():
            return
        self.errors.append(error)

    def _take_fault(self, record: RecordedRequest) -> FaultRule | None:
        if record.path == "/api/agent-harnesses":
            return None
        with self._lock:
            for rule in self._rules:
                if rule.matches(record):
                    rule.hits += 1
                    return rule
        return None

    def _common_headers(self) -> list[tuple[str, str]]:
        return [("X-Request-Id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}")]

    def _json(self, status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> _Response:
        body = json.dumps(data).encode()
        all_headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            *headers,
            *self._common_headers(),
        ]
        return _Response(status, all_headers, body)

    def _error(self, fault: Fault, extra_headers: Iterable[tuple[str, str]] = ()) -> _Response:
        return _Response(
            fault.status, [*fault.headers, *extra_headers, *self._common_headers()], fault.body
        )

    def _respond(self, record: RecordedRequest, extra: list[str]) -> _Response:
        if record.path == "/api/agent-harnesses":
            return self._json(200, {"standardEnvVars": [], "harnesses": {}})
        if record.kind == "cdn":
            return self._respond_cdn(record, extra[0])
        if record.kind in ("other", "api_other") or record.repo_id is None:
            return self._json(404, {"error": "Not Found"})
        with self._lock:
            renamed = self._renamed.get(record.repo_id)
            repo = self._repos.get(record.repo_id)
        if renamed is not None:
            return self._redirect_renamed(record, *renamed)
        if repo is None or (repo.private and not repo.authorized(record.token)):
            return self._error(Fault.repo_not_found(401 if record.token is None else 404))
        if record.kind == "resolve":
            return self._respond_resolve(record, repo)
        if record.kind == "api_safetensors":
            return self._respond_safetensors_metadata(record, repo)
        revision_name = record.revision or "main"
        with self._lock:
            revision = repo.resolve(revision_name)
        if revision is None:
            return self._error(Fault.revision_not_found(revision_name))
        if record.kind == "api_tree":
            return self._respond_tree(record, revision)
        return self._json(200, self._model_info(record, repo, revision))

    def _redirect_renamed(
        self, record: RecordedRequest, new_repo_id: str, status: int
    ) -> _Response:
        old = "/" + quote(record.repo_id or "")
        new = "/" + quote(new_repo_id)
        split = urlsplit(record.target)
        location = split.path
        if location.startswith("/api/models" + old + "/") or location == "/api/models" + old:
            location = "/api/models" + new + location[len("/api/models" + old) :]
        elif location.startswith(old + "/"):
            location = new + location[len(old) :]
        if split.query:
            location += "?" + split.query
        return _Response(status, [("Location", location), *self._common_headers()])

    def _respond_resolve(self, record: RecordedRequest, repo: _Repo) -> _Response:
        if not repo.authorized(record.token):
            fault = Fault.gated(authenticated=record.token is not None)
            template = _GATED_DENIED if record.token is not None else _GATED_ANONYMOUS
            message = template.format(repo_id=repo.repo_id, url=self.url)
            headers = [(n, message if n == "X-Error-Message" else v) for n, v in fault.headers]
            body = json.dumps({"error": message}).encode()
            return _Response(fault.status, [*headers, *self._common_headers()], body)
        revision_name = record.revision or "main"
        with self._lock:
            revision = repo.resolve(revision_name)
        if revision is None:
            return self._error(Fault.revision_not_found(revision_name))
        commit_header = ("X-Repo-Commit", revision.commit_sha)
        stored = revision.files.get(record.filename or "")
        if stored is None:
            return self._error(Fault.entry_not_found(), [commit_header])
        if stored.lfs and self.lfs_via_cdn:
            location = f"{self.cdn_url}/_cdn/{stored.sha256}/{quote(record.filename or '')}"
            headers = [
                ("Location", location),
                commit_header,
                ("X-Linked-Etag", f'"{stored.sha256}"'),
                ("X-Linked-Size", str(stored.size)),
                ("ETag", f'"{stored.git_sha}"'),
                *self._common_headers(),
            ]
            return _Response(302, headers, b"Found. Redirecting to " + location.encode())
        return self._file_response(record, stored, [commit_header])

    def _respond_cdn(self, record: RecordedRequest, sha256: str) -> _Response:
        with self._lock:
            found = next(
                (
                    stored
                    for repo in self._repos.values()
                    for revision in repo.revisions.values()
                    for stored in revision.files.values()
                    if stored.sha256 == sha256
                ),
                None,
            )
        if found is None:
            return _Response(404, [("Content-Type", "text/plain")], b"NoSuchKey")
        return self._file_response(record, found, [])

    def _file_response(
        self, record: RecordedRequest, stored: _StoredFile, headers: list[tuple[str, str]]
    ) -> _Response:
        base = [
            *headers,
            ("ETag", f'"{stored.etag}"'),
            ("Accept-Ranges", "bytes"),
            ("Content-Type", _content_type(record.filename or "")),
            *self._common_headers(),
        ]
        wanted = _parse_range(record.range, stored.size) if record.method == "GET" else None
        if wanted == "invalid":
            return _Response(416, [*base, ("Content-Range", f"bytes */{stored.size}")])
        if wanted is None:
            return _Response(200, base, file=stored, start=0, end=stored.size)
        start, end = wanted
        content_range = ("Content-Range", f"bytes {start}-{end - 1}/{stored.size}")
        return _Response(206, [*base, content_range], file=stored, start=start, end=end)

    def _model_info(
        self, record: RecordedRequest, repo: _Repo, revision: _Revision
    ) -> dict[str, Any]:
        blobs = record.query.get("blobs", ["false"])[-1].lower() in ("1", "true")
        siblings: list[dict[str, Any]] = []
        for name in sorted(revision.files):
            stored = revision.files[name]
            sibling: dict[str, Any] = {"rfilename": name}
            if blobs:
                sibling["blobId"] = stored.git_sha
                sibling["size"] = stored.size
                if stored.lfs:
                    sibling["lfs"] = {
                        "sha256": stored.sha256,
                        "size": stored.size,
                        "pointerSize": _LFS_POINTER_SIZE,
                    }
            siblings.append(sibling)
        info: dict[str, Any] = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
            "sha": revision.commit_sha,
            "lastModified": _FIXED_DATE,
            "createdAt": _FIXED_DATE,
            "private": repo.private,
            "gated": "manual" if repo.gated else False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "spaces": [],
            "usedStorage": sum(stored.size for stored in revision.files.values()),
        }
        config = revision.files.get("config.json")
        if config is not None and isinstance(config.content, bytes):
            try:
                parsed = json.loads(config.content)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                info["config"] = {
                    key: parsed[key] for key in ("architectures", "model_type") if key in parsed
                }
        if revision.parameters:
            info["safetensors"] = {
                "parameters": dict(revision.parameters),
                "total": sum(revision.parameters.values()),
            }
        return info

    def _respond_tree(self, record: RecordedRequest, revision: _Revision) -> _Response:
        prefix = (record.filename or "").strip("/")
        recursive = record.query.get("recursive", ["false"])[-1].lower() in ("1", "true")
        entries: list[dict[str, Any]] = []
        directories: set[str] = set()
        for name in sorted(revision.files):
            if prefix and not name.startswith(prefix + "/"):
                continue
            relative = name[len(prefix) + 1 :] if prefix else name
            if "/" in relative and not recursive:
                directory = (prefix + "/" if prefix else "") + relative.split("/")[0]
                if directory not in directories:
                    directories.add(directory)
                    oid = hashlib.sha1(directory.encode()).hexdigest()
                    entries.append({"type": "directory", "oid": oid, "size": 0, "path": directory})
                continue
            stored = revision.files[name]
            entry: dict[str, Any] = {
                "type": "file",
                "oid": stored.git_sha,
                "size": stored.size,
                "path": name,
            }
            if stored.lfs:
                entry["lfs"] = {
                    "oid": stored.sha256,
                    "size": stored.size,
                    "pointerSize": _LFS_POINTER_SIZE,
                }
            entries.append(entry)
        if prefix and not entries:
            return self._error(Fault.entry_not_found())
        return self._json(200, entries)

    def _respond_safetensors_metadata(self, record: RecordedRequest, repo: _Repo) -> _Response:
        with self._lock:
            revision = repo.resolve("main")
        index = revision.files.get(record.filename or "") if revision is not None else None
        if revision is None or index is None or not isinstance(index.content, bytes):
            return self._error(Fault.entry_not_found())
        index_json = json.loads(index.content)
        headers: dict[str, Any] = {}
        for shard in sorted(set(index_json.get("weight_map", {}).values())):
            stored = revision.files.get(shard)
            if stored is None or not isinstance(stored.content, GeneratedFile):
                return self._error(Fault.entry_not_found())
            head = stored.content.head
            (length,) = struct.unpack("<Q", head[:8])
            headers[shard] = json.loads(head[8 : 8 + length])
        return self._json(200, {"index": index_json, "headers": headers})


# --------------------------------------------------------------------------------------------
# Environment of the processes under test
# --------------------------------------------------------------------------------------------

_REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

# Variables that would make a subprocess go offline or through a proxy. Every HF_*, HUGGINGFACE_*
# and HUGGING_FACE_* variable (endpoint, cache, token, offline mode, ...) is dropped too.
_DROPPED = frozenset(
    {
        "TRANSFORMERS_OFFLINE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    }
)
_DROPPED_PREFIXES = ("HF_", "HUGGINGFACE_", "HUGGING_FACE_")


def hub_environment(
    endpoint: str,
    hf_home: Path,
    *,
    base: Mapping[str, str] | None = None,
    etag_timeout: int = 2,
    download_timeout: int = 2,
    token: str | None = None,
    offline: bool = False,
) -> dict[str, str]:
    """Environment for a subprocess that must talk only to ``endpoint``.

    Starts from ``base`` (default: ``os.environ``) without any Hugging Face, proxy or offline
    variable, then sets ``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_CACHE`` (``hf_home/hub``), disables
    telemetry, progress bars and update checks, and sets ``HF_HUB_ETAG_TIMEOUT`` and
    ``HF_HUB_DOWNLOAD_TIMEOUT``. These two must be whole seconds: ``huggingface_hub`` parses them
    with ``int()`` when it is imported (``"0.5"`` makes the import fail), treats ``0`` as unset,
    and lets ``HF_HUB_ETAG_TIMEOUT`` override the ``etag_timeout`` argument of
    ``hf_hub_download`` whenever it differs from 10.
    """
    source = os.environ if base is None else base
    env = {
        name: value
        for name, value in source.items()
        if name not in _DROPPED and not name.startswith(_DROPPED_PREFIXES)
    }
    env.update(
        {
            "HF_ENDPOINT": endpoint,
            "HF_HOME": str(hf_home),
            "HF_HUB_CACHE": str(hf_home / "hub"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
            "HF_HUB_DISABLE_SYMLINKS_WARNING": "1",
            "HF_HUB_ETAG_TIMEOUT": str(int(etag_timeout)),
            "HF_HUB_DOWNLOAD_TIMEOUT": str(int(download_timeout)),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    if token is not None:
        env["HF_TOKEN"] = token
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return env


@dataclass
class HubContext:
    """A running local Hub, an empty ``HF_HOME`` and the environment to reach them."""

    server: HubServer
    home: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def cache_dir(self) -> Path:
        """The ``HF_HUB_CACHE`` of :attr:`env` (``home/hub``); created on first download."""
        return self.home / "hub"

    def env_with(self, **changes: str | None) -> dict[str, str]:
        """A copy of :attr:`env` with variables set (or removed when ``None``).

        Example: ``hub.env_with(HF_TOKEN="hf_x", HF_HUB_OFFLINE="1")``.
        """
        env = dict(self.env)
        for name, value in changes.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def kvcalc(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
        cwd: Path | str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m kvcalc ARGS`` from the repository root against this Hub.

        Uses :attr:`env` (or ``env``) as given, plus ``PYTHONPATH`` set to the repository.
        """
        base = dict(self.env if env is None else env)
        base["PYTHONPATH"] = str(_REPOSITORY_ROOT)
        return self.run(
            [sys.executable, "-m", "kvcalc", *args],
            env=base,
            timeout=timeout,
            cwd=_REPOSITORY_ROOT if cwd is None else cwd,
        )

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
        input: str | None = None,
        cwd: Path | str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` with :attr:`env` (or ``env``), capturing text output; never raises on exit
        status (check ``returncode``), raises ``subprocess.TimeoutExpired`` after ``timeout``."""
        return subprocess.run(
            list(argv),
            env=dict(self.env if env is None else env),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            check=False,
        )
