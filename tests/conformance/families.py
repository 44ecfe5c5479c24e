"""The model families the conformance suite measures, each tied to a real config.

Every family names a file in `tests/fixtures/configs` (see `INDEX.md` there). Where the file
cannot be built as it is, `tweak` says what was changed and `derive` does it. Four families
have no file there (OPT, GPT-BigCode, GPT-NeoX, BLOOM); their dicts below are typed from the
values those models publish in their `config.json` on the Hub, not copied from a file, and
`source` says so.
Replace them with verbatim files when such files are added to tests/fixtures/configs.

`supported` is False for a family this `transformers` cannot build without remote code (which the
suite never runs).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import FIXTURE_CONFIGS

Config = dict[str, Any]


@dataclass(frozen=True)
class Family:
    """One family of models, and the real config that stands for it."""

    name: str
    #: Path under tests/fixtures/configs, or a description of the published dims used.
    source: str
    #: What was changed from the file, or "" when the file is used verbatim.
    tweak: str = ""
    derive: Callable[[Config], Config] | None = None
    #: A config dict used instead of a file (published dims of a model with no file at hand).
    inline: Config | None = None
    supported: bool = True
    reason: str = ""
    #: What the family is here to exercise.
    covers: str = ""
    #: False to build the config exactly as `load` gives it (when `derive` already made it small).
    shrink: bool = True

    def load(self, configs_dir: Path = FIXTURE_CONFIGS) -> Config:
        """The config dict to measure (a fresh copy each call)."""
        if self.inline is not None:
            data: Config = copy.deepcopy(self.inline)
        else:
            path = configs_dir / self.source
            data = json.loads(path.read_text(encoding="utf-8"))
        return self.derive(data) if self.derive is not None else data

    @property
    def has_file(self) -> bool:
        return self.inline is None


def _text_config(data: Config) -> Config:
    """The decoder's own config, for multimodal files whose decoder is a text-only class."""
    text: Config = copy.deepcopy(data["text_config"])
    for key in ("torch_dtype", "dtype", "tie_word_embeddings"):
        if key in data and key not in text:
            text[key] = data[key]
    return text


def _refinedweb_to_falcon(data: Config) -> Config:
    """Falcon-40B's 2023 `RefinedWeb` keys, renamed as its current Hub revision names them.

    `RefinedWeb` has no native class in `transformers`; the present `falcon-40b` config.json says
    `model_type: falcon`, `num_attention_heads`, `num_kv_heads`, `num_hidden_layers` and
    `new_decoder_architecture: true` for the same model. Nothing else is changed.
    """
    out = copy.deepcopy(data)
    out["model_type"] = "falcon"
    out["architectures"] = ["FalconForCausalLM"]
    out.pop("auto_map", None)
    out["num_attention_heads"] = out.pop("n_head")
    out["num_kv_heads"] = out.pop("n_head_kv")
    out["num_hidden_layers"] = out.pop("n_layer")
    out["new_decoder_architecture"] = True
    return out


# Published dims, for families with no file in tests/fixtures/configs.

