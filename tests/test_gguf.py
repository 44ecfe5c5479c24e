"""GGUF inputs: header-only files written with the `gguf` writer from the real config.json
fixtures estimate to the same bytes as the config.json; headers are read within a budget."""

from __future__ import annotations

import io
import json
import struct
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import kvcalc
from kvcalc.errors import ConfigError, UnsupportedConfigError
from kvcalc.model.architecture import LayerKind
from kvcalc.model.dialects.gguf import GgufArray
from kvcalc.planning.estimation import load_model
from kvcalc.sources.gguf import CHUNK_BYTES, parse_header, read_gguf_file
from tests import hubserver
from tests.helpers import FIXTURE_CONFIGS, run_kvcalc
from tests.hubserver import Fault, GeneratedFile, HubContext

gguf = pytest.importorskip("gguf")

pytest_plugins = ["tests.conftest_hub"]

# (fixture, GGUF architecture): a GQA, MoE, sliding-window and MLA model each.
FIXTURES = [
    ("meta-llama__Llama-3.1-8B-Instruct", "llama"),
    ("Qwen__Qwen2.5-7B", "qwen2"),
    ("Qwen__Qwen3-8B", "qwen3"),
    ("Qwen__Qwen3-30B-A3B", "qwen3moe"),
    ("google__gemma-2-9b-it", "gemma2"),
    ("google__gemma-3-27b-it", "gemma3"),
    ("openai__gpt-oss-120b", "gpt-oss"),
    ("deepseek-ai__DeepSeek-V2-Lite", "deepseek2"),
    ("deepseek-ai__DeepSeek-V3", "deepseek2"),
    ("moonshotai__Kimi-K2-Instruct", "deepseek2"),
]
Tensor = tuple[str, Sequence[int], int]  # name, numpy-order shape, GGMLQuantizationType


def write_gguf(
    path: Path, config: dict[str, Any], arch: str, tensors: Sequence[Tensor] = (),
    extra: dict[str, Any] | None = None,
) -> Path:  # fmt: skip
    """A header-only GGUF with the keys llama.cpp's convert_hf_to_gguf.py writes for `arch`
    (conversion/base.py `set_gguf_parameters`, gemma.py, gpt_oss.py, deepseek.py)."""
    import numpy as np

    text = config if "num_hidden_layers" in config else config["text_config"]
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(text["num_hidden_layers"])
    writer.add_context_length(text.get("max_position_embeddings", 131072))  # gemma.py default
    writer.add_embedding_length(text["hidden_size"])
    heads = text["num_attention_heads"]
    writer.add_head_count(heads)
    if arch == "deepseek2":  # MLA as MQA: one KV head of kv_lora_rank + rope
        rank, rope = text["kv_lora_rank"], text["qk_rope_head_dim"]
        writer.add_head_count_kv(1)
        writer.add_kv_lora_rank(rank)
        writer.add_key_length(rank + rope)
        writer.add_value_length(rank)
        writer.add_key_length_mla(text["qk_nope_head_dim"] + rope)
        writer.add_value_length_mla(text["v_head_dim"])
        writer.add_rope_dimension_count(rope)
    else:
        writer.add_head_count_kv(text.get("num_key_value_heads", heads))
        if text.get("head_dim"):
            writer.add_key_length(text["head_dim"])
            writer.add_value_length(text["head_dim"])
    if arch in ("gemma2", "gemma3", "gpt-oss"):
        writer.add_sliding_window(text["sliding_window"])
    for key, value in (extra or {}).items():
        if isinstance(value, list):
            writer.add_array(key, value)
        elif isinstance(value, str):
            writer.add_string(key, value)
        else:
            writer.add_uint32(key, value)
    for name, shape, kind in tensors:
        writer.add_tensor_info(name, shape, np.dtype(np.float32), 0, raw_dtype=kind)
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    return path


def config_of(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURE_CONFIGS / f"{name}.json").read_text())
    return data


@pytest.mark.parametrize(("name", "arch"), FIXTURES)
@pytest.mark.parametrize("engine", ["default", "vllm", "llama.cpp"])
def test_gguf_estimates_the_same_bytes_as_its_config(
    tmp_path: Path, name: str, arch: str, engine: str
) -> None:
    gguf_file = write_gguf(tmp_path / "model.gguf", config_of(name), arch)
    for seq, batch in ((1000, 1), (5000, 3), (131072, 2)):
        expected = kvcalc.estimate(FIXTURE_CONFIGS / f"{name}.json", seq=seq, batch=batch,
                                   engine=engine)  # fmt: skip
        found = kvcalc.estimate(gguf_file, seq=seq, batch=batch, engine=engine)
        assert found.total_bytes == expected.total_bytes, (seq, batch)
        assert found.dtype.bytes_per_element == expected.dtype.bytes_per_element == 2


