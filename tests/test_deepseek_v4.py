"""DeepSeek V4's compressed attention: read from its config, sized per engine from the engines'
source (transformers 5.23 `modeling_deepseek_v4.py`, llama.cpp 0c1e57098
`src/llama-kv-cache-dsv4.cpp`), refused where kvcalc does not model the engine's layout."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from kvcalc import estimate
from kvcalc.engines import Deployment
from kvcalc.errors import ConfigError, UnsupportedConfigError
from kvcalc.model.architecture import Attention, Compression, LayerGroup, LayerKind, MlaDims
from kvcalc.model.dialects import read_architecture
from tests.conftest import fixture_config

FLASH = "deepseek-ai__DeepSeek-V4-Flash.json"
MIB = 1 << 20


def write(tmp_path: Path, config: dict[str, object]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def flash(tmp_path: Path, **changes: object) -> Path:
    config = copy.deepcopy(fixture_config(FLASH))
    config.update(changes)
    return write(tmp_path, config)


def total(path: Path, engine: str, seq: int, dtype: str, **options: object) -> int:
    return estimate(path, seq=seq, dtype=dtype, engine=engine, **options).total_bytes  # type: ignore[arg-type]


def test_reads_compress_ratios_onto_the_layer_groups() -> None:
    architecture = read_architecture(fixture_config(FLASH))
    # 44 ratios: layers 0-1 sliding only, then CSA (4) and HCA (128) alternating, and a 44th
    # entry (0) for the MTP layer past num_hidden_layers 43, which the trunk does not cache.
    got = [(g.kind, g.count, g.window_tokens, g.compression) for g in architecture.groups]
    assert got == [
        (LayerKind.SLIDING, 2, 128, None),
        (LayerKind.SLIDING, 21, 128, Compression(4, 128)),
        (LayerKind.SLIDING, 20, 128, Compression(128, 0)),
    ]
    attention = architecture.groups[0].cached_attention
    assert (attention.num_heads, attention.num_kv_heads, attention.k_head_dim) == (64, 1, 512)
    assert attention.shared_kv and attention.elements_per_token == 512
    assert architecture.num_layers == 43
    read = dict(architecture.provenance)
    assert read["layer types"] == "compress_ratios"
    assert read["indexer key dim"] == "index_head_dim"


def test_layer_types_and_compress_rates_as_transformers_saves_them(tmp_path: Path) -> None:
    config = copy.deepcopy(fixture_config(FLASH))
    del config["compress_ratios"]
    config["num_hidden_layers"] = 4
    config["layer_types"] = ["sliding_attention", "compressed_sparse_attention",
                             "heavily_compressed_attention", "compressed_sparse_attention"]
    config["compress_rates"] = {"compressed_sparse_attention": 8}
    groups = read_architecture(config).groups
    assert [(g.count, g.compression) for g in groups] == [
        (1, None), (2, Compression(8, 128)), (1, Compression(128, 0))
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"compress_ratios": [0, 4, 7]}, "compress_ratios has 7"),
        ({"compress_ratios": [0] * 42}, "fewer than the 43"),
        ({"compress_ratios": "4"}, "list of integers"),
        ({"num_key_value_heads": 8}, "shares one K=V head"),
        ({"layer_types": ["full_attention"] * 43}, "layer_types has 'full_attention'"),
    ],
)
def test_contradictory_configs_are_refused(changes: dict[str, object], message: str) -> None:
    config = {**fixture_config(FLASH), **changes}
    with pytest.raises(ConfigError, match=message):
        read_architecture(config)


def test_invariants_are_checked_at_construction() -> None:
    attention = Attention(64, 1, 512, 512, shared_kv=True)
    with pytest.raises(ValueError, match="sliding group"):
        LayerGroup(LayerKind.FULL, 1, attention, compression=Compression(4, 128))
    with pytest.raises(ValueError, match="compression ratio"):
        Compression(0)
    with pytest.raises(ValueError, match="equal K and V head dims"):
        Attention(64, 1, 512, 256, shared_kv=True)
    with pytest.raises(ValueError, match="no MLA"):
        Attention(8, 8, 192, 192, MlaDims(512, 64, 128, 128), shared_kv=True)


def test_default_engine_holds_window_compressed_entries_and_states(tmp_path: Path) -> None:
    # bf16, 1,048,576 tokens, per layer and sequence:
    # window 128 rows x 512 x 2 B = 131,072 (every layer);
    # CSA: 262,144 entries x (512 + 128 indexer) x 2 B = 335,544,320, fp32 state
    #      2 (kv, score) x 2r (8) x 2 series x (512 + 128) x 4 B = 81,920;
    # HCA: 8,192 entries x 512 x 2 B = 8,388,608, fp32 state 2 x 128 x 512 x 4 B = 524,288.
    csa = 131_072 + 335_544_320 + 81_920
    hca = 131_072 + 8_388_608 + 524_288
    expected = 2 * 131_072 + 21 * csa + 20 * hca
    assert expected == 7_232_045_056
    path = flash(tmp_path)
    assert total(path, "default", 1_048_576, "bf16") == expected
    # Below one window of either ratio nothing is compressed yet: windows and states only.
    assert total(path, "default", 3, "bf16") == 43 * 3 * 1_024 + 21 * 81_920 + 20 * 524_288


def test_llama_cpp_allocates_as_llama_kv_cache_dsv4(tmp_path: Path) -> None:
    # f16, one sequence, n_ctx 1,048,576 = kv_size; n_ubatch 512 (notes A4.2):
    # raw window PAD(min(kv_size, 128 + 512), 256) = 768 cells x 1,024 B on 43 layers;
    # CSA PAD(cdiv(kv_size, 4), 256) = 262,144 cells x 1,024 B; indexer the same cells x 256 B;
    # HCA PAD(cdiv(kv_size, 128), 256) = 8,192 cells x 1,024 B;
    # f32 states: csa 2 x [1,024 x 8] x 4 B = 65,536, lid 2 x [256 x 8] x 4 B = 16,384,
    # hca 2 x [512 x 128] x 4 B = 524,288.
    # With the MTP block in the GGUF the raw cache has 44 layers: 7,261,011,968 B; the
    # converter leaves the block out unless --mtp, so kvcalc counts 43: 768 x 1,024 B less.
    raw = 43 * 768 * 1_024
    csa = 21 * 262_144 * 1_024 + 21 * 262_144 * 256 + 21 * (65_536 + 16_384)
    hca = 20 * 8_192 * 1_024 + 20 * 524_288
    assert raw + csa + hca == 7_261_011_968 - 768 * 1_024 == 7_260_225_536
    path = flash(tmp_path)
    assert total(path, "llama.cpp", 1_048_576, "fp16") == 7_260_225_536
    # llama-server's 4 unified slots at n_ctx 1,048,576: kv_size = n_ctx_seq = n_ctx, and
    # the DSV4 caches keep one stream per sequence anyway, so every part is x 4
    # (29,044,047,872 with the MTP block's raw layer).
    unified = total(path, "llama.cpp", 262_144, "fp16", batch=4,
                    deployment=Deployment(kv_unified=True))  # fmt: skip
    assert unified == 4 * 7_260_225_536 == 29_044_047_872 - 4 * 768 * 1_024
    # Not unified, each of the 4 sequences gets kv_size PAD(1,048,576 / 4) = 262,144 cells:
    # raw 768, CSA 65,536, HCA 2,048 cells, states as before.
    per_sequence = (43 * 768 * 1_024 + 21 * 65_536 * 1_280 + 21 * 81_920
                    + 20 * 2_048 * 1_024 + 20 * 524_288)  # fmt: skip
    assert total(path, "llama.cpp", 262_144, "fp16", batch=4) == 4 * per_sequence


def test_llama_cpp_refuses_ratios_it_does_not_cache(tmp_path: Path) -> None:
    path = flash(tmp_path, compress_rates={"heavily_compressed_attention": 64})
    with pytest.raises(UnsupportedConfigError, match="1:128 only, not 1:64"):
        total(path, "llama.cpp", 4_096, "fp16")


# transformers 5.23, measured (tests/conformance/measure.py: the Flash config shrunk to 4
# layers, sliding, sliding, CSA, HCA; hidden 256, random weights, bf16 prefill on the CPU):
# bytes of the distinct tensors the DynamicCache holds after one prefill of batch x seq.
MEASURED = [(3, 1, 39_936), (4, 1, 44_288), (5, 1, 57_600), (8, 1, 78_336), (9, 2, 183_296),
            (127, 1, 1_105_664), (128, 1, 832_512), (129, 1, 839_680), (130, 2, 1_693_696),
            (256, 1, 874_496), (257, 1, 881_664), (300, 2, 1_957_376)]  # fmt: skip


@pytest.mark.parametrize(("seq", "batch", "measured"), MEASURED)
def test_transformers_equals_the_measured_cache(
    tmp_path: Path, seq: int, batch: int, measured: int
) -> None:
    path = flash(tmp_path, num_hidden_layers=4)
    assert total(path, "transformers", seq, "bf16", batch=batch) == measured


def test_transformers_tensors_by_hand(tmp_path: Path) -> None:
    # seq 300, one sequence, bf16 (2 B): sliding layers keep K and V of 127 tokens apart:
    # 2 x 2 x 127 x 512; CSA: K = V 127 x 512, 75 entries x (512 + 128), buffers empty
    # (300 mod 4 = 0), overlap kv and gate 2 x 4 x (512 + 128); HCA: K = V 127 x 512, buffer
    # kv and gate 2 x 44 x 512 (300 mod 128), 2 entries x 512.
    sliding = 2 * 2 * 127 * 512
    csa = 127 * 512 + 75 * 640 + 2 * 4 * 640
    hca = 127 * 512 + 2 * 44 * 512 + 2 * 512
    path = flash(tmp_path, num_hidden_layers=4)
    assert total(path, "transformers", 300, "bf16") == 2 * (sliding + csa + hca) == 978_688


@pytest.mark.parametrize(
    ("engine", "what"),
    [
        ("trtllm", "compressed-attention caches"),
    ],
)
def test_engines_without_a_model_of_it_refuse_in_one_line(
    tmp_path: Path, engine: str, what: str
) -> None:
    with pytest.raises(UnsupportedConfigError, match=what) as error:
        total(flash(tmp_path), engine, 4_096, "bf16")
    assert "\n" not in str(error.value) and "not modelled" in str(error.value)


def test_naive_is_the_textbook_formula(tmp_path: Path) -> None:
    # 2 x 43 layers x 1 KV head x 512 x 2 B per token, every layer full.
    assert total(flash(tmp_path), "naive", 1_024, "bf16") == 1_024 * 2 * 43 * 512 * 2 == 86 * MIB
