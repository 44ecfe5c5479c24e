"""The bundled presets: each estimates at its own context under every engine, every alias
resolves offline, and `kvcalc presets` groups them by family and filters them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

import kvcalc
from kvcalc.engines import ENGINES
from kvcalc.errors import KvcalcError
from kvcalc.model.dialects.class_defaults import CLASS_DEFAULTS
from kvcalc.planning.estimation import load_model
from kvcalc.sources import resolve as resolve_module
from kvcalc.sources.presets import all_presets, find_preset, presets_by_family
from tests.helpers import run_kvcalc

PRESETS = {preset.name: preset for preset in all_presets()}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_estimates_at_its_context_under_every_engine(name: str) -> None:
    loaded = load_model(name)
    context = loaded.architecture.max_position_embeddings
    assert context is not None, f"{name}: no context length, so --seq max cannot work"
    for engine in ENGINES:
        try:
            result = kvcalc.estimate(loaded, engine=engine)
        except KvcalcError as error:
            # The engine's own refusal: one line naming the engine and what it cannot run.
            message = str(error)
            assert "\n" not in message, (name, engine, message)
            assert message.startswith(f"--engine {engine}"), (name, engine, message)
            assert f"'{loaded.architecture.model_type}'" in message, (name, engine, message)
            continue
        assert result.workload.seq_len == context, (name, engine)
        assert result.total_bytes > 0, (name, engine)


def test_every_preset_has_a_family() -> None:
    assert all(preset.family for preset in all_presets())


# transformers 5.23: Gemma3TextConfig.max_position_embeddings = 131072
# (models/gemma3/configuration_gemma3.py); FalconConfig.max_position_embeddings = 2048
# (models/falcon/configuration_falcon.py), the class that reads the 2023 RefinedWeb configs.
@pytest.mark.parametrize(
    ("name", "context", "config_class"),
    [("gemma-3-27b", 131_072, "Gemma3TextConfig"), ("gemma-3-4b", 131_072, "Gemma3TextConfig"),
     ("falcon-40b", 2_048, "FalconConfig")],
)  # fmt: skip
def test_a_context_the_config_leaves_out_is_its_class_default(
    name: str, context: int, config_class: str
) -> None:
    architecture = load_model(name).architecture
    assert architecture.max_position_embeddings == context
    assert ("max positions", f"default {context} of {config_class} (transformers 5.23)") in (
        architecture.provenance
    )
    assert kvcalc.estimate(name).workload.seq_len == context
    result = run_kvcalc("estimate", name, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["seq_len"] == context


def test_no_context_and_no_class_default_is_a_one_line_refusal(tmp_path: Path) -> None:
    # BLOOM's ALiBi has no position limit: BloomConfig names none.
    config = {"model_type": "bloom", "n_layer": 2, "n_head": 4, "hidden_size": 256}
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = run_kvcalc("estimate", str(tmp_path))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "gives no max_position_embeddings" in result.stderr


def test_the_class_defaults_are_transformers_own() -> None:
    """Each number in class_defaults.py against the installed config class (conformance)."""
    transformers = pytest.importorskip("transformers")
    position_fields = ("max_position_embeddings", "n_positions", "max_target_positions",
                       "max_seq_len")  # fmt: skip
    for model_type, known in CLASS_DEFAULTS.items():
        cls = getattr(transformers, known.config_class)
        fields = {f.name: f.default for f in dataclasses.fields(cls)}
        instance = cls()
        context = next(getattr(instance, key) for key in position_fields if hasattr(instance, key))
        assert context == known.max_positions, model_type
        for ours, theirs in (("heads", "num_attention_heads"), ("kv_heads", "num_key_value_heads"),
                             ("head_dim", "head_dim"), ("window", "sliding_window")):  # fmt: skip
            if getattr(known, ours) is not None:
                assert fields[theirs] == getattr(known, ours), (model_type, theirs)


def test_every_name_and_alias_finds_its_preset_in_any_case() -> None:
    for preset in all_presets():
        for reference in (preset.name, preset.hub_id, *preset.aliases):
            for spelling in (reference, reference.upper(), reference.lower()):
                assert find_preset(spelling) == preset, spelling
        for hub_id in preset.hub_ids:  # the repo part alone: Llama-3.1-8B-Instruct
            assert find_preset(hub_id.split("/")[1]) == preset, hub_id


def test_every_hub_alias_falls_back_to_its_preset_when_the_hub_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kvcalc.sources import hub

    def unreachable(repo_id: str, *args: object) -> str:
        raise hub.HubUnavailableError(f"{repo_id}: the hub cannot be reached")

    monkeypatch.setattr(hub, "download_config", unreachable)
    for preset in all_presets():
        for hub_id in preset.hub_ids:
            source = resolve_module.resolve(hub_id)
            assert (source.kind, source.name) == ("preset", preset.name), hub_id
            assert f"using the bundled config of {preset.hub_id}" in source.notes[0]


@pytest.mark.parametrize(
    ("reference", "preset"),
    [("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b"),
     ("META-LLAMA/LLAMA-3.1-8B-INSTRUCT", "llama-3.1-8b"),
     ("Llama-3.1-8B-Instruct", "llama-3.1-8b"),
     ("google/gemma-3-27b-pt", "gemma-3-27b"),
     ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b"),
     ("HuggingFaceTB/SmolLM3-3B-Base", "smollm3-3b")],
)  # fmt: skip
def test_an_alias_estimates_offline_as_its_preset(reference: str, preset: str) -> None:
    alias = run_kvcalc("estimate", reference, "-q", env={"HF_HUB_OFFLINE": "1"})
    assert alias.returncode == 0, alias.stderr
    assert alias.stdout == run_kvcalc("estimate", preset, "-q").stdout
    assert int(alias.stdout) > 0


def test_presets_are_grouped_by_family_each_once() -> None:
    groups = presets_by_family()
    assert list(groups) == sorted(groups, key=str.lower)
    listed = [preset.name for members in groups.values() for preset in members]
    assert sorted(listed) == sorted(PRESETS)
    assert all(preset.family == family for family, members in groups.items() for preset in members)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("qwen3.5", {"qwen3.5-9b", "qwen3.5-27b", "qwen3.5-35b-a3b", "qwen3.5-122b-a10b",
                  "qwen3.5-397b-a17b"}),
     ("FALCON", {"falcon-40b"}),
     ("gemma-3-27b-pt", {"gemma-3-27b"}),  # an alias
     ("smollm", {"smollm3-3b"})],  # a family
)  # fmt: skip
def test_presets_filter_by_name_hub_id_alias_or_family(text: str, expected: set[str]) -> None:
    result = run_kvcalc("presets", text, "--json")
    assert result.returncode == 0, result.stderr
    assert {row["name"] for row in json.loads(result.stdout)} == expected


def test_presets_json_is_every_preset_by_family_and_follows_its_schema() -> None:
    result = run_kvcalc("presets", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    jsonschema.validate(rows, json.loads(run_kvcalc("schema", "presets").stdout))
    assert [row["name"] for row in rows] == [
        preset.name for members in presets_by_family().values() for preset in members
    ]
    qwen = run_kvcalc("presets", "qwen", "--json")
    jsonschema.validate(json.loads(qwen.stdout), json.loads(run_kvcalc("schema", "presets").stdout))
    llama = next(row for row in rows if row["name"] == "llama-3.1-8b")
    assert llama["family"] == "Llama" and "meta-llama/Llama-3.1-8B-Instruct" in llama["aliases"]


def test_presets_table_heads_each_family() -> None:
    result = run_kvcalc("presets", "gemma", env={"COLUMNS": "120"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    family = next(i for i, line in enumerate(lines) if line.strip() == "Gemma")
    assert "gemma-3-27b" in lines[family + 1] and "131,072" in lines[family + 1]
    assert "matching 'gemma'" in lines[0]


def test_a_filter_that_matches_nothing_is_a_one_line_error() -> None:
    result = run_kvcalc("presets", "no-such-family")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "no bundled preset matches 'no-such-family'" in result.stderr