@pytest.mark.parametrize(("name", "arch"), FIXTURES)
def test_gguf_layer_groups_equal_the_config_reading(tmp_path: Path, name: str, arch: str) -> None:
    found = load_model(write_gguf(tmp_path / "m.gguf", config_of(name), arch)).architecture
    expected = load_model(FIXTURE_CONFIGS / f"{name}.json").architecture
    assert found.groups == expected.groups
    assert found.config_dtype == "float16"  # llama.cpp's default --cache-type-k/-v
    assert any(key.startswith(f"{arch}.") for _, key in found.provenance)


def test_sliding_pattern_array_and_all_sliding(tmp_path: Path) -> None:
    """`sliding_window_pattern` as a bool per layer, or 0 (every layer slides, Mistral style)."""
    config = config_of("google__gemma-2-9b-it")  # 42 layers, window 4096
    pattern = [i % 3 != 2 for i in range(42)]
    listed = write_gguf(tmp_path / "a.gguf", config, "gemma2",
                        extra={"gemma2.attention.sliding_window_pattern": pattern})  # fmt: skip
    groups = {g.kind: g.count for g in load_model(listed).architecture.groups}
    assert groups == {LayerKind.FULL: 14, LayerKind.SLIDING: 28}
    every = write_gguf(tmp_path / "b.gguf", config, "gemma2",
                       extra={"gemma2.attention.sliding_window_pattern": 0})  # fmt: skip
    (group,) = load_model(every).architecture.groups
    assert (group.kind, group.count, group.window_tokens) == (LayerKind.SLIDING, 42, 4096)


def test_llama_window_is_not_applied_as_llama_cpp_does_not(tmp_path: Path) -> None:
    config = config_of("meta-llama__Llama-3.1-8B-Instruct")
    path = write_gguf(tmp_path / "m.gguf", config, "llama",
                      extra={"llama.attention.sliding_window": 4096})  # fmt: skip
    result = kvcalc.estimate(path, seq=32768, dtype="bf16")
    assert [g.group.kind for g in result.groups] == [LayerKind.FULL]
    assert any("sliding_window = 4096 is not applied" in note for note in result.notes)


def test_per_layer_kv_heads_and_nextn_layers(tmp_path: Path) -> None:
    config = {**config_of("Qwen__Qwen3-8B"), "num_hidden_layers": 4}
    path = write_gguf(tmp_path / "m.gguf", config, "qwen3", extra={
        "qwen3.attention.head_count_kv": [8, 4, 8, 4], "qwen3.nextn_predict_layers": 1,
    })  # fmt: skip
    groups = load_model(path).architecture.groups
    # The main context caches 3 layers (the MTP layer is filtered): 8, 4 and 8 KV heads.
    assert sorted((g.count, g.cached_attention.num_kv_heads) for g in groups) == [(1, 4), (2, 8)]


def test_unsupported_architecture_is_named(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", config_of("microsoft__phi-4"), "phi3")
    with pytest.raises(UnsupportedConfigError, match="GGUF architecture 'phi3' is not supported"):
        load_model(path)
    result = run_kvcalc("estimate", str(path))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "'phi3'" in result.stderr


# --- the header reader --------------------------------------------------------------------


def header_bytes(tmp_path: Path, **kwargs: Any) -> bytes:
    path = write_gguf(tmp_path / "h.gguf", config_of("Qwen__Qwen3-8B"), "qwen3", **kwargs)
    return path.read_bytes()


def test_every_truncation_is_a_one_line_error(tmp_path: Path) -> None:
    data = header_bytes(tmp_path, tensors=[("token_embd.weight", (151936, 4096), 12)])
    for cut in range(0, len(data) - 1, 7):
        with pytest.raises(ConfigError) as caught:
            parse_header(io.BytesIO(data[:cut]).read, "cut.gguf")
        assert "\n" not in str(caught.value)
    assert parse_header(io.BytesIO(data).read, "whole.gguf").tensor_count == 1


def raw_header(kv: bytes, kv_count: int = 1, version: int = 3, tensors: int = 0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kv_count) + kv


def gguf_string(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GGML" + bytes(20), "not a GGUF file"),
        (raw_header(b"", version=1), "version 1 is not supported"),
        (raw_header(b"", kv_count=2**62), "claims"),
        (raw_header(b"", tensors=2**40), "claims"),
        (raw_header(struct.pack("<Q", 2**40)), "runs past"),  # a key of a TB
        (raw_header(gguf_string(b"k") + struct.pack("<IIQ", 9, 8, 2**50)), "claims"),
        (raw_header(gguf_string(b"k") + struct.pack("<I", 99)), "unknown value type 99"),
        (raw_header(gguf_string(b"k") + struct.pack("<IB", 0, 1) + gguf_string(b"k")
                    + struct.pack("<IB", 0, 1), kv_count=2), "duplicate"),
    ],
)  # fmt: skip
def test_hostile_headers_are_refused_without_reading_on(data: bytes, message: str) -> None:
    stream = io.BytesIO(data + bytes(1000))
    with pytest.raises(ConfigError, match=message):
        parse_header(stream.read, "bad.gguf")
    assert stream.tell() <= len(data) + 1000


