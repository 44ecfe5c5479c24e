"""The HF cache (HF_HUB_CACHE) read and written in the client's layout, with checked names.

A repo's files live in `models--org--name/snapshots/<commit>/<file>` and a branch or tag
points to its commit in `refs/<revision>`, as `huggingface_hub` lays them out, so either tool
finds what the other stored. Only names checked here (a 40-hex commit, a valid revision, a
plain file name) become paths, every path is checked to stay inside the cache, and a file
appears only complete (written to a temporary name, then renamed).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from kvcalc.errors import InputError

COMMIT = re.compile(r"[0-9a-f]{40}")
_REF_MAX_BYTES = 1024
_FORBIDDEN_IN_REVISION = set(" ~^:?*[\\") | {chr(code) for code in (*range(0x20), 0x7F)}


class CacheEscapeError(InputError):
    """A cache path that would leave the cache (a planted symlink, a hostile name)."""


def check_revision(revision: str | None) -> None:
    """A branch, tag or commit name by git's rules (`git check-ref-format`), else an error.

    Besides git's rules this keeps a revision from ever naming a path: no `..`, no leading
    `/`, no backslash, no control character.
    """
    if revision is None:
        return
    parts = revision.split("/")
    valid = (
        0 < len(revision) <= 255
        and not _FORBIDDEN_IN_REVISION.intersection(revision)
        and ".." not in revision
        and "@{" not in revision
        and revision != "@"
        and not revision.endswith((".", ".lock"))
        and all(part and not part.startswith(".") for part in parts)
    )
    if not valid:
        raise InputError(
            f"--revision {revision!r} is not a branch, tag or commit name (git's ref-name "
            "rules: no '..', no leading or trailing '/', no spaces or control characters)"
        )


def check_file_name(name: str) -> None:
    """A plain file name: no folder, no `..`, no control character."""
    if not name or name.startswith(".") or "/" in name or "\\" in name or not name.isprintable():
        raise CacheEscapeError(f"{name!r} is not a plain file name")


def repo_folder(repo_id: str) -> Path:
    """`HF_HUB_CACHE/models--org--name` (the repo id was checked by the client's rules)."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type="model")


def cached_file(repo_id: str, revision: str | None, filename: str) -> Path | None:
    """The cached copy of `filename` at `revision` (a commit, or a ref read from the cache)."""
    folder = repo_folder(repo_id)
    commit = revision if revision and COMMIT.fullmatch(revision) else None
    if commit is None:
        ref = folder / "refs" / (revision or "main")
        try:
            with ref.open("rb") as stream:
                text = stream.read(_REF_MAX_BYTES).decode("ascii", "replace").strip()
        except OSError:
            return None
        commit = text if COMMIT.fullmatch(text) else None
    if commit is None:
        return None
    path = folder / "snapshots" / commit / filename
    return path if path.is_file() and _inside(path, folder) else None


def store_file(repo_id: str, revision: str | None, commit: str, filename: str, data: bytes) -> Path:
    """Write `data` as `filename` of `commit`, and `revision`'s ref; return the file's path."""
    check_file_name(filename)
    if not COMMIT.fullmatch(commit):
        raise CacheEscapeError(f"{commit!r} is not a commit hash")
    folder = repo_folder(repo_id)
    path = folder / "snapshots" / commit / filename
    _write_atomically(path, data, folder)
    store_ref(repo_id, revision, commit)
    return path


def store_ref(repo_id: str, revision: str | None, commit: str) -> None:
    """Record that branch or tag `revision` (None: main) is at `commit`."""
    if revision == commit or not COMMIT.fullmatch(commit):
        return
    check_revision(revision)
    folder = repo_folder(repo_id)
    ref = folder / "refs" / (revision or "main")
    try:
        if ref.read_bytes().strip() == commit.encode():
            return
    except OSError:
        pass
    _write_atomically(ref, commit.encode(), folder)


def _write_atomically(path: Path, data: bytes, root: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _inside(path, root):
        raise CacheEscapeError(f"{path} would be outside {root}")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.incomplete")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def _inside(path: Path, root: Path) -> bool:
    """`path`'s folder, symlinks resolved, is `root` or below it."""
    return path.parent.resolve().is_relative_to(root.resolve())
