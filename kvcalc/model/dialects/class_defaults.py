"""What each dialect's transformers config class assumes for a key its config.json leaves out.

Read from the config classes of transformers 5.23 (their field defaults and `__post_init__`)
and written out here, so that kvcalc never imports transformers. Only fixed numbers are
listed: a KV-head count that defaults to the head count, or a head dim that defaults to
hidden size / heads, is the generic reading in `attention.py`.
"""

from __future__ import annotations

from kvcalc.model.dialects.fields import ConfigReader
from kvcalc.values import value

TRANSFORMERS = "transformers 5.23"

# The keys that give a model's context length, first found wins.
POSITION_KEYS = (
    "max_position_embeddings", "n_positions", "seq_length", "max_seq_len", "max_sequence_length",
)  # fmt: skip
# Whisper's decoder (the part with a KV cache) is bounded by max_target_positions.
_OWN_POSITION_KEYS = {"whisper": ("max_target_positions",)}


@value
class ClassDefaults:
    """The defaults of one config class; None: the class has no fixed number for the key."""

    config_class: str
    max_positions: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    window: int | None = None

    @property
    def source(self) -> str:
        return f"{self.config_class} ({TRANSFORMERS})"


def _each(config_class: str, *model_types: str, **values: int) -> dict[str, ClassDefaults]:
    return dict.fromkeys(model_types, ClassDefaults(config_class, **values))


