"""Every real config in tests/fixtures/configs reads as its published architecture, or is refused.

Expected dimensions are the published ones (tests/fixtures/configs/INDEX.md, model cards), not
values computed by kvcalc.
"""

from __future__ import annotations

import copy
import json

import pytest

from kvcalc.errors import ConfigError, UnsupportedConfigError
from kvcalc.model.architecture import LayerKind
from kvcalc.model.dialects import read_architecture
from tests.conftest import fixture_config
from tests.helpers import ROOT

FULL, SLIDING, CHUNKED = LayerKind.FULL, LayerKind.SLIDING, LayerKind.CHUNKED
CROSS, STATE, NONE = LayerKind.CROSS, LayerKind.STATE, LayerKind.NONE

# file → (attention kind, [(layer kind, layers, KV heads, K head dim, V head dim, window)])
EXPECTED = {
    "meta-llama__Llama-2-7b-hf.json": ("MHA", [(FULL, 32, 32, 128, 128, None)]),
    "meta-llama__Llama-2-7b-hf.alt-HamZil.json": ("MHA", [(FULL, 32, 32, 128, 128, None)]),
    "meta-llama__Llama-2-7b-hf.alt-inference-sim.json": ("MHA", [(FULL, 32, 32, 128, 128, None)]),
    "meta-llama__Llama-2-13b-hf.json": ("MHA", [(FULL, 40, 40, 128, 128, None)]),
    "meta-llama__Llama-2-70b-hf.json": ("GQA", [(FULL, 80, 8, 128, 128, None)]),
    "meta-llama__Meta-Llama-3.1-8B.json": ("GQA", [(FULL, 32, 8, 128, 128, None)]),
    "meta-llama__Meta-Llama-3.1-70B.json": ("GQA", [(FULL, 80, 8, 128, 128, None)]),
    "meta-llama__Meta-Llama-3.1-405B.json": ("GQA", [(FULL, 126, 8, 128, 128, None)]),
    "meta-llama__Llama-3.1-8B-Instruct.json": ("GQA", [(FULL, 32, 8, 128, 128, None)]),
    "meta-llama__Llama-3.1-70B-Instruct.json": ("GQA", [(FULL, 80, 8, 128, 128, None)]),
    "meta-llama__Llama-3.2-1B-Instruct.json": ("GQA", [(FULL, 16, 8, 64, 64, None)]),
    "meta-llama__Llama-3.2-3B-Instruct.json": ("GQA", [(FULL, 28, 8, 128, 128, None)]),
    "meta-llama__Llama-3.3-70B-Instruct.json": ("GQA", [(FULL, 80, 8, 128, 128, None)]),
    "codellama__CodeLlama-34b-Instruct-hf.json": ("GQA", [(FULL, 48, 8, 128, 128, None)]),
    "mistralai__Mixtral-8x7B-v0.1.json": ("GQA", [(FULL, 32, 8, 128, 128, None)]),
    # Explicit head_dim 128, while hidden 5120 / 32 heads would give 160.
    "mistralai__Mistral-Nemo-Instruct-2407.json": ("GQA", [(FULL, 40, 8, 128, 128, None)]),
    # sliding_window is set, but use_sliding_window is false: no cap.
    "Qwen__Qwen2.5-1.5B.json": ("GQA", [(FULL, 28, 2, 128, 128, None)]),
    "Qwen__Qwen2.5-7B.json": ("GQA", [(FULL, 28, 4, 128, 128, None)]),
    "Qwen__Qwen2.5-7B-Instruct.json": ("GQA", [(FULL, 28, 4, 128, 128, None)]),
    "Qwen__Qwen2.5-32B.json": ("GQA", [(FULL, 64, 8, 128, 128, None)]),
    "Qwen__Qwen2.5-72B.json": ("GQA", [(FULL, 80, 8, 128, 128, None)]),
    "Qwen__Qwen2.5-VL-7B-Instruct.json": ("GQA", [(FULL, 28, 4, 128, 128, None)]),
    "Qwen__Qwen3-0.6B.json": ("GQA", [(FULL, 28, 8, 128, 128, None)]),
    "Qwen__Qwen3-8B.json": ("GQA", [(FULL, 36, 8, 128, 128, None)]),
    "Qwen__Qwen3-14B.json": ("GQA", [(FULL, 40, 8, 128, 128, None)]),
    "Qwen__Qwen3-32B.json": ("GQA", [(FULL, 64, 8, 128, 128, None)]),
    "Qwen__Qwen3-30B-A3B.json": ("GQA", [(FULL, 48, 4, 128, 128, None)]),
    "Qwen__Qwen3-235B-A22B.json": ("GQA", [(FULL, 94, 4, 128, 128, None)]),
    "Qwen__Qwen3-Coder-480B-A35B-Instruct.json": ("GQA", [(FULL, 62, 8, 128, 128, None)]),
    "MiniMaxAI__MiniMax-M2.5.json": ("GQA", [(FULL, 62, 8, 128, 128, None)]),
    "microsoft__phi-2.json": ("MHA", [(FULL, 32, 32, 80, 80, None)]),
    "microsoft__phi-4.json": ("GQA", [(FULL, 40, 10, 128, 128, None)]),
    "THUDM__chatglm2-6b.json": ("GQA", [(FULL, 28, 2, 128, 128, None)]),
    # RefinedWeb (2023) keys: n_head 128, n_head_kv 8, n_layer 60, hidden 8192.
    "tiiuae__falcon-40b.json": ("GQA", [(FULL, 60, 8, 64, 64, None)]),
    "openai-community__gpt2-large.json": ("MHA", [(FULL, 36, 20, 64, 64, None)]),
    # MLA: per-head K of qk_nope + qk_rope = 192, V of 128; the cache holds the 576 latent.
    "deepseek-ai__DeepSeek-V2-Lite.json": ("MLA", [(FULL, 27, 16, 192, 128, None)]),
    "deepseek-ai__DeepSeek-V3.json": ("MLA", [(FULL, 61, 128, 192, 128, None)]),
    "moonshotai__Kimi-K2-Instruct.json": ("MLA", [(FULL, 61, 64, 192, 128, None)]),
    # gpt-oss: layer_types alternate sliding (128) / full.
    "openai__gpt-oss-120b.json": (
        "GQA", [(FULL, 18, 8, 64, 64, None), (SLIDING, 18, 8, 64, 64, 128)]
    ),
    # Gemma 2: every other layer slides over 4096 tokens.
    "google__gemma-2-9b-it.json": (
        "GQA", [(FULL, 21, 8, 256, 256, None), (SLIDING, 21, 8, 256, 256, 4096)]
    ),
    # Gemma 3: 5 sliding (1024) then 1 global; 27B spells heads out, 4B relies on the
    # Gemma3TextConfig defaults (8 heads, 4 KV heads, head_dim 256).
    "google__gemma-3-27b-it.json": (
        "GQA", [(FULL, 10, 16, 128, 128, None), (SLIDING, 52, 16, 128, 128, 1024)]
    ),
    "google__gemma-3-4b-it.json": (
        "GQA", [(FULL, 5, 4, 256, 256, None), (SLIDING, 29, 4, 256, 256, 1024)]
    ),
    # Llama 4: chunked attention (8192) on RoPE layers, every 4th layer (NoPE) global.
    "RedHatAI__Llama-4-Scout-17B-16E-Instruct-FP8-dynamic.json": (
        "GQA", [(FULL, 12, 8, 128, 128, None), (CHUNKED, 36, 8, 128, 128, 8192)]
    ),
    "partial/meta-llama__Llama-4-Scout-17B-16E-Instruct.trimmed.json": (
        "GQA", [(FULL, 12, 8, 128, 128, None), (CHUNKED, 36, 8, 128, 128, 8192)]
    ),
    "partial/meta-llama__Llama-4-Maverick-17B-128E-Instruct.trimmed.json": (
        "GQA", [(FULL, 12, 8, 128, 128, None), (CHUNKED, 36, 8, 128, 128, 8192)]
    ),
    "derived/mistralai__Mistral-7B-Instruct-v0.3.to_dict-dump.json": (
        "GQA", [(FULL, 32, 8, 128, 128, None)]
    ),
    "derived/mistralai__Mistral-7B-Instruct-v0.2.finetune-resave.json": (
        "GQA", [(FULL, 32, 8, 128, 128, None)]
    ),
    "derived/google__gemma-2b.unverified.json": ("MQA", [(FULL, 18, 1, 256, 256, None)]),
    "derived/meta-llama__Meta-Llama-3-8B.resaved.json": ("GQA", [(FULL, 32, 8, 128, 128, None)]),
    # Whisper-small: 12 decoder layers of 12 heads x 64, self- and cross-attention.
    "NbAiLab__nb-whisper-small-beta.json": (
        "MHA", [(FULL, 12, 12, 64, 64, None), (CROSS, 12, 12, 64, 64, None)]
    ),
    # T5-small: 6 decoder layers, 8 heads of d_kv 64.
    "derived/google-t5__t5-small.resaved.json": (
        "MHA", [(FULL, 6, 8, 64, 64, None), (CROSS, 6, 8, 64, 64, None)]
    ),
    # Qwen3-Next: every 4th of 48 layers is full attention (2 KV heads x 256), 36 DeltaNet.
    "Qwen__Qwen3-Next-80B-A3B-Thinking.json": (
        "GQA", [(FULL, 12, 2, 256, 256, None), (STATE, 36, None, None, None, None)]
    ),
    # Nemotron-H 56B: 10 attention (*), 54 Mamba2 (M), 54 MLP-only (-) layers.
    "nvidia__Nemotron-H-56B-Base-8K.json": (
        "GQA", [(FULL, 10, 8, 128, 128, None), (STATE, 54, None, None, None, None),
                (NONE, 54, None, None, None, None)]
    ),
    # Nemotron-Super 49B: 49 attention layers with 64 / 8 = 8 KV heads, 31 no-op.
    "nvidia__Llama-3_3-Nemotron-Super-49B-v1.json": (
        "GQA", [(FULL, 49, 8, 128, 128, None), (NONE, 31, None, None, None, None)]
    ),
    # DSA models: MLA latent (512 + 64) plus a 128-wide indexer key.
    "deepseek-ai__DeepSeek-V3.2.json": ("MLA", [(FULL, 61, 128, 192, 128, None)]),
    "zai-org__GLM-5.json": ("MLA", [(FULL, 78, 64, 256, 256, None)]),
    # Gemma 4: 5 global layers (2 KV heads x 512), 25 sliding (8 KV heads x 256, window 1024).
    "google__gemma-4-26B-A4B.json": (
        "GQA", [(FULL, 5, 2, 512, 512, None), (SLIDING, 25, 8, 256, 256, 1024)]
    ),
    # DeepSeek V4 Flash: a 128-token window of one shared K=V head of 512 on all 43 layers;
    # compress_ratios 0 x 2, then 21 CSA (4) and 20 HCA (128) (tests/test_deepseek_v4.py).
    "deepseek-ai__DeepSeek-V4-Flash.json": (
        "MQA", [(SLIDING, 2, 1, 512, 512, 128), (SLIDING, 21, 1, 512, 512, 128),
                (SLIDING, 20, 1, 512, 512, 128)]
    ),
}  # fmt: skip