def test_a_budget_bounds_what_is_read(tmp_path: Path) -> None:
    vocabulary = [f"token{i}" for i in range(20000)]
    data = header_bytes(tmp_path, extra={"tokenizer.ggml.tokens": vocabulary})
    header = parse_header(io.BytesIO(data).read, "vocab.gguf")
    assert header.metadata["tokenizer.ggml.tokens"] == GgufArray(8, 20000)  # stepped over
    with pytest.raises(ConfigError, match="runs past 250,000 bytes"):
        parse_header(io.BytesIO(data).read, "vocab.gguf", max_bytes=250_000)


class CountingFile(io.FileIO):
    """A file that counts the bytes read from it."""

    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_a_10_gb_sparse_file_is_read_only_at_its_header(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "big.gguf", config_of("meta-llama__Llama-3.1-8B-Instruct"),
                      "llama", tensors=[("token_embd.weight", (128256, 4096), 12)])  # fmt: skip
    size = path.stat().st_size
    with path.open("r+b") as stream:
        stream.truncate(10 * 1024**3)  # sparse: no blocks allocated past the header
    with CountingFile(path) as stream:
        header = parse_header(stream.read, str(path))
    assert stream.bytes_read <= CHUNK_BYTES and header.header_bytes <= size
    assert read_gguf_file(path).bytes_read <= CHUNK_BYTES
    assert kvcalc.estimate(path, seq=8192).total_bytes == 1024**3


# --- weights for fit ----------------------------------------------------------------------

# Q4_K_M-style mix. Bytes per block from ggml's block structs (ggml-common.h): block_q4_K is
# 2 fp16 + 12 scale bytes + 128 nibble bytes = 144 per 256 values; block_q6_K 128 + 64 + 16
# scales + fp16 = 210 per 256; block_q8_0 fp16 + 32 = 34 per 32; F32 4, F16 2.
QUANT_TENSORS: list[Tensor] = [
    ("token_embd.weight", (128256, 4096), 12),  # Q4_K
    ("blk.0.attn_v.weight", (1024, 4096), 14),  # Q6_K
    ("blk.0.ffn_down.weight", (4096, 14336), 8),  # Q8_0
    ("blk.0.attn_norm.weight", (4096,), 0),  # F32
    ("output.weight", (128256, 4096), 1),  # F16
]
QUANT_BYTES = {
    "Q4_K": 128256 * 4096 // 256 * 144,
    "Q6_K": 1024 * 4096 // 256 * 210,
    "Q8_0": 4096 * 14336 // 32 * 34,
    "F32": 4096 * 4,
    "F16": 128256 * 4096 * 2,
}


def fit_json(*args: str, hub: HubContext | None = None) -> dict[str, Any]:
    argv = ("fit", *args, "--gpu-memory", "80GiB", "--seq", "1k", "--json")
    result = hub.kvcalc(*argv) if hub else run_kvcalc(*argv)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_fit_weights_are_the_tensor_bytes_the_header_lists(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "q.gguf", config_of("meta-llama__Llama-3.1-8B-Instruct"),
                      "llama", tensors=QUANT_TENSORS)  # fmt: skip
    weights = fit_json(str(path))["weights"]
    assert weights["bytes_by_dtype"] == QUANT_BYTES
    assert weights["total_bytes"] == sum(QUANT_BYTES.values())
    assert weights["basis"] == "GGUF tensor infos"