_C = ClassDefaults
CLASS_DEFAULTS: dict[str, ClassDefaults] = {
    "llama": _C("LlamaConfig", 2048), "phi": _C("PhiConfig", 2048),
    "olmo": _C("OlmoConfig", 2048), "olmo2": _C("Olmo2Config", 2048),
    "granite": _C("GraniteConfig", 2048), "granitemoe": _C("GraniteMoeConfig", 2048),
    "stablelm": _C("StableLmConfig", 4096, kv_heads=32), "opt": _C("OPTConfig", 2048),
    "gpt_neox": _C("GPTNeoXConfig", 2048), "cohere": _C("CohereConfig", 8192),
    "nemotron": _C("NemotronConfig", 4096), "arcee": _C("ArceeConfig", 4096),
    "seed_oss": _C("SeedOssConfig", 524288, kv_heads=8, head_dim=128),
    "helium": _C("HeliumConfig", 4096, kv_heads=20, head_dim=128),
    "glm": _C("GlmConfig", 131072, kv_heads=2, head_dim=128),
    "glm4": _C("Glm4Config", 131072, kv_heads=2, head_dim=128),
    "glm4_moe": _C("Glm4MoeConfig", 131072, kv_heads=8),
    "hunyuan_v1_dense": _C("HunYuanDenseV1Config", 2048),
    "ernie4_5": _C("Ernie4_5Config", 131072, kv_heads=2, head_dim=128),
    "ernie4_5_moe": _C("Ernie4_5_MoeConfig", 131072), "apertus": _C("ApertusConfig", 65536),
    "minimax_m2": _C("MiniMaxM2Config", 196608, kv_heads=8, head_dim=128),
    "gemma": _C("GemmaConfig", 8192, kv_heads=16, head_dim=256),
    "mistral": _C("MistralConfig", 131072, kv_heads=8, window=4096),
    "mixtral": _C("MixtralConfig", 131072, kv_heads=8),
    "starcoder2": _C("Starcoder2Config", 4096, kv_heads=2), "phi3": _C("Phi3Config", 4096),
    "phimoe": _C("PhimoeConfig", 131072, kv_heads=8),
    "qwen2": _C("Qwen2Config", 32768, kv_heads=32, window=4096),
    "qwen2_moe": _C("Qwen2MoeConfig", 32768, kv_heads=16),
    "qwen3": _C("Qwen3Config", 32768, kv_heads=32, head_dim=128, window=4096),
    "qwen3_moe": _C("Qwen3MoeConfig", 32768, kv_heads=4),
    # A flat Qwen2-VL config is read as the text config transformers builds from it.
    **_each("Qwen2VLTextConfig", "qwen2_vl", "qwen2_vl_text", max_positions=32768, kv_heads=8),
    **_each("Qwen2_5_VLTextConfig", "qwen2_5_vl", "qwen2_5_vl_text", max_positions=32768,
            kv_heads=8),
    "qwen3_vl_text": _C("Qwen3VLTextConfig", 128000, kv_heads=32, head_dim=128),
    "qwen3_vl_moe_text": _C("Qwen3VLMoeTextConfig", 128000, kv_heads=16),
    "smollm3": _C("SmolLM3Config", 32768, kv_heads=4),
    "gemma2": _C("Gemma2Config", 8192, heads=8, kv_heads=4, head_dim=256, window=4096),
    "gemma3_text": _C("Gemma3TextConfig", 131072, heads=8, kv_heads=4, head_dim=256, window=4096),
    "cohere2": _C("Cohere2Config", 8192, window=4096),
    "olmo3": _C("Olmo3Config", 2048, window=4096),
    "gpt_oss": _C("GptOssConfig", 131072, heads=64, kv_heads=8, head_dim=64, window=128),
    "llama4_text": _C("Llama4TextConfig", 131072, kv_heads=8, head_dim=128),
    "deepseek_v2": _C("DeepseekV2Config", 2048), "deepseek_v3": _C("DeepseekV3Config", 4096),
    "minicpm3": _C("MiniCPM3Config", 32768), "deepseek_v32": _C("DeepseekV32Config", 163840),
    "glm_moe_dsa": _C("GlmMoeDsaConfig", 202752),
    "qwen3_next": _C("Qwen3NextConfig", 32768, kv_heads=2, head_dim=256),
    "qwen3_5_text": _C("Qwen3_5TextConfig", 32768, head_dim=256),
    "qwen3_5_moe_text": _C("Qwen3_5MoeTextConfig", 32768, kv_heads=2, head_dim=256),
    "nemotron_h": _C("NemotronHConfig", 4096, kv_heads=8, head_dim=128),
    "gemma4_text": _C("Gemma4TextConfig", 131072),
    "gemma3n_text": _C("Gemma3nTextConfig", 32768, heads=8, kv_heads=2, head_dim=256, window=512),
    "mimo_v2_flash": _C("MiMoV2FlashConfig", 131072, heads=64, kv_heads=4, head_dim=192),
    "jamba": _C("JambaConfig", 262144), "falcon_h1": _C("FalconH1Config", 8192),
    "bamba": _C("BambaConfig", 262144), "granitemoehybrid": _C("GraniteMoeHybridConfig", 2048),
    "zamba2": _C("Zamba2Config", 4096), "kimi_linear": _C("KimiLinearConfig", 1048576),
    "minimax": _C("MiniMaxConfig", 131072),
    **_each("Lfm2Config", "lfm2", max_positions=128000),
    **_each("Lfm2MoeConfig", "lfm2_moe", max_positions=128000),
    "whisper": _C("WhisperConfig", 448),
    **{name: _C(f"{cls}Config", 1024) for name, cls in
       (("bart", "Bart"), ("mbart", "MBart"), ("marian", "Marian"), ("pegasus", "Pegasus"))},
    "gpt2": _C("GPT2Config", 1024), "gptj": _C("GPTJConfig", 2048),
    "codegen": _C("CodeGenConfig", 2048), "gpt_bigcode": _C("GPTBigCodeConfig", 1024),
    # transformers' Falcon is the native port of the 2023 RefinedWeb remote code; it reads
    # those configs (Falcon-40B, Falcon-7B), which name no context length.
    **_each("FalconConfig", "falcon", "RefinedWeb", "RefinedWebModel", max_positions=2048),
    "mpt": _C("MptConfig", 2048), "dbrx": _C("DbrxConfig", 2048),
}  # fmt: skip


def defaults_of(model_type: str) -> ClassDefaults | None:
    """The class defaults of `model_type`, if kvcalc knows its transformers config class."""
    return CLASS_DEFAULTS.get(model_type)


def class_int(cfg: ConfigReader, what: str, keys: tuple[str, ...], field: str) -> int | None:
    """The first of `keys` in the config, else the class default `field` (recorded with its
    class); None when neither is there, for the caller's own fallback."""
    known = defaults_of(cfg.model_type)
    default = getattr(known, field) if known else None
    if cfg.first_key(keys) is None and default is None:
        return None
    source = known.source if known else None
    return cfg.positive_int(what, *keys, default=default, default_source=source)


def max_positions(cfg: ConfigReader, *, record: bool = True) -> int | None:
    """The context length: the config's key, else its class default; None if neither (a null
    key says the config knows of no limit)."""
    keys = (*_OWN_POSITION_KEYS.get(cfg.model_type, ()), *POSITION_KEYS)
    key = cfg.first_key(keys)
    if key is not None and cfg.raw[key] is None:
        return None
    if not record:
        known = defaults_of(cfg.model_type)
        value = cfg.peek_positive_int(key) if key else None
        return value if value is not None or known is None else known.max_positions
    return class_int(cfg, "max positions", keys, "max_positions")
