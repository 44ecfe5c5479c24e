"""Random, truncated and mutated configs never produce a traceback or a non-integer count."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvcalc.engines.kvbytes import Workload, cache_bytes
from kvcalc.errors import KvcalcError
from kvcalc.model.dialects import read_architecture
from kvcalc.model.dtypes import BF16
from tests.helpers import FIXTURE_CONFIGS

CONFIGS = sorted(FIXTURE_CONFIGS.rglob("*.json"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=8,
)  # fmt: skip


def outcome(raw: object) -> None:
    """Either a valid architecture with positive integer sizes, or a KvcalcError."""
    try:
        architecture = read_architecture(raw)
    except KvcalcError:
        return
    groups = cache_bytes(architecture, Workload(3, 5000, enc_seq=7), BF16, BF16)
    for group in groups:
        assert isinstance(group.total_bytes, int) and group.total_bytes >= 0
    assert sum(group.total_bytes for group in groups) > 0


def load(index: int) -> dict[str, object]:
    data = json.loads(CONFIGS[index].read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


settings_ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings_
@given(st.data())
def test_mutated_real_configs(data: st.DataObject) -> None:
    raw = load(data.draw(st.integers(0, len(CONFIGS) - 1)))
    target = raw
    if isinstance(raw.get("text_config"), dict) and data.draw(st.booleans()):
        target = raw["text_config"]  # type: ignore[assignment]
    for _ in range(data.draw(st.integers(1, 3))):
        keys = sorted(target)
        key = data.draw(st.sampled_from(keys)) if keys else "model_type"
        if data.draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = data.draw(json_values)
    outcome(raw)


@settings_
@given(st.data())
def test_truncated_real_configs(data: st.DataObject) -> None:
    text = CONFIGS[data.draw(st.integers(0, len(CONFIGS) - 1))].read_text(encoding="utf-8")
    cut = text[: data.draw(st.integers(0, len(text)))]
    try:
        raw = json.loads(cut)
    except json.JSONDecodeError:
        return
    outcome(raw)


@settings_
@given(json_values)
def test_random_json(raw: object) -> None:
    outcome(raw)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10_000_000), st.integers(1, 1_000_000))
def test_huge_workloads_stay_exact(seq: int, batch: int) -> None:
    raw = load(next(i for i, p in enumerate(CONFIGS) if "Llama-3.1-405B" in p.name))
    architecture = read_architecture(raw)
    (group,) = cache_bytes(architecture, Workload(batch, seq), BF16, BF16)
    # 126 layers x 8 KV heads x 128 dims x 2 (K, V) x 2 bytes, as published for Llama 3.1 405B
    assert group.total_bytes == batch * seq * 126 * 8 * 128 * 2 * 2
    assert group.total_bytes == math.prod((batch, seq, 126, 8, 128, 2, 2))


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """kvcalc's real entry point in-process: exit code, stdout, stderr."""
    import contextlib
    import io
    import sys

    from kvcalc.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["kvcalc", *argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved
    return code, out.getvalue(), err.getvalue()


option_text = st.text(alphabet="0123456789kmKM-_.eaxq ", max_size=12)


@settings(max_examples=150, deadline=None)
@given(option_text, option_text, st.sampled_from(["bf16", "fp8", "auto", "int4", "q4", ""]))
def test_random_option_values(seq: str, batch: str, dtype: str) -> None:
    code, out, err = run_main(
        ["estimate", "llama-3-8b", "--seq", seq, "--batch", batch, "--dtype", dtype, "-q"]
    )
    assert code in (0, 1, 2), err
    assert "Traceback" not in err
    if code == 0:
        assert int(out) > 0
    else:
        assert out == ""
