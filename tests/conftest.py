"""Shared fixtures: the real configs in tests/fixtures/configs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import FIXTURE_CONFIGS


def fixture_config(name: str) -> dict[str, object]:
    """A verbatim config from tests/fixtures/configs."""
    path = FIXTURE_CONFIGS / name
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def fixture_config_path(name: str) -> Path:
    path = FIXTURE_CONFIGS / name
    if not path.exists():
        raise FileNotFoundError(path)
    return path