# file → words the refusal must contain (every fixture config is read today)
REFUSED: dict[str, str] = {}


def test_every_fixture_config_is_listed() -> None:
    from tests.helpers import FIXTURE_CONFIGS

    files = {str(path.relative_to(FIXTURE_CONFIGS)) for path in FIXTURE_CONFIGS.rglob("*.json")}
    assert files == set(EXPECTED) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reads_published_architecture(name: str) -> None:
    kind, groups = EXPECTED[name]
    architecture = read_architecture(fixture_config(name))
    assert architecture.attention.kind.value == kind
    got = [
        (g.kind, g.count, g.attention and g.attention.num_kv_heads,
         g.attention and g.attention.k_head_dim, g.attention and g.attention.v_head_dim,
         g.window_tokens)
        for g in architecture.groups
    ]  # fmt: skip
    assert got == groups


def test_refuses_unmodelled_layouts() -> None:
    for name, words in REFUSED.items():
        with pytest.raises(UnsupportedConfigError, match=words):
            read_architecture(fixture_config(name))


def test_recurrent_states_from_published_dims() -> None:
    qwen = read_architecture(fixture_config("Qwen__Qwen3-Next-80B-A3B-Thinking.json"))
    state = qwen.groups[1].state
    assert state is not None
    # conv over q, k (16 heads x 128 each) and v (32 heads x 128); state 32 x 128 x 128
    assert (state.conv_channels, state.conv_kernel) == (2 * 16 * 128 + 32 * 128, 4)
    assert state.recurrent_shape == (32, 128, 128)
    nemotron = read_architecture(fixture_config("nvidia__Nemotron-H-56B-Base-8K.json"))
    mamba = nemotron.groups[1].state
    assert mamba is not None
    # Mamba2: 256 heads x 64 = 16,384 inner channels plus 2 x 8 groups x 256 state
    assert (mamba.conv_channels, mamba.recurrent_shape) == (16384 + 2 * 8 * 256, (256, 64, 256))


