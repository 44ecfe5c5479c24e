"""Conformance families for state-space, linear-attention and KV-sharing layouts.

No file in `tests/fixtures/configs` stands for these families, and nothing is downloaded: each dict
below is either the published dims of a released model (its `source` says where they were read)
or the defaults of the transformers 5.23 config class, whose docstring names the checkpoint the
defaults follow. Where a published size would make the random-weight build slow on a CPU,
`tweak` names what was scaled down; kvcalc is always run on the very config that was built, so
the comparison stays exact, and tests/test_dialects.py checks the readings at published dims.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from tests.conformance.families import Config, Family

# state-spaces/mamba-130m-hf: d_model 768, 24 layers, d_state 16, expand 2, d_conv 4.
MAMBA_130M: Config = {
    "architectures": ["MambaForCausalLM"], "model_type": "mamba", "hidden_size": 768,
    "intermediate_size": 1536, "num_hidden_layers": 24, "state_size": 16, "expand": 2,
    "conv_kernel": 4, "vocab_size": 50280,
}  # fmt: skip

# state-spaces/mamba2-130m: d_model 768, 24 layers, and mamba_ssm's Mamba2 defaults (d_state 128,
# headdim 64, ngroups 1, d_conv 4), in Mamba2Config's keys (the repository ships a mamba_ssm
# config, not a transformers one).
MAMBA2_130M: Config = {
    "architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", "hidden_size": 768,
    "num_hidden_layers": 24, "num_heads": 24, "head_dim": 64, "state_size": 128, "n_groups": 1,
    "expand": 2, "conv_kernel": 4, "vocab_size": 50288,
}  # fmt: skip

# tiiuae/Falcon-H1-0.5B, as the unit tests of NVIDIA's Megatron-Bridge copy its config.json.
FALCON_H1_05B: Config = {
    "architectures": ["FalconH1ForCausalLM"], "model_type": "falcon_h1",
    "attention_in_multiplier": 1.0, "attention_out_multiplier": 0.9375,
    "embedding_multiplier": 5.656854249492381, "head_dim": 64, "hidden_act": "silu",
    "hidden_size": 1024, "intermediate_size": 2048, "key_multiplier": 0.39062499999999994,
    "lm_head_multiplier": 0.0390625, "mamba_chunk_size": 128, "mamba_conv_bias": True,
    "mamba_d_conv": 4, "mamba_d_head": 64, "mamba_d_state": 128, "mamba_expand": 2,
    "mamba_n_groups": 1, "mamba_n_heads": 24, "mamba_norm_before_gate": False,
    "mamba_proj_bias": False, "mamba_rms_norm": False, "max_position_embeddings": 16384,
    "mlp_multipliers": [0.8838834764831844, 0.5859375], "num_attention_heads": 8,
    "num_hidden_layers": 36, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
    "ssm_in_multiplier": 1.25,
    "ssm_multipliers": [0.3535533905932738, 0.25, 0.3535533905932738, 0.5, 0.3535533905932738],
    "ssm_out_multiplier": 0.23570226039551587, "torch_dtype": "bfloat16", "vocab_size": 32784,
}  # fmt: skip

# ibm-granite/granite-4.0-h-1b as a public test quotes it: hidden 1536, 40 layers, 48 Mamba heads,
# d_state 128, attention at layers 5, 15, 25 and 35. Attention heads are the class defaults.
GRANITE_4_H_1B: Config = {
    "architectures": ["GraniteMoeHybridForCausalLM"], "model_type": "granitemoehybrid",
    "hidden_size": 1536, "num_hidden_layers": 40, "vocab_size": 100352,
    "max_position_embeddings": 131072, "mamba_n_heads": 48, "mamba_d_state": 128,
    "mamba_chunk_size": 256,
    "layer_types": (["mamba"] * 5 + ["attention"] + ["mamba"] * 9 + ["attention"]
                    + ["mamba"] * 9 + ["attention"] + ["mamba"] * 9 + ["attention"]
                    + ["mamba"] * 4),
}  # fmt: skip

# LiquidAI/LFM2-350M, trimmed to the keys a public MLX port reads (quoted in its tests).
LFM2_350M: Config = {
    "model_type": "lfm2", "vocab_size": 65536, "hidden_size": 1024, "num_hidden_layers": 16,
    "num_attention_heads": 16, "num_key_value_heads": 8, "max_position_embeddings": 128000,
    "norm_eps": 1e-05, "conv_bias": False, "conv_L_cache": 3, "rope_theta": 1000000.0,
    "full_attn_idxs": [2, 5, 8, 10, 12, 14], "block_dim": 1024, "block_ff_dim": 6656,
}  # fmt: skip


def _class_default_layer_types(model_type: str, layers: int) -> list[str]:
    """The layer_types a config class derives, written out (Kimi Linear, MiniMax)."""
    if model_type == "kimi_linear":  # full attention at 4, 8, ...
        return ["full_attention" if i and i % 4 == 0 else "linear_attention" for i in range(layers)]
    return ["full_attention" if i % 2 == 0 else "linear_attention" for i in range(layers)]


def _scaled(**changes: object) -> Callable[[Config], Config]:
    def derive(data: Config) -> Config:
        out = copy.deepcopy(data)
        out.update(copy.deepcopy(changes))
        return out

    return derive


def _granite_mlp(data: Config) -> Config:
    """MLP and expert widths cut (they never reach the cache; the measurement keeps every width
    of a Mamba family, since most size the state)."""
    return {**data, "intermediate_size": 64, "shared_intermediate_size": 64, "mamba_chunk_size": 64}


KIMI_LINEAR_DEFAULTS: Config = {
    "model_type": "kimi_linear", "hidden_size": 2304, "intermediate_size": 9216,
    "moe_intermediate_size": 1024, "num_hidden_layers": 27, "num_attention_heads": 32,
    "num_key_value_heads": 32, "kv_lora_rank": 512, "qk_rope_head_dim": 64,
    "qk_nope_head_dim": 128, "v_head_dim": 128, "num_local_experts": 256,
    "num_experts_per_tok": 8,
    "linear_attn_config": {"num_heads": 32, "head_dim": 128, "short_conv_kernel_size": 4},
}  # fmt: skip

GEMMA3N_SMALL: Config = {
    "architectures": ["Gemma3nForCausalLM"], "model_type": "gemma3n_text",
    "num_hidden_layers": 35, "num_kv_shared_layers": 15, "hidden_size": 256,
    "intermediate_size": 64, "vocab_size": 512, "vocab_size_per_layer_input": 512,
    "hidden_size_per_layer_input": 16, "laurel_rank": 8,
}  # fmt: skip

HYBRID_FAMILIES: tuple[Family, ...] = (
    Family(
        "mamba",
        "published dims of state-spaces/mamba-130m-hf",
        inline=MAMBA_130M,
        covers="Mamba1 state on every layer, no attention",
    ),
    Family(
        "mamba2",
        "published dims of state-spaces/mamba2-130m",
        inline=MAMBA2_130M,
        covers="Mamba2 state on every layer, no attention",
    ),
    Family(
        "falcon_mamba",
        "FalconMambaConfig defaults (checkpoint tiiuae/falcon-mamba-7b)",
        inline={"model_type": "falcon_mamba", "hidden_size": 768, "num_hidden_layers": 64},
        covers="Mamba1 mixer with RMS-normed B/C/dt",
    ),
    Family(
        "jamba",
        "JambaConfig defaults, written out (checkpoint ai21labs/Jamba-v0.1)",
        inline={
            "model_type": "jamba",
            "vocab_size": 65536,
            "hidden_size": 4096,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "num_experts": 16,
            "attn_layer_period": 8,
            "attn_layer_offset": 4,
            "mamba_d_state": 16,
            "mamba_d_conv": 4,
            "mamba_expand": 2,
        },
        tweak="hidden_size 4096 -> 512 and MLP width 64: a small build; the attention period "
        "8 / offset 4, heads, KV heads, d_state, d_conv and expand are the defaults",
        derive=_scaled(hidden_size=512, intermediate_size=64),
        covers="Mamba1 layers with attention every 8th layer",
    ),
    Family(
        "falcon_h1",
        "published config of tiiuae/Falcon-H1-0.5B (as Megatron-Bridge's tests copy it)",
        inline=FALCON_H1_05B,
        tweak="mamba_d_ssm 1536 (= 24 heads x 64) added: the copy leaves it out and the "
        "class default (1024) does not fit the published heads",
        derive=_scaled(mamba_d_ssm=1536),
        covers="attention and Mamba2 side by side in every layer",
    ),
    Family(
        "bamba",
        "BambaConfig defaults, written out (checkpoint ibm-fms/Bamba-9.8b-2.2T-hf)",
        inline={
            "model_type": "bamba",
            "vocab_size": 128000,
            "hidden_size": 4096,
            "num_hidden_layers": 8,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "mamba_n_groups": 1,
            "mamba_d_conv": 4,
            "mamba_expand": 2,
        },
        tweak="hidden_size 512, 16 Mamba heads, d_state 64, scan chunk 64, attention at "
        "layers 2 and 5 (the class default has none): a small build of its layout rules",
        derive=_scaled(
            hidden_size=512,
            intermediate_size=64,
            mamba_n_heads=16,
            mamba_d_state=64,
            attn_layer_indices=[2, 5],
            mamba_chunk_size=64,
        ),
        covers="attn_layer_indices, Mamba2 with d_head auto",
    ),
    Family(
        "granitemoehybrid",
        "published dims of ibm-granite/granite-4.0-h-1b (partial: hidden, "
        "layers, Mamba heads and state, layer_types)",
        inline=GRANITE_4_H_1B,
        tweak="MLP widths 64 and the scan's chunk 64 (neither reaches the cache)",
        derive=_granite_mlp,
        covers="layer_types mamba / attention",
    ),
    Family(
        "zamba2",
        "Zamba2Config defaults, written out (checkpoint Zyphra/Zamba2-2.7B)",
        inline={
            "model_type": "zamba2",
            "hidden_size": 2560,
            "num_hidden_layers": 54,
            "num_attention_heads": 32,
            "n_mamba_heads": 8,
            "mamba_d_state": 64,
            "mamba_ngroups": 1,
            "mamba_d_conv": 4,
            "mamba_expand": 2,
        },
        tweak="hidden_size 512 and the class's default 54-layer layers_block_type written out",
        derive=_scaled(
            hidden_size=512,
            layers_block_type=(
                ["mamba"]
                + (["mamba"] * 5 + ["hybrid"]) * 7
                + ["mamba"] * 4
                + ["hybrid"]
                + ["mamba"] * 3
                + ["hybrid"]
                + ["mamba"] * 2
            ),
        ),
        covers="shared attention cached per hybrid layer, head dim 2 x hidden / heads",
    ),
    Family(
        "kimi_linear",
        "KimiLinearConfig defaults, written out (checkpoint "
        "moonshotai/Kimi-Linear-48B-A3B-Instruct)",
        inline=KIMI_LINEAR_DEFAULTS,
        tweak="the class's default layer_types written out",
        derive=lambda d: {**d, "layer_types": _class_default_layer_types("kimi_linear", 27)},
        covers="MLA layers and KDA layers (3 conv states, fp32 D x D state)",
    ),
    Family(
        "minimax",
        "MiniMaxConfig defaults, written out (checkpoint MiniMaxAI/MiniMax-Text-01-hf)",
        inline={
            "model_type": "minimax",
            "hidden_size": 4096,
            "intermediate_size": 14336,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "num_local_experts": 8,
            "num_experts_per_tok": 2,
        },
        tweak="head_dim 128 (= 4096 / 32) and the class's default layer_types written out",
        derive=lambda d: {
            **d,
            "head_dim": 128,
            "layer_types": _class_default_layer_types("minimax", 32),
        },
        covers="lightning attention: a model-dtype state, no conv",
    ),
    Family(
        "qwen3_5_text",
        "Qwen3_5TextConfig defaults, written out (checkpoint Qwen/Qwen3.5-27B)",
        inline={
            "model_type": "qwen3_5_text",
            "vocab_size": 248320,
            "hidden_size": 4096,
            "intermediate_size": 12288,
            "num_hidden_layers": 32,
            "num_attention_heads": 16,
            "num_key_value_heads": 4,
            "head_dim": 256,
            "linear_conv_kernel_dim": 4,
            "linear_key_head_dim": 128,
            "linear_value_head_dim": 128,
            "linear_num_key_heads": 16,
            "linear_num_value_heads": 32,
        },
        covers="gated DeltaNet 3:1, full_attention_interval from the class default",
    ),
    Family(
        "lfm2",
        "LiquidAI/LFM2-350M (trimmed, as a public MLX port's tests quote it)",
        inline=LFM2_350M,
        covers="short-conv layers: a conv state and no recurrent state",
    ),
    Family(
        "cohere2",
        "Cohere2Config defaults, written out (checkpoint CohereForAI/c4ai-command-r-v01)",
        inline={
            "model_type": "cohere2",
            "vocab_size": 256000,
            "hidden_size": 8192,
            "intermediate_size": 22528,
            "num_hidden_layers": 40,
            "num_attention_heads": 64,
            "sliding_window": 4096,
        },
        tweak="hidden_size 1024 with 8 heads (head_dim 128, as in the defaults): a small build",
        derive=_scaled(hidden_size=1024, num_attention_heads=8, intermediate_size=64),
        covers="sliding 4096 with every 4th layer full, MHA by default",
    ),
    Family(
        "olmo3",
        "Olmo3Config defaults, written out (checkpoint allenai/Olmo-3-7B-Instruct)",
        inline={
            "model_type": "olmo3",
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "sliding_window": 4096,
        },
        tweak="head_dim 128 (= 4096 / 32) written out, so the hidden size can be shrunk",
        derive=_scaled(head_dim=128),
        covers="3 sliding (4096) then 1 full, MHA by default",
    ),
    Family(
        "gemma3n_text",
        "Gemma3nTextConfig defaults (checkpoint google/gemma-3n-E4B): 35 "
        "layers, 15 KV-shared, 8 heads, 2 KV heads, head_dim 256, window 512",
        inline=GEMMA3N_SMALL,
        shrink=False,
        tweak="widths and vocabularies cut by hand (hidden 256); the layer count is kept, "
        "as the KV-sharing check of the class needs every layer",
        covers="KV-shared layers store nothing; sliding 512 with 4:1 pattern",
    ),
    Family(
        "mimo_v2_flash",
        "MiMoV2FlashConfig defaults, written out (checkpoint XiaomiMiMo/MiMo-V2-Flash)",
        inline={
            "model_type": "mimo_v2_flash",
            "vocab_size": 152576,
            "hidden_size": 4096,
            "intermediate_size": 16384,
            "moe_intermediate_size": 2048,
            "num_hidden_layers": 48,
            "num_attention_heads": 64,
            "num_key_value_heads": 4,
            "head_dim": 192,
            "v_head_dim": 128,
            "n_routed_experts": 256,
            "num_experts_per_tok": 8,
            "sliding_window_size": 128,
        },
        tweak="sliding_window_size 128 written (the published spelling; the class's default "
        "window, 129, is that plus the query)",
        covers="sliding layers with twice the KV heads, K 192 / V 128, window 128 + 1",
    ),
)
