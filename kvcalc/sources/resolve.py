"""Resolving a model reference (preset, local file or folder, hub id) to its raw config."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path

from kvcalc.errors import ConfigError, InputError, ModelNotFoundError
from kvcalc.sources.presets import Preset, close_names, find_preset
from kvcalc.values import value

_HUB_ID = r"[A-Za-z0-9][\w.-]*/[\w.-]+"
_HUB_GGUF = r"(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+):(?P<file>[\w./-]+\.gguf)"
CONFIG_MAX_BYTES = 4 * 1024 * 1024  # real configs are a few KiB; anything this big is not one


@value
class ModelSource:
    """Where a config came from, the parsed JSON, and notes for the user."""

    name: str
    kind: str  # "preset", "file" or "hub"
    location: str
    config: object
    notes: tuple[str, ...] = ()
    reference: str = ""  # what the user named, where a preset stands in for it (an alias)


@value
class HubOptions:
    """How to reach the hub: revision, token (None: the client's own lookup), timeout."""

    revision: str | None = None
    token: str | None = None
    timeout: float = 10.0


def resolve(reference: str, hub: HubOptions | None = None) -> ModelSource:
    """The config that `reference` names: a path, a preset, or a hub repo id, in that order."""
    hub = hub or HubOptions()
    if not reference.strip():
        # Path("") is the current directory: an unset shell variable must not read ./config.json.
        raise InputError(
            "the model argument is empty; give a preset name, a config.json or folder, or a hub id"
        )
    path = Path(reference).expanduser()
    if _exists(path):
        return _local(path)
    preset = find_preset(reference)
    if preset is not None and "/" not in reference:
        return _preset(preset, reference=reference)
    # Compiled here, past the paths and presets that most runs name (re's cache keeps them).
    gguf = re.fullmatch(_HUB_GGUF, reference, re.IGNORECASE)
    if gguf:
        return _hub_gguf(gguf["repo"], gguf["file"], hub)
    if re.fullmatch(_HUB_ID, reference) and not reference.endswith(".json"):
        return _hub(reference, hub, preset)
    if "/" in reference or reference.endswith(".json"):
        raise ModelNotFoundError(f"no such file or directory: {reference}")
    suggestions = close_names(reference)
    hint = f"; did you mean {' or '.join(suggestions)}?" if suggestions else ""
    raise ModelNotFoundError(
        f"unknown model {reference!r}: not a preset (see `kvcalc presets`), "
        f"a local path, or a hub id like org/name{hint}"
    )


def _exists(path: Path) -> bool:
    """Whether `path` names something; a symlink loop or a denied path is an error of its own."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return False
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            return False  # too long to be a path: the reference is something else
        raise ModelNotFoundError(f"cannot read {path}: {error.strerror}") from None
    return True


def _local(path: Path) -> ModelSource:
    weights = _weights_file(path) if path.is_file() else None
    if weights is not None:
        return weights
    file = path / "config.json" if path.is_dir() else path
    if not _exists(file):
        raise ModelNotFoundError(f"directory {path} has no config.json")
    return ModelSource(str(path), "file", str(file), read_config_file(file))


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)  # fmt: skip


def _require_regular_file(file: Path) -> None:
    """A FIFO would block the read and /dev/zero never end it: only regular files are read."""
    mode = file.stat().st_mode
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
        raise ModelNotFoundError(f"{file} is {kind}, not a config.json file")


def _weights_file(file: Path) -> ModelSource | None:
    """A GGUF file (its header is the config), or safetensors weights (the config beside them)."""
    if not file.name.lower().endswith(".json"):  # never GGUF (is_gguf): its modules not needed
        from kvcalc.model.dialects.gguf import gguf_notes
        from kvcalc.sources.gguf import is_gguf, read_gguf_file

        if is_gguf(file):
            header = read_gguf_file(file)
            return ModelSource(str(file), "file", str(file), header, gguf_notes(header))
    if not file.name.lower().endswith((".safetensors", ".safetensors.index.json")):
        return None
    config = file.parent / "config.json"
    if not config.is_file():
        raise ModelNotFoundError(
            f"{file} holds weights, not a config: kvcalc reads the config.json beside it, "
            f"and {file.parent} has none"
        )
    return ModelSource(str(file), "file", str(config), read_config_file(config))


def _hub_gguf(repo_id: str, filename: str, hub: HubOptions) -> ModelSource:
    from kvcalc.model.dialects.gguf import gguf_notes
    from kvcalc.sources.gguf_hub import read_hub_header

    header = read_hub_header(repo_id, filename, hub)
    revision = f"@{hub.revision}" if hub.revision else ""
    location = f"{repo_id}{revision}:{filename}"
    return ModelSource(f"{repo_id}:{filename}", "hub", location, header, gguf_notes(header))


def _preset(preset: Preset, notes: tuple[str, ...] = (), reference: str = "") -> ModelSource:
    config = read_config_file(preset.path)
    return ModelSource(preset.name, "preset", preset.hub_id, config, notes, reference)


def _hub(repo_id: str, hub: HubOptions, preset: Preset | None) -> ModelSource:
    check_hub_environment()
    from kvcalc.sources.hub import HubNotFoundError, HubUnavailableError, download_config

    try:
        file = download_config(repo_id, hub.revision, hub.token, hub.timeout, CONFIG_MAX_BYTES)
    except HubUnavailableError as error:
        # Without an explicit revision, a bundled copy of the same repo's config is as good.
        if preset is None or hub.revision is not None:
            raise
        note = f"{error}; using the bundled config of {preset.hub_id}"
        return _preset(preset, (note,), reference=repo_id)
    location = f"{repo_id}@{hub.revision}" if hub.revision else repo_id
    try:
        config = read_config_file(Path(file))
    except ConfigError as error:
        # Not JSON from the hub is a hub failure (an HTML error page, a proxy), not bad input.
        raise HubNotFoundError(f"{location}: the hub's config.json is unusable: {error}") from None
    return ModelSource(repo_id, "hub", location, config)


def check_hub_environment() -> None:
    """Settings huggingface_hub reads at import, checked first: it would fail with a traceback
    (and print on stdout) on a timeout that is not an integer or an endpoint that is no URL."""
    for name in ("HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_ETAG_TIMEOUT"):
        value = os.environ.get(name, "").strip()
        if value and not (value.isascii() and value.isdigit() and len(value) < 10):
            raise InputError(f"{name} must be a whole number of seconds, got {value[:40]!r}")
    endpoint = os.environ.get("HF_ENDPOINT")
    if endpoint is not None:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(endpoint.strip())
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018  (raises ValueError on a port out of range)
        except ValueError:
            valid = False
        if not valid:
            # Not echoed: an endpoint may carry credentials.
            raise InputError("HF_ENDPOINT is set but is not an http:// or https:// URL")


def read_config_file(file: Path) -> object:
    """The parsed JSON of `file`; unreadable or malformed files are one-line errors."""
    try:
        _require_regular_file(file)
        with file.open("rb") as handle:
            data = handle.read(CONFIG_MAX_BYTES + 1)  # bounded even if the file grows meanwhile
        if len(data) > CONFIG_MAX_BYTES:
            raise ConfigError(f"{file} is over {CONFIG_MAX_BYTES:,} bytes: not a config.json")
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{file} is not UTF-8 text") from None
    except OSError as error:
        raise ModelNotFoundError(f"cannot read {file}: {error.strerror}") from None
    return parse_config_text(text, str(file))


def parse_config_text(text: str, name: str) -> object:
    """JSON text to a value; malformed, too deeply nested or huge-number JSON is a ConfigError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{name} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise ConfigError(f"{name} is nested too deeply to be a config.json") from None
    except ValueError:  # an integer past Python's 4,300-digit conversion limit
        raise ConfigError(f"{name} holds a number too long to be a config value") from None