def test_indexer_keys_of_sparse_attention() -> None:
    attention = read_architecture(fixture_config("deepseek-ai__DeepSeek-V3.2.json")).attention
    assert attention is not None and attention.mla is not None
    assert attention.elements_per_token == 512 + 64 + 128


def test_mla_latent_is_rank_plus_rope() -> None:
    attention = read_architecture(fixture_config("deepseek-ai__DeepSeek-V3.json")).attention
    assert attention is not None and attention.mla is not None
    assert attention.elements_per_token == 512 + 64


def test_gemma3_class_defaults_equal_spelled_out_layer_types() -> None:
    sparse = fixture_config("google__gemma-3-27b-it.json")
    spelled = copy.deepcopy(sparse)
    text = spelled["text_config"]
    assert isinstance(text, dict)
    # Gemma3TextConfig: layer i is global when (i + 1) % 6 == 0, sliding otherwise.
    text["layer_types"] = [
        "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(62)
    ]
    assert read_architecture(sparse).groups == read_architecture(spelled).groups


BASE = {"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 8,
        "num_key_value_heads": 2, "hidden_size": 512}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_attention_heads": None}, "num_attention_heads is null"),
        ({"num_attention_heads": 0}, "num_attention_heads must be positive"),
        ({"num_key_value_heads": 3}, "8 attention heads do not divide into 3 KV heads"),
        ({"num_key_value_heads": 0}, "num_key_value_heads must be positive"),
        ({"num_key_value_heads": "8"}, "num_key_value_heads must be an integer"),
        ({"num_hidden_layers": -4}, "num_hidden_layers must be positive"),
        ({"hidden_size": 500}, "hidden size 500 is not divisible by 8 heads"),
        ({"model_type": "bert"}, "model_type 'bert' is not a config dialect kvcalc knows"),
        ({"model_type": None}, "no model_type"),
        ({"attention_chunk_size": 8192}, "attention_chunk_size"),
        ({"layer_types": ["full_attention", "mamba"]}, "mamba"),
        ({"layer_types": ["full_attention"]}, "lists 1 layers but the model has 2"),
    ],
)
def test_bad_fields_name_the_key_and_model_type(change: dict[str, object], message: str) -> None:
    raw = {**BASE, **change}
    with pytest.raises(ConfigError, match=message):
        read_architecture(raw)