OPT_125M: Config = {
    "_name_or_path": "facebook/opt-125m",
    "activation_dropout": 0.0,
    "activation_function": "relu",
    "architectures": ["OPTForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 2,
    "do_layer_norm_before": True,
    "dropout": 0.1,
    "eos_token_id": 2,
    "ffn_dim": 3072,
    "hidden_size": 768,
    "init_std": 0.02,
    "layerdrop": 0.0,
    "max_position_embeddings": 2048,
    "model_type": "opt",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "prefix": "</s>",
    "torch_dtype": "float16",
    "use_cache": True,
    "vocab_size": 50272,
    "word_embed_proj_dim": 768,
}

STARCODER: Config = {
    "_name_or_path": "bigcode/starcoder",
    "activation_function": "gelu_pytorch_tanh",
    "architectures": ["GPTBigCodeForCausalLM"],
    "attention_softmax_in_fp32": True,
    "attn_pdrop": 0.1,
    "bos_token_id": 0,
    "embd_pdrop": 0.1,
    "eos_token_id": 0,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "model_type": "gpt_bigcode",
    "multi_query": True,
    "n_embd": 6144,
    "n_head": 48,
    "n_inner": 24576,
    "n_layer": 40,
    "n_positions": 8192,
    "resid_pdrop": 0.1,
    "scale_attention_softmax_in_fp32": True,
    "scale_attn_weights": True,
    "use_cache": True,
    "vocab_size": 49152,
}

GPT_NEOX_20B: Config = {
    "_name_or_path": "EleutherAI/gpt-neox-20b",
    "architectures": ["GPTNeoXForCausalLM"],
    "bos_token_id": 0,
    "eos_token_id": 0,
    "hidden_act": "gelu_fast",
    "hidden_size": 6144,
    "initializer_range": 0.02,
    "intermediate_size": 24576,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 2048,
    "model_type": "gpt_neox",
    "num_attention_heads": 64,
    "num_hidden_layers": 44,
    "rotary_emb_base": 10000,
    "rotary_pct": 0.25,
    "tie_word_embeddings": False,
    "torch_dtype": "float16",
    "use_cache": True,
    "use_parallel_residual": True,
    "vocab_size": 50432,
}

BLOOM_560M: Config = {
    "_name_or_path": "bigscience/bloom-560m",
    "apply_residual_connection_post_layernorm": False,
    "architectures": ["BloomForCausalLM"],
    "attention_dropout": 0.0,
    "attention_softmax_in_fp32": True,
    "bias_dropout_fusion": True,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_dropout": 0.0,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "masked_softmax_fusion": True,
    "model_type": "bloom",
    "n_embed": 1024,
    "n_inner": None,
    "n_layer": 24,
    "num_attention_heads": 16,
    "offset_alibi": 100,
    "pad_token_id": 3,
    "pretraining_tp": 1,
    "seq_length": 2048,
    "skip_bias_add": True,
    "skip_bias_add_qkv": False,
    "slow_but_exact": False,
    "unk_token_id": 0,
    "use_cache": True,
    "vocab_size": 250880,
}


FAMILIES: tuple[Family, ...] = (
    Family(
        "llama", "meta-llama__Meta-Llama-3.1-8B.json", covers="GQA 8 KV heads, derived head_dim"
    ),
    Family(
        "mistral",
        "mistralai__Mistral-Nemo-Instruct-2407.json",
        covers="explicit head_dim 128 != hidden/heads, sliding_window null",
    ),
    Family(
        "mistral-todict",
        "derived/mistralai__Mistral-7B-Instruct-v0.3.to_dict-dump.json",
        covers="a PretrainedConfig.to_dict dump with every default key",
    ),
    Family("mixtral", "mistralai__Mixtral-8x7B-v0.1.json", covers="MoE, GQA"),
    Family(
        "qwen2",
        "Qwen__Qwen2.5-7B.json",
        covers="sliding_window set but use_sliding_window false",
    ),
    Family("qwen3", "Qwen__Qwen3-8B.json", covers="explicit head_dim"),
    Family("qwen3_moe", "Qwen__Qwen3-30B-A3B.json", covers="MoE, 4 KV heads"),
    Family("phi3", "microsoft__phi-4.json", covers="phi3 class, 10 KV heads"),
    Family("phi", "microsoft__phi-2.json", covers="MHA, head_dim 80, partial rotary"),
    Family(
        "gemma",
        "derived/google__gemma-2b.unverified.json",
        covers="MQA (1 KV head), head_dim 256",
    ),
    Family("gemma2", "google__gemma-2-9b-it.json", covers="alternating sliding 4096 / global"),
    Family(
        "gemma3_text",
        "google__gemma-3-4b-it.json",
        tweak="text_config taken out of the multimodal file (Gemma3ForCausalLM)",
        derive=_text_config,
        covers="sparse text_config: heads, KV heads, head_dim from class defaults; 5:1 sliding",
    ),
    Family(
        "gemma3_text-27b",
        "google__gemma-3-27b-it.json",
        tweak="text_config taken out of the multimodal file (Gemma3ForCausalLM)",
        derive=_text_config,
        covers="explicit head_dim 128, 16 KV heads, sliding 1024",
    ),
    Family("gpt_oss", "openai__gpt-oss-120b.json", covers="layer_types alternating sliding 128"),
    Family(
        "llama4_text",
        "RedHatAI__Llama-4-Scout-17B-16E-Instruct-FP8-dynamic.json",
        tweak="text_config taken out of the multimodal file (Llama4ForCausalLM); "
        "the FP8 quantization_config is at the top level and is left behind",
        derive=_text_config,
        covers="chunked attention 8192 on 3 of every 4 layers (no_rope_layers default)",
    ),
    Family("deepseek_v2", "deepseek-ai__DeepSeek-V2-Lite.json", covers="MLA, q_lora_rank null"),
    Family("deepseek_v3", "deepseek-ai__DeepSeek-V3.json", covers="MLA, q_lora_rank 1536"),
    Family(
        "qwen3_next",
        "Qwen__Qwen3-Next-80B-A3B-Thinking.json",
        covers="gated delta net linear attention 3:1 with full attention",
    ),
    Family(
        "nemotron_h",
        "nvidia__Nemotron-H-56B-Base-8K.json",
        covers="Mamba2 / attention / MLP hybrid_override_pattern",
    ),
    Family(
        "falcon",
        "tiiuae__falcon-40b.json",
        tweak="RefinedWeb keys renamed to the falcon class's (see _refinedweb_to_falcon)",
        derive=_refinedweb_to_falcon,
        covers="new_decoder_architecture with 8 KV groups",
    ),
    Family("gpt2", "openai-community__gpt2-large.json", covers="MHA, n_* keys"),
    Family(
        "opt",
        "published dims of facebook/opt-125m (no file in shared configs)",
        inline=OPT_125M,
        covers="MHA, ffn_dim",
    ),
    Family(
        "gpt_bigcode",
        "published dims of bigcode/starcoder (no file in shared configs)",
        inline=STARCODER,
        covers="multi_query: one KV head",
    ),
    Family(
        "gpt_neox",
        "published dims of EleutherAI/gpt-neox-20b (no file in shared configs)",
        inline=GPT_NEOX_20B,
        covers="MHA, head_dim 96",
    ),
    Family(
        "bloom",
        "published dims of bigscience/bloom-560m (no file in shared configs)",
        inline=BLOOM_560M,
        covers="ALiBi MHA, n_embed key",
    ),
    Family(
        "t5",
        "derived/google-t5__t5-small.resaved.json",
        covers="encoder-decoder: self-attention and cross-attention caches, d_kv",
    ),
    Family(
        "whisper",
        "NbAiLab__nb-whisper-small-beta.json",
        covers="encoder-decoder: cross-attention over max_source_positions audio frames",
    ),
    Family(
        "nemotron-nas",
        "nvidia__Llama-3_3-Nemotron-Super-49B-v1.json",
        supported=False,
        reason="model_type nemotron-nas (DeciLM block_configs) has no native transformers class; "
        "it needs remote code",
        covers="heterogeneous block_configs, no_op attention layers",
    ),
)

#: Families beyond the required list: newer cache layer kinds.
EXTRA_FAMILIES: tuple[Family, ...] = (
    Family(
        "deepseek_v32",
        "deepseek-ai__DeepSeek-V3.2.json",
        covers="MLA plus the DSA indexer's key cache",
    ),
    Family("glm_moe_dsa", "zai-org__GLM-5.json", covers="MLA-style latent plus DSA indexer"),
    Family("minimax_m2", "MiniMaxAI__MiniMax-M2.5.json", covers="full-attention GQA MoE"),
    Family(
        "gemma4_text",
        "google__gemma-4-26B-A4B.json",
        tweak="text_config taken out of the multimodal file",
        derive=_text_config,
        covers="sliding/full layers with different head dims, attention_k_eq_v",
    ),
    Family("deepseek_v4", "deepseek-ai__DeepSeek-V4-Flash.json", covers="compressed attention"),
)


def by_name(name: str) -> Family:
    """The family called `name`, from any list."""
    from tests.conformance.hybrid_families import HYBRID_FAMILIES

    for family in (*FAMILIES, *EXTRA_FAMILIES, *HYBRID_FAMILIES):
        if family.name == name:
            return family
    raise KeyError(name)
