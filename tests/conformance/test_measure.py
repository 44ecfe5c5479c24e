"""Self-tests of the measuring side: shrinking keeps the cache, and a few known shapes.

Skipped where torch or transformers is not installed, or the shared configs are not beside the
checkout. About ten seconds on two cores.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.conformance.families import FAMILIES, Family, by_name
from tests.conformance.measure import (
    _cache_signature,
    _cache_signature_prefix,
    layers_to_keep,
    measure,
    shrink_config,
)


def test_layers_to_keep_periodic_and_not() -> None:
    assert layers_to_keep(["a"] * 32) == 2
    assert layers_to_keep(["s", "f"] * 18) == 2
    assert layers_to_keep((["s"] * 5 + ["f"]) * 5 + ["s"] * 4) == 6
    nemotron_h_56b = "M-M-M-M*" + "-M-M-M-M-M*" * 9 + "-M-M-M-M-M-"
    assert len(nemotron_h_56b) == 118
    assert layers_to_keep(list(nemotron_h_56b)) == 8
    assert layers_to_keep(["a"]) == 1


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.supported], ids=lambda f: f.name)
def test_shrink_keeps_every_cache_attribute(family: Family) -> None:
    original = family.load()
    shrunk = shrink_config(original)
    assert _cache_signature(shrunk) == _cache_signature_prefix(original, shrunk)
    assert original == family.load(), "shrinking must not change the dict it was given"
    assert shrink_config(shrunk) == shrunk, "a shrunk config is already as small as it gets"


def test_sliding_layers_keep_window_minus_one() -> None:
    m = measure(by_name("gpt_oss").load(), seq=130, batch=2)
    sliding, full = m.layers
    assert sliding.layer_class == "DynamicSlidingWindowLayer"
    assert sliding.tensor("keys").shape == (2, 8, 127, 64)  # type: ignore[union-attr]
    assert full.tensor("keys").shape == (2, 8, 130, 64)  # type: ignore[union-attr]
    assert m.bytes == 2 * 2 * 8 * 64 * 2 * (127 + 130)
    assert m.storage_bytes == 2 * 2 * 8 * 64 * 2 * (130 + 130)


def test_mla_caches_the_latent() -> None:
    m = measure(by_name("deepseek_v2").load(), seq=7, batch=3)
    assert [(t.name, t.shape) for t in m.layers[0].tensors] == [
        ("keys", (3, 1, 7, 512)),
        ("values", (3, 1, 7, 64)),
    ]
    assert m.bytes == len(m.layers) * 3 * 7 * (512 + 64) * 2


def test_encoder_decoder_cross_attention() -> None:
    m = measure(by_name("t5").load(), seq=5, batch=2, enc_seq=11, dtype="float32")
    parts = [(layer.part, layer.tensor("values").shape) for layer in m.layers]  # type: ignore[union-attr]
    assert parts == [
        ("self", (2, 8, 5, 64)),
        ("self", (2, 8, 5, 64)),
        ("cross", (2, 8, 11, 64)),
        ("cross", (2, 8, 11, 64)),
    ]
    assert m.bytes == 2 * 2 * 8 * 64 * 4 * (2 * 5 + 2 * 11)