def test_missing_layers_names_every_spelling() -> None:
    raw = {key: value for key, value in BASE.items() if key != "num_hidden_layers"}
    with pytest.raises(
        ConfigError, match="layers is missing: none of num_hidden_layers, n_layer"
    ) as caught:
        read_architecture(raw)
    assert "model_type 'llama'" in str(caught.value)


@pytest.mark.parametrize("raw", [[], "config", 3, None])
def test_non_object_json_is_refused(raw: object) -> None:
    with pytest.raises(ConfigError, match="must be a JSON object"):
        read_architecture(raw)


@pytest.mark.parametrize(
    ("raw", "kv_heads"),
    [
        # Falcon-7B (RefinedWebModel): multi_query → one KV head for 71 query heads.
        ({"model_type": "RefinedWebModel", "n_layer": 32, "n_head": 71, "hidden_size": 4544,
          "multi_query": True}, 1),
        # Falcon-40B in the later transformers dialect.
        ({"model_type": "falcon", "num_hidden_layers": 60, "num_attention_heads": 128,
          "num_kv_heads": 8, "new_decoder_architecture": True, "hidden_size": 8192}, 8),
        # Falcon without multi_query and old architecture: MHA.
        ({"model_type": "falcon", "num_hidden_layers": 2, "num_attention_heads": 4,
          "multi_query": False, "hidden_size": 256}, 4),
        # GPT-BigCode (StarCoder): multi_query defaults to true.
        ({"model_type": "gpt_bigcode", "n_layer": 40, "n_head": 48, "n_embd": 6144}, 1),
        # MPT-7B: multihead attention in attn_config.
        ({"model_type": "mpt", "n_layers": 32, "n_heads": 32, "d_model": 4096,
          "attn_config": {"attn_type": "multihead_attention"}}, 32),
        # DBRX: kv_n_heads 8 in attn_config.
        ({"model_type": "dbrx", "n_layers": 40, "n_heads": 48, "d_model": 6144,
          "attn_config": {"kv_n_heads": 8}}, 8),
        # BLOOM: n_embed spelling, multi-head.
        ({"model_type": "bloom", "n_layer": 70, "n_head": 112, "n_embed": 14336}, 112),
        # OPT and GPT-NeoX: multi-head, no KV key at all.
        ({"model_type": "opt", "num_hidden_layers": 48, "num_attention_heads": 56,
          "hidden_size": 7168}, 56),
        ({"model_type": "gpt_neox", "num_hidden_layers": 44, "num_attention_heads": 64,
          "hidden_size": 6144}, 64),
    ],
)  # fmt: skip
def test_old_dialects(raw: dict[str, object], kv_heads: int) -> None:
    assert read_architecture(raw).attention.num_kv_heads == kv_heads


def test_mistral_v01_window_applies_to_every_layer() -> None:
    # Mistral-7B-v0.1 publishes sliding_window 4096 with 32 layers.
    raw = {**BASE, "model_type": "mistral", "num_hidden_layers": 32, "sliding_window": 4096}
    (group,) = read_architecture(raw).groups
    assert (group.kind, group.count, group.window_tokens) == (SLIDING, 32, 4096)


def test_phi3_window_longer_than_context_is_no_cap() -> None:
    raw = {**BASE, "model_type": "phi3", "sliding_window": 262144,
           "max_position_embeddings": 131072}  # fmt: skip
    assert [g.kind for g in read_architecture(raw).groups] == [FULL]


