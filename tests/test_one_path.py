"""One sizing path: `fit` at TP 1 holds exactly the bytes `estimate` gives, for every preset
and every real config, under every engine, or both refuse with the same message."""

from __future__ import annotations

import pytest

from kvcalc import estimate
from kvcalc.engines import ENGINES
from kvcalc.errors import KvcalcError
from kvcalc.planning.estimation import LoadedModel, load_model
from kvcalc.planning.fit import EngineKnobs, fit
from kvcalc.sources.presets import all_presets
from tests.helpers import FIXTURE_CONFIGS

MODELS = [preset.name for preset in all_presets()] + [
    str(path) for path in sorted(FIXTURE_CONFIGS.rglob("*.json"))
]


def _load(reference: str) -> LoadedModel | None:
    try:
        return load_model(reference)
    except KvcalcError:
        return None  # a config kvcalc refuses to read: nothing to compare


@pytest.mark.parametrize("reference", MODELS, ids=lambda r: r.rsplit("/", 1)[-1])
def test_fit_holds_what_estimate_sizes(reference: str) -> None:
    loaded = _load(reference)
    if loaded is None:
        return
    for engine in ENGINES:
        try:
            expected: int | str = estimate(loaded, seq="4k", batch=2, engine=engine,
                                           enc_seq=64).total_bytes  # fmt: skip
        except KvcalcError as error:
            expected = str(error)
        try:
            result = fit(loaded, gpu_memory="1TiB", gpus=1, seq="4k", batch=2, weights="1GB",
                         enc_seq=64, knobs=EngineKnobs(engine))  # fmt: skip
            found: int | str = result.report.kv_bytes
        except KvcalcError as error:
            found = str(error)
        assert found == expected, (engine, reference)
