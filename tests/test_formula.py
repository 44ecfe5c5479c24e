"""`--explain` prints arithmetic a reader can redo: every formula line multiplies out to the
total it states, for every preset under every engine (padded vLLM groups, DeepSeek V4's
compressed layers, Mamba pools and SGLang's page-rounded pools included).

The lines that can be wrong are those whose factors the renderer spells out: vLLM's blocks x
groups x bytes of a block id, and K, V, heads and head dims from the architecture (a shared K=V
row once, not twice); the test counts them so that it is seen to cover them."""

from __future__ import annotations

import re

import pytest

from kvcalc.engines import ENGINES
from kvcalc.errors import KvcalcError
from kvcalc.planning.estimation import estimate, load_model
from kvcalc.render.formula import group_formula
from kvcalc.sources.presets import all_presets

_WORDS = re.compile(r"\([^()]*[A-Za-z][^()]*\)")  # "(3 Mamba-pool slot(s) ...)" and the like


def product_of(left: str) -> int:
    """The value of a formula's left side: factors joined by " x ", each a count (with commas,
    maybe a unit or a label after it) or a parenthesised sum such as (512 + 64)."""
    while _WORDS.search(left):
        left = _WORDS.sub("", left)
    product = 1
    for factor in left.split(" x "):
        number = re.match(r"\s*\(?([0-9,]+(?: \+ [0-9,]+)*)\)?", factor)
        assert number is not None, f"not a number: {factor!r}"
        product *= sum(int(term.replace(",", "")) for term in number.group(1).split(" + "))
    return product


@pytest.mark.parametrize("engine", [engine for engine in ENGINES if engine != "naive"])
def test_every_formula_line_multiplies_out(engine: str) -> None:
    checked = spelled = engine_factors = 0
    for preset in all_presets():
        model = load_model(preset.name)
        for seq in (1_000, 5_000, 33_000):
            try:
                result = estimate(model, seq=seq, batch=3, dtype="auto", engine=engine)
            except KvcalcError:
                continue  # the engine's own refusal, tested elsewhere
            for group in result.groups:
                line = group_formula(group, result)
                left, _, right = line.rpartition(" = ")
                total = int(right.removesuffix(" B").replace(",", ""))
                assert total == group.total_bytes, line
                if total == 0:
                    assert line.endswith("layers without cache = 0 B"), line
                    continue
                assert product_of(left) == total, f"{preset.name} at {seq} ({engine}): {line}"
                checked += 1
                engine_factors += bool(group.factors)
                spelled += not group.factors and "per sequence" not in line
    assert checked > 100
    if engine == "vllm":  # every group as blocks x groups x bytes of a block id
        assert engine_factors > 100
    else:
        assert spelled > 50
        assert engine_factors == 0