def test_qwen_use_sliding_window_caps_layers_from_max_window_layers() -> None:
    raw = {**BASE, "model_type": "qwen2", "num_hidden_layers": 28, "use_sliding_window": True,
           "sliding_window": 4096, "max_window_layers": 21}  # fmt: skip
    groups = read_architecture(raw).groups
    assert [(g.kind, g.count) for g in groups] == [(FULL, 21), (SLIDING, 7)]


# State-space, linear-attention and KV-sharing families, at published dims (each dict says where
# they come from) or at the defaults of their transformers 5.23 config class.
GRANITE_4_H_1B_TYPES = (["mamba"] * 5 + ["attention"] + ["mamba"] * 9 + ["attention"]
                        + ["mamba"] * 9 + ["attention"] + ["mamba"] * 9 + ["attention"]
                        + ["mamba"] * 4)  # fmt: skip
LFM2_8B_A1B_TYPES = [
    "conv", "conv", "full_attention", "conv", "conv", "conv", "full_attention", "conv",
    "conv", "conv", "full_attention", "conv", "conv", "conv", "full_attention", "conv",
    "conv", "conv", "full_attention", "conv", "conv", "full_attention", "conv", "conv",
]  # fmt: skip
# MiMo-V2-Flash as a public conversion script lists it: 0 = global attention, 1 = sliding.
MIMO_V2_PATTERN = [0, 1, 1, 1, 1] + ([0] + [1] * 5) * 7 + [0]

