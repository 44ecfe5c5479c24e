"""kvcalc: exact KV-cache memory of large language models, from their config.json."""

from kvcalc.errors import KvcalcError
from kvcalc.model.architecture import Architecture, Attention, AttentionKind, LayerGroup, LayerKind
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
