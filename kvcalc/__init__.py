"""kvcalc: exact KV-cache memory of large language models, from their config.json."""

from __future__ import annotations

from importlib import import_module

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from kvcalc.errors import KvcalcError
    from kvcalc.model.architecture import (
        Architecture,
        Attention,
        AttentionKind,
        LayerGroup,
        LayerKind,
    )
    from kvcalc.planning.estimation import Estimate, estimate, load_model

__all__ = [
    "Architecture",
    "Attention",
    "AttentionKind",
    "Estimate",
    "KvcalcError",
    "LayerGroup",
    "LayerKind",
    "estimate",
    "load_model",
]
__version__ = "0.1.0"

# Imported on first use, so that `import kvcalc` (which every entry point runs first) costs
# nothing before the command line has set up its Ctrl-C handling.
_HOMES = {
    "KvcalcError": "kvcalc.errors",
    **dict.fromkeys(
        ("Architecture", "Attention", "AttentionKind", "LayerGroup", "LayerKind"),
        "kvcalc.model.architecture",
    ),
    **dict.fromkeys(("Estimate", "estimate", "load_model"), "kvcalc.planning.estimation"),
}


def __getattr__(name: str) -> object:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'kvcalc' has no attribute {name!r}")