# raw config → [(layer kind, layers, KV heads, K head dim, V head dim, window,
#                (conv channels, conv kernel, recurrent shape) or None)]
STATE_FAMILIES = {
    # state-spaces/mamba-130m-hf: d_model 768, 24 layers, d_state 16, expand 2, d_conv 4.
    "mamba-130m": (
        {"model_type": "mamba", "hidden_size": 768, "intermediate_size": 1536,
         "num_hidden_layers": 24, "state_size": 16, "expand": 2, "conv_kernel": 4},
        [(STATE, 24, None, None, None, None, (1536, 4, (1536, 16)))]),
    # Falcon-Mamba at 7B's size: hidden 4096 (inner 8192), 64 layers, d_state 16.
    "falcon-mamba-7b": (
        {"model_type": "falcon_mamba", "hidden_size": 4096, "num_hidden_layers": 64,
         "state_size": 16, "expand": 2, "conv_kernel": 4},
        [(STATE, 64, None, None, None, None, (8192, 4, (8192, 16)))]),
    # Mamba-Codestral-7B (Mamba2Config's defaults): 128 heads x 64, d_state 128, 8 groups.
    "mamba-codestral-7b": (
        {"model_type": "mamba2", "hidden_size": 4096, "num_hidden_layers": 64, "num_heads": 128,
         "head_dim": 64, "state_size": 128, "n_groups": 8, "expand": 2, "conv_kernel": 4},
        [(STATE, 64, None, None, None, None, (8192 + 2 * 8 * 128, 4, (128, 64, 128)))]),
    # Jamba-v0.1 (JambaConfig's defaults): attention at layers 4, 12, 20, 28 of 32.
    "jamba-v0.1": (
        {"model_type": "jamba", "hidden_size": 4096, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 8, "attn_layer_period": 8,
         "attn_layer_offset": 4, "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2},
        [(FULL, 4, 8, 128, 128, None, None),
         (STATE, 28, None, None, None, None, (8192, 4, (8192, 16)))]),
    # Falcon-H1-0.5B: attention (2 KV heads x 64) and Mamba2 (24 x 64, d_state 128) in all 36.
    "falcon-h1-0.5b": (
        {"model_type": "falcon_h1", "hidden_size": 1024, "num_hidden_layers": 36,
         "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64,
         "mamba_d_ssm": 1536, "mamba_n_heads": 24, "mamba_d_head": 64, "mamba_n_groups": 1,
         "mamba_d_state": 128, "mamba_d_conv": 4, "mamba_expand": 2},
        [(FULL, 36, 2, 64, 64, None, None),
         (STATE, 36, None, None, None, None, (1536 + 2 * 128, 4, (24, 64, 128)))]),
    # Granite-4.0-H-1B's hidden size, layer_types, Mamba heads and d_state (as a public test
    # quotes them): 4 attention layers, 36 Mamba2 (48 heads x 64, d_state 128). Attention heads
    # are left to GraniteMoeHybridConfig's defaults: 32, no KV key (MHA), 1536 / 32 = 48 wide.
    "granite-4.0-h-1b": (
        {"model_type": "granitemoehybrid", "hidden_size": 1536, "num_hidden_layers": 40,
         "mamba_n_heads": 48, "mamba_d_state": 128, "layer_types": GRANITE_4_H_1B_TYPES},
        [(FULL, 4, 32, 48, 48, None, None),
         (STATE, 36, None, None, None, None, (3072 + 2 * 128, 4, (48, 64, 128)))]),
    # BambaConfig's defaults (128 Mamba heads, d_state 256, 1 group, 32 heads, 8 KV heads) with
    # attention at layers 9, 18 and 27 of 32.
    "bamba": (
        {"model_type": "bamba", "hidden_size": 4096, "num_hidden_layers": 32,
         "attn_layer_indices": [9, 18, 27]},
        [(FULL, 3, 8, 128, 128, None, None),
         (STATE, 29, None, None, None, None, (8192 + 2 * 256, 4, (128, 64, 256)))]),
    # Zamba2-2.7B (Zamba2Config's defaults): 9 hybrid layers of 54; attention head dim
    # 2 x 2560 / 32 = 160; Mamba2 8 heads x 640, d_state 64.
    "zamba2-2.7b": (
        {"model_type": "zamba2", "hidden_size": 2560, "num_hidden_layers": 54,
         "num_attention_heads": 32, "n_mamba_heads": 8, "mamba_d_state": 64,
         "layers_block_type": (["mamba"] + (["mamba"] * 5 + ["hybrid"]) * 7 + ["mamba"] * 4
                               + ["hybrid"] + ["mamba"] * 3 + ["hybrid"] + ["mamba"] * 2)},
        [(FULL, 9, 32, 160, 160, None, None),
         (STATE, 54, None, None, None, None, (5120 + 2 * 64, 4, (8, 640, 64)))]),
    # MiniMax-Text-01: 80 layers, one softmax layer after every 7 lightning layers; 64 heads x
    # 128, 8 KV heads; a lightning layer keeps a 64 x 128 x 128 state and no conv.
    "minimax-text-01": (
        {"model_type": "minimax", "hidden_size": 6144, "num_hidden_layers": 80,
         "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128,
         "layer_types": (["linear_attention"] * 7 + ["full_attention"]) * 10},
        [(FULL, 10, 8, 128, 128, None, None),
         (STATE, 70, None, None, None, None, (0, 0, (64, 128, 128)))]),
    # LFM2-350M: attention at 2, 5, 8, 10, 12, 14 (16 heads, 8 KV heads); conv 1024 x 3.
    "lfm2-350m": (
        {"model_type": "lfm2", "hidden_size": 1024, "num_hidden_layers": 16,
         "num_attention_heads": 16, "num_key_value_heads": 8, "conv_L_cache": 3,
         "full_attn_idxs": [2, 5, 8, 10, 12, 14]},
        [(FULL, 6, 8, 64, 64, None, None), (STATE, 10, None, None, None, None, (1024, 3, ()))]),
    # LFM2-8B-A1B: layer_types, 32 heads, 8 KV heads, conv 2048 x 3.
    "lfm2-8b-a1b": (
        {"model_type": "lfm2_moe", "hidden_size": 2048, "num_hidden_layers": 24,
         "num_attention_heads": 32, "num_key_value_heads": 8, "conv_L_cache": 3,
         "layer_types": LFM2_8B_A1B_TYPES},
        [(FULL, 6, 8, 64, 64, None, None), (STATE, 18, None, None, None, None, (2048, 3, ()))]),
    # Qwen3.5 (Qwen3_5TextConfig's defaults) inside its multimodal wrapper: every 4th of 32
    # layers full (4 KV heads x 256); gated DeltaNet 16 key heads x 128, 32 value heads x 128.
    "qwen3.5": (
        {"model_type": "qwen3_5", "text_config": {
            "model_type": "qwen3_5_text", "hidden_size": 4096, "num_hidden_layers": 32,
            "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 256,
            "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128,
            "linear_value_head_dim": 128, "linear_num_key_heads": 16,
            "linear_num_value_heads": 32}},
        [(FULL, 8, 4, 256, 256, None, None),
         (STATE, 24, None, None, None, None, (2 * 16 * 128 + 32 * 128, 4, (32, 128, 128)))]),
    # Kimi-Linear-48B-A3B (KimiLinearConfig's defaults): MLA (512 + 64 latent) every 4th layer
    # from layer 4; KDA 32 heads x 128: conv over q, k, v, a 128 x 128 state per head.
    "kimi-linear-48b": (
        {"model_type": "kimi_linear", "hidden_size": 2304, "num_hidden_layers": 27,
         "num_attention_heads": 32, "num_key_value_heads": 32, "kv_lora_rank": 512,
         "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128,
         "linear_attn_config": {"num_heads": 32, "head_dim": 128, "short_conv_kernel_size": 4}},
        [(FULL, 6, 32, 192, 128, None, None),
         (STATE, 21, None, None, None, None, (3 * 32 * 128, 4, (32, 128, 128)))]),
    # Gemma 3n E4B (Gemma3nTextConfig's defaults): 35 layers, the last 15 KV-shared; of the 20
    # that store, every 5th is full and the rest slide over 512 tokens.
    "gemma-3n-e4b": (
        {"model_type": "gemma3n", "text_config": {
            "model_type": "gemma3n_text", "hidden_size": 2048, "num_hidden_layers": 35,
            "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256,
            "sliding_window": 512, "num_kv_shared_layers": 15}},
        [(FULL, 4, 2, 256, 256, None, None), (SLIDING, 16, 2, 256, 256, 512, None),
         (NONE, 15, None, None, None, None, None)]),
    # MiMo-V2-Flash as a public conversion script lists it: 9 global layers (4 KV heads), 39
    # sliding (8 KV heads), K 192 / V 128; sliding_window_size 128 (MiMoV2FlashConfig adds the
    # query: 129, its default).
    "mimo-v2-flash": (
        {"model_type": "mimo_v2_flash", "hidden_size": 4096, "num_hidden_layers": 48,
         "num_attention_heads": 64, "num_key_value_heads": 4, "swa_num_key_value_heads": 8,
         "head_dim": 192, "v_head_dim": 128, "swa_head_dim": 192, "swa_v_head_dim": 128,
         "sliding_window_size": 128, "hybrid_layer_pattern": MIMO_V2_PATTERN},
        [(FULL, 9, 4, 192, 128, None, None), (SLIDING, 39, 8, 192, 128, 129, None)]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(STATE_FAMILIES))
def test_state_and_sharing_families_read_their_published_layout(name: str) -> None:
    raw, expected = STATE_FAMILIES[name]
    architecture = read_architecture(copy.deepcopy(raw))
    got = [
        (g.kind, g.count, g.attention and g.attention.num_kv_heads,
         g.attention and g.attention.k_head_dim, g.attention and g.attention.v_head_dim,
         g.window_tokens,
         g.state and (g.state.conv_channels, g.state.conv_kernel, g.state.recurrent_shape))
        for g in architecture.groups
    ]  # fmt: skip
    assert got == expected


def test_qwen3_5_layer_types_win_over_full_attention_interval() -> None:
    raw, _ = STATE_FAMILIES["qwen3.5"]
    both = copy.deepcopy(raw)
    text = both["text_config"]
    assert isinstance(text, dict)
    text["layer_types"] = ["full_attention" if (i + 1) % 4 == 0 else "linear_attention"
                           for i in range(32)]  # fmt: skip
    text["full_attention_interval"] = 4
    assert read_architecture(both).groups == read_architecture(raw).groups


def test_hybrid_layers_count_once() -> None:
    # Falcon-H1 and Zamba2 layers hold attention keys and a state: two groups, one layer each.
    for name, layers in (("falcon-h1-0.5b", 36), ("zamba2-2.7b", 54)):
        architecture = read_architecture(STATE_FAMILIES[name][0])
        assert architecture.num_layers == layers
        assert architecture.naive is not None and architecture.naive.num_layers == layers


def test_pure_state_models_have_no_attention() -> None:
    raw, _ = STATE_FAMILIES["mamba-130m"]
    architecture = read_architecture(raw)
    assert architecture.attention is None and architecture.naive is None


def test_kimi_linear_one_based_layer_lists_equal_layer_types() -> None:
    raw, _ = STATE_FAMILIES["kimi-linear-48b"]
    full = [index + 1 for index in range(27) if index and index % 4 == 0]
    listed = copy.deepcopy(raw)
    listed["linear_attn_config"].update(  # type: ignore[union-attr]
        full_attn_layers=full, kda_layers=[n for n in range(1, 28) if n not in full]
    )
    assert read_architecture(listed).groups == read_architecture(raw).groups


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # MiniMax-Text-01's remote-code config: not the native `minimax` dialect.
        ({"model_type": "minimax_text_01", "num_hidden_layers": 80,
          "attn_type_list": [0] * 7 + [1]}, "attn_type_list"),
        ({"model_type": "plamo2", "num_hidden_layers": 32}, "mamba_step"),
        ({"model_type": "zamba", "num_hidden_layers": 76}, "attn_layer_period"),
        # Mamba: intermediate_size must be expand x hidden_size (transformers recomputes it).
        ({"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 2,
          "intermediate_size": 1000}, "intermediate_size 1000 is not expand x hidden_size"),
        ({"model_type": "mamba2", "hidden_size": 4096, "num_hidden_layers": 2, "num_heads": 64},
         "64 Mamba heads x head dim 64 must equal the Mamba inner width 8192"),
        ({"model_type": "zamba2", "hidden_size": 2560, "num_hidden_layers": 2},
         "layers_block_type is missing"),
        ({"model_type": "granitemoehybrid", "hidden_size": 1536, "num_hidden_layers": 2,
          "layer_types": ["mamba", "moe_attention"]}, "layer_types must list one of"),
        ({"model_type": "minimax", "hidden_size": 4096, "num_hidden_layers": 2,
          "num_attention_heads": 32, "sliding_window": 4096}, "sliding_window on MiniMax"),
        ({"model_type": "gemma3n_text", "num_hidden_layers": 10, "num_kv_shared_layers": 10},
         "num_kv_shared_layers must be an integer from 0 to 9"),
        ({"model_type": "lfm2_moe", "hidden_size": 2048, "num_hidden_layers": 2,
          "num_attention_heads": 32}, "layer_types is missing"),
    ],
)  # fmt: skip
def test_state_family_refusals_name_the_fields(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read_architecture(raw)


# Qwen3-VL-8B-Instruct's text_config (Qwen3-8B's tower): 36 layers, 32 heads, 8 KV heads x
# 128; Qwen3-VL-30B-A3B's (Qwen3-30B-A3B's): 48 layers, 32 heads, 4 KV heads x 128.
@pytest.mark.parametrize(
    ("outer", "inner", "layers", "kv_heads"),
    [("qwen3_vl", "qwen3_vl_text", 36, 8), ("qwen3_vl_moe", "qwen3_vl_moe_text", 48, 4)],
)
def test_qwen3_vl_reads_its_text_config(outer: str, inner: str, layers: int, kv_heads: int) -> None:
    raw = {"model_type": outer, "vision_config": {"depth": 27}, "text_config": {
        "model_type": inner, "hidden_size": 4096 if layers == 36 else 2048,
        "num_hidden_layers": layers, "num_attention_heads": 32, "num_key_value_heads": kv_heads,
        "head_dim": 128, "max_position_embeddings": 262144}}  # fmt: skip
    architecture = read_architecture(raw)
    got = [(g.kind, g.count, g.cached_attention.num_kv_heads, g.cached_attention.k_head_dim)
           for g in architecture.groups]  # fmt: skip
    assert got == [(FULL, layers, kv_heads, 128)]
    assert architecture.max_position_embeddings == 262144


def test_smollm3_caches_every_layer_nope_or_not() -> None:
    # HuggingFaceTB/SmolLM3-3B: 36 layers, 16 heads, 4 KV heads, hidden 2048 (head dim 128);
    # every 4th layer is NoPE, which changes nothing in the cache; 65,536 positions.
    raw = json.loads((ROOT / "presets" / "HuggingFaceTB__SmolLM3-3B.json").read_text())
    architecture = read_architecture(raw)
    got = [(g.kind, g.count, g.cached_attention.num_kv_heads, g.cached_attention.k_head_dim)
           for g in architecture.groups]  # fmt: skip
    assert got == [(FULL, 36, 4, 128)]
    assert architecture.max_position_embeddings == 65536
    # SmolLM3Config.__post_init__: with use_sliding_window and a window, the NoPE layers slide.
    sliding = {k: v for k, v in raw.items() if k != "layer_types"}
    sliding.update(use_sliding_window=True, sliding_window=4096)
    groups = read_architecture(sliding).groups
    assert [(g.kind, g.count, g.window_tokens) for g in groups] == [
        (FULL, 27, None),
        (SLIDING, 9, 4096),
    ]


def test_mimo_v2_ignores_attention_chunk_size_as_vllm_does() -> None:
    raw, _ = STATE_FAMILIES["mimo-v2-flash"]
    chunked = {**copy.deepcopy(raw), "attention_chunk_size": 128}
    assert read_architecture(chunked).groups == read_architecture(copy.deepcopy(raw)).groups


# transformers 5.23: MistralConfig.num_key_value_heads = 8, Qwen2Config's = 32,
# LlamaConfig.max_position_embeddings = 2048; a null num_key_value_heads is one per head.
@pytest.mark.parametrize(
    ("model_type", "change", "kv_heads", "cited"),
    [("mistral", {}, 8, "default 8 of MistralConfig (transformers 5.23)"),
     ("qwen2", {}, 32, "default 32 of Qwen2Config (transformers 5.23)"),
     ("mistral", {"num_key_value_heads": None}, 32, "num_key_value_heads null: one per "
      "attention head (MHA)"),
     ("llama", {}, 32, "absent: one per attention head (MHA)")],
)  # fmt: skip
def test_absent_keys_take_the_config_class_default(
    model_type: str, change: dict[str, object], kv_heads: int, cited: str
) -> None:
    raw = {"model_type": model_type, "num_hidden_layers": 2, "num_attention_heads": 32,
           "hidden_size": 4096, **change}  # fmt: skip
    architecture = read_architecture(raw)
    assert architecture.groups[0].cached_attention.num_kv_heads == kv_heads
    assert ("KV heads", cited) in architecture.provenance
    if model_type == "llama":
        assert architecture.max_position_embeddings == 2048
        assert ("max positions", "default 2048 of LlamaConfig (transformers 5.23)") in (
            architecture.provenance
        )
