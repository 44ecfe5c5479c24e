"""kvcalc's llama.cpp rule against the sizes the real engine printed.

tests/engines_recorded/llamacpp.json holds what llama.cpp (llama-cpp-python 0.3.36, vendored
commit 0c1e57098) logged when it loaded shrunk GGUF models of real configs: every
`llama_kv_cache` and `llama_memory_recurrent` line, for n_ctx, n_seq_max, kv_unified,
swa_full, n_ubatch and cache types. Regenerate with tests/engines_recorded/record_llamacpp.py
(see the README there); this test needs no llama.cpp.

Rules proven (docs/engines.md §3): n_ctx padding and streams (`llama_context` ctor), the
unified and per-stream SWA cache (`llama_kv_cache_iswa`), MLA K-only rows, ggml block types,
T5's decoder-only cache, f32 recurrent rows (`llama_memory_recurrent`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from kvcalc.engines.kvbytes import Workload
from kvcalc.engines.llamacpp import Context, cache_groups
from kvcalc.model.architecture import Architecture, LayerKind
from kvcalc.model.dialects import read_architecture
from kvcalc.model.dtypes import parse_dtype
from kvcalc.values import replace
from tests.helpers import FIXTURE_CONFIGS

RECORDED = Path(__file__).parent / "engines_recorded" / "llamacpp.json"
DATA = json.loads(RECORDED.read_text(encoding="utf-8"))
MIB = 2**20


def shrunk(case: dict[str, Any]) -> Architecture:
    """The config the recording shrank: the real widths, the recorded layer count."""
    raw = json.loads((FIXTURE_CONFIGS / case["config"]).read_text(encoding="utf-8"))
    config = copy.deepcopy(raw)
    target = config.get("text_config", config)
    hp = case["hparams"]
    if case["architecture"] == "t5":
        target["num_layers"] = hp["n_layer"]
        target["num_decoder_layers"] = hp["n_dec_layer"]
    else:
        target["num_hidden_layers"] = hp["n_layer"]
    if "pattern" in hp:
        target["hybrid_override_pattern"] = hp["pattern"]
    return read_architecture(config)


LOADS = [
    pytest.param(case, load, id=f"{case['architecture']}-{index}")
    for case in DATA["cases"]
    for index, load in enumerate(case["loads"])
    if load["kv_caches"] or load["recurrent"]
]


def mib(size: int) -> str:
    return f"{size / MIB:.2f}"


@pytest.mark.parametrize(("case", "load"), LOADS)
def test_kvcalc_equals_what_llama_cpp_allocated(case: dict[str, Any], load: dict[str, Any]) -> None:
    architecture = shrunk(case)
    asked = load["load"]
    dtype = parse_dtype(asked["type_k"])
    assert asked["type_k"] == asked["type_v"]
    context = Context.of(asked["n_ctx"], asked["n_seq_max"], asked["kv_unified"],
                         asked["n_ubatch"])  # fmt: skip
    context = replace(context, swa_full=asked["swa_full"])
    groups = cache_groups(architecture, Workload(asked["n_seq_max"], asked["n_ctx"]), dtype,
                          context)  # fmt: skip
    sliding = sum(g.total_bytes for g in groups if g.group.kind is LayerKind.SLIDING)
    full = sum(g.total_bytes for g in groups if g.group.attention is not None) - sliding
    states = sum(g.total_bytes for g in groups if g.group.state is not None)
    caches = load["kv_caches"]
    if load["iswa"]:
        named = zip(load["iswa"], caches, strict=True)
        recorded = {entry["cache"]: cache for entry, cache in named}
        expected = {"non-SWA": full, "SWA": sliding}
    else:
        assert len(caches) <= 1
        recorded = {"kv": caches[0]} if caches else {}
        expected = {"kv": full + sliding}
    for name, cache in recorded.items():
        if cache["bytes"] is not None:
            assert expected[name] == cache["bytes"], (name, cache["line"])
        assert mib(expected[name]) == cache["size_mib"], (name, cache["line"])
        assert cache["streams"] == context.streams
    for recurrent in load["recurrent"]:
        # R and S are printed to 0.01 MiB each; their sum is the size line's figure.
        assert abs(states / MIB - float(recurrent["size_mib"])) <= 0.01, recurrent["line"]


def test_every_recorded_case_is_checked() -> None:
    assert {case["architecture"] for case in DATA["cases"]} >= {
        "llama", "gemma2", "gemma3", "deepseek2", "nemotron_h", "t5"
    }  # fmt: skip
    assert len(LOADS) >= 80