def test_split_gguf_weights_add_every_split_file(tmp_path: Path) -> None:
    config = config_of("meta-llama__Llama-3.1-8B-Instruct")
    for index, tensor in enumerate(QUANT_TENSORS[:2]):
        extra = {"split.no": index, "split.count": 2}
        name = f"m-{index + 1:05d}-of-00002.gguf"
        write_gguf(tmp_path / name, config, "llama", tensors=[tensor], extra=extra)
    weights = fit_json(str(tmp_path / "m-00001-of-00002.gguf"))["weights"]
    assert weights["total_bytes"] == QUANT_BYTES["Q4_K"] + QUANT_BYTES["Q6_K"]


# --- on the hub ---------------------------------------------------------------------------

REPO = "org/model-GGUF"


def add_hub_gguf(hub: HubContext, tmp_path: Path, size: int = 300_000_000) -> bytes:
    """A 300 MB GGUF on the local hub: a real header, then zeros streamed on demand."""
    header = write_gguf(tmp_path / "hub.gguf", config_of("openai__gpt-oss-120b"), "gpt-oss",
                        tensors=QUANT_TENSORS).read_bytes()  # fmt: skip
    hub.server.add_repo(REPO, {"model-Q4_K_M.gguf": GeneratedFile(size=size, head=header)})
    return header


def test_hub_gguf_reads_only_its_header_with_a_range(hub: HubContext, tmp_path: Path) -> None:
    add_hub_gguf(hub, tmp_path)
    result = hub.kvcalc("estimate", f"{REPO}:model-Q4_K_M.gguf", "--seq", "32k", "-q")
    assert result.returncode == 0, result.stderr
    expected = kvcalc.estimate(FIXTURE_CONFIGS / "openai__gpt-oss-120b.json", seq="32k")
    assert int(result.stdout) == expected.total_bytes
    (get,) = [r for r in hub.server.requests_for(filename="*.gguf") if r.method == "GET"]
    assert get.range == f"bytes=0-{64 * 1024 * 1024 - 1}" and get.body_bytes_sent < 32 * 1024**2
    weights = fit_json(f"{REPO}:model-Q4_K_M.gguf", hub=hub)["weights"]
    assert weights["total_bytes"] == sum(QUANT_BYTES.values())


def test_a_server_ignoring_range_is_still_read_only_to_the_header(
    hub: HubContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_hub_gguf(hub, tmp_path)
    monkeypatch.setattr(hubserver, "_parse_range", lambda value, size: None)
    result = hub.kvcalc("estimate", f"{REPO}:model-Q4_K_M.gguf", "--seq", "32k", "-q")
    assert result.returncode == 0, result.stderr
    (get,) = [r for r in hub.server.requests_for(filename="*.gguf") if r.method == "GET"]
    assert get.status == 200 and get.body_bytes_sent < 32 * 1024**2  # of 300 MB


def test_hub_gguf_errors_are_one_line(hub: HubContext, tmp_path: Path) -> None:
    add_hub_gguf(hub, tmp_path)
    missing = hub.kvcalc("estimate", f"{REPO}:other.gguf")
    assert missing.returncode == 3 and "no such file in the repo" in missing.stderr
    hostile = raw_header(struct.pack("<Q", 2**40))
    hub.server.add_files(REPO, {"bad.gguf": GeneratedFile(size=10_000_000, head=hostile)})
    refused = hub.kvcalc("estimate", f"{REPO}:bad.gguf")
    assert refused.returncode == 1 and "refusing to read further" in refused.stderr
    for result in (missing, refused):
        assert result.stdout == "" and result.stderr.count("\n") == 1


def test_a_dripping_hub_gguf_is_held_to_one_deadline(hub: HubContext, tmp_path: Path) -> None:
    # A byte a second: the header's 4-byte magic would take 4 s, the deadline is 2 s from the
    # first request (the HEAD), whatever the client's own per-read timeout.
    add_hub_gguf(hub, tmp_path)
    hub.server.inject(Fault.drip(1.0), filename="*.gguf", method="GET")
    started = time.monotonic()
    result = hub.kvcalc("estimate", f"{REPO}:model-Q4_K_M.gguf", "--timeout", "2")
    assert result.returncode == 3 and result.stdout == "", result.stderr
    assert result.stderr.count("\n") == 1
    assert "timed out after 2 s receiving the header of model-Q4_K_M.gguf" in result.stderr
    assert time.monotonic() - started < 2 + 5  # start-up and scheduling on a loaded machine
