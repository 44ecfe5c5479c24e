"""Resolving a model reference (preset, local file or folder, hub id) to its raw config."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from kvcalc.errors import ConfigError, ModelNotFoundError
from kvcalc.sources.presets import Preset, close_names, find_preset

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
CONFIG_MAX_BYTES = 4 * 1024 * 1024  # real configs are a few KiB; anything this big is not one


@dataclass(frozen=True)
class ModelSource:
    """Where a config came from, the parsed JSON, and notes for the user."""

    name: str
    kind: str  # "preset", "file" or "hub"
    location: str
    config: object
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class HubOptions:
    """How to reach the hub: revision, token (None: the client's own lookup), timeout."""

    revision: str | None = None
    token: str | None = None
    timeout: float = 10.0


def resolve(reference: str, hub: HubOptions | None = None) -> ModelSource:
    """The config that `reference` names: a path, a preset, or a hub repo id, in that order."""
    hub = hub or HubOptions()
    path = Path(reference).expanduser()
    if path.exists():
        return _local(path)
    preset = find_preset(reference)
    if preset is not None and "/" not in reference:
        return _preset(preset)
    if _HUB_ID.fullmatch(reference) and not reference.endswith(".json"):
        return _hub(reference, hub, preset)
    if "/" in reference or reference.endswith(".json"):
        raise ModelNotFoundError(f"no such file or directory: {reference}")
    suggestions = close_names(reference)
    hint = f"; did you mean {' or '.join(suggestions)}?" if suggestions else ""
    raise ModelNotFoundError(
        f"unknown model {reference!r}: not a preset (see `kvcalc presets`), "
        f"a local path, or a hub id like org/name{hint}"
    )


def _local(path: Path) -> ModelSource:
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise ModelNotFoundError(f"directory {path} has no config.json")
    return ModelSource(str(path), "file", str(file), read_config_file(file))


def _preset(preset: Preset, notes: tuple[str, ...] = ()) -> ModelSource:
    return ModelSource(preset.name, "preset", preset.hub_id, read_config_file(preset.path), notes)


def _hub(repo_id: str, hub: HubOptions, preset: Preset | None) -> ModelSource:
    from kvcalc.sources.hub import HubNotFoundError, HubUnavailableError, download_config

    try:
        file = download_config(repo_id, hub.revision, hub.token, hub.timeout, CONFIG_MAX_BYTES)
    except HubUnavailableError as error:
        # Without an explicit revision, a bundled copy of the same repo's config is as good.
        if preset is None or hub.revision is not None:
            raise
        return _preset(preset, (f"{error}; using the bundled config of {preset.hub_id}",))
    location = f"{repo_id}@{hub.revision}" if hub.revision else repo_id
    try:
        config = read_config_file(Path(file))
    except ConfigError as error:
        # Not JSON from the hub is a hub failure (an HTML error page, a proxy), not bad input.
        raise HubNotFoundError(f"{location}: the hub's config.json is unusable: {error}") from None
    return ModelSource(repo_id, "hub", location, config)


def read_config_file(file: Path) -> object:
    """The parsed JSON of `file`; unreadable or malformed files are one-line errors."""
    try:
        if file.stat().st_size > CONFIG_MAX_BYTES:
            raise ConfigError(f"{file} is over {CONFIG_MAX_BYTES:,} bytes: not a config.json")
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{file} is not UTF-8 text") from None
    except OSError as error:
        raise ModelNotFoundError(f"cannot read {file}: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{file} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
