"""kvcalc --engine transformers equals, to the byte, the tensors a real transformers cache holds.

Each family's real config is shrunk where it does not touch the cache, built with random
weights, run on `batch x seq` tokens with `use_cache=True`, and the returned cache's tensors
are summed (tests/conformance/measure.py). kvcalc reads the very config that was built.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvcalc import estimate
from tests.conformance.families import EXTRA_FAMILIES, FAMILIES, Family
from tests.conformance.hybrid_families import HYBRID_FAMILIES

pytest.importorskip("torch")
pytest.importorskip("transformers")
from tests.conformance.measure import measure_grid

# Below and above each window that a short prefill can cross; long windows (Gemma 2's 4096,
# Llama 4's 8192 chunks) are crossed in the points below as well, at batch 1.
POINTS = [(5, 1), (300, 2)]
ABOVE = {"gpt_oss": [(129, 1), (130, 2)], "gemma3_text": [(1023, 1), (1030, 1)],
         "gemma3_text-27b": [(1030, 1)], "gemma2": [(4100, 1)], "llama4_text": [(8200, 1)],
         "gemma4_text": [(1030, 1)], "gemma3n_text": [(520, 1)]}  # fmt: skip
# Families whose state-space scan runs step by step (or in 256-token chunks) on the CPU: a state
# does not grow with the prompt, so a short second point keeps the run quick.
SHORT = {"mamba", "falcon_mamba", "jamba", "granitemoehybrid", "kimi_linear"}
# Families kvcalc refuses, with the reason it gives (none today).
REFUSED: dict[str, str] = {}
MEASURED = [f for f in (*FAMILIES, *EXTRA_FAMILIES, *HYBRID_FAMILIES)
            if f.supported and f.name not in REFUSED]  # fmt: skip


def kvcalc_bytes(config: dict[str, object], tmp: Path, seq: int, batch: int,
                 enc_seq: int | None) -> int:  # fmt: skip
    path = tmp / f"config-{seq}-{batch}.json"
    path.write_text(json.dumps(config))
    return estimate(path, seq=seq, batch=batch, dtype="bf16", engine="transformers",
                    enc_seq=enc_seq).total_bytes  # fmt: skip


@pytest.mark.parametrize("family", MEASURED, ids=lambda family: family.name)
def test_transformers_engine_equals_the_measured_cache(family: Family, tmp_path: Path) -> None:
    points = [(5, 1), (40, 2)] if family.name in SHORT else POINTS
    for measured in measure_grid(family.load(), points + ABOVE.get(family.name, []),
                                 shrink=family.shrink):  # fmt: skip
        encoder = measured.enc_seq if measured.enc_seq is not None else None
        if family.name == "t5":
            encoder = measured.enc_seq or measured.seq
        got = kvcalc_bytes(measured.used_config, tmp_path, measured.seq, measured.batch, encoder)
        assert got == measured.bytes, (family.name, measured.seq, measured.batch)


def test_refused_families_say_why(tmp_path: Path) -> None:
    from kvcalc.errors import UnsupportedConfigError
    from tests.conformance.families import by_name

    for name, words in REFUSED.items():  # empty while every family is sized
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(by_name(name).load()))
        with pytest.raises(UnsupportedConfigError, match=words):
            estimate(path, seq=16, engine="transformers", dtype="bf16")
