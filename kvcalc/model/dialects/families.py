"""One small reader per config dialect, registered by `model_type`.

Each reader follows the model's reference implementation (transformers' config class, or
the remote code the dialect comes from) for what an absent key means.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from kvcalc.model.architecture import LayerGroup, LayerKind
from kvcalc.model.dialects.attention import (
    build_attention,
    head_dim,
    kv_heads_or_heads,
    mla_attention,
    num_heads,
    num_layers,
    standard_attention,
    uniform,
)
from kvcalc.model.dialects.class_defaults import class_int, max_positions
from kvcalc.model.dialects.fields import ConfigReader
from kvcalc.model.dialects.patterns import every_nth_full, group_layers, kinds_from_layer_types

Reader = Callable[[ConfigReader], tuple[LayerGroup, ...]]


def _elsewhere(target: str, *args: object) -> Reader:
    """The reader `module:function` of another dialect module (or the reader that function
    makes from `args`), imported when a config of its family is read: a run reads one
    family, and every family's module at start-up was a measurable part of it."""

    def read(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
        module, name = target.split(":")
        found = getattr(importlib.import_module(f"kvcalc.model.dialects.{module}"), name)
        reader: Reader = found(*args) if args else found
        return reader(cfg)

    return read


def standard(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Llama-style keys; no num_key_value_heads means MHA; layer_types if given."""
    layers = num_layers(cfg)
    attention = standard_attention(cfg)
    kinds = kinds_from_layer_types(cfg, layers)
    if kinds is None:
        return uniform(layers, attention)
    window = cfg.optional_positive_int("sliding window", "sliding_window")
    return group_layers(cfg, kinds, attention, window=window)


def mistral(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Mistral: a sliding_window applies to every layer; absent means 4096 (MistralConfig),
    null means none."""
    groups = standard(cfg)
    if "layer_types" in cfg.raw or (
        "sliding_window" in cfg.raw and not cfg.present("sliding_window")
    ):
        return groups
    window = class_int(cfg, "sliding window", ("sliding_window",), "window")
    if window is None:
        raise cfg.error("sliding_window is missing")
    (group,) = groups
    return (LayerGroup(LayerKind.SLIDING, group.count, group.cached_attention, window),)


def sliding_if_set(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Mixtral, Starcoder2, Phi-3: a sliding_window (none by default) applies to every layer.

    A window at least as long as max_position_embeddings never caps anything: full attention.
    """
    groups = standard(cfg)
    window = cfg.optional_positive_int("sliding window", "sliding_window")
    context = max_positions(cfg, record=False)
    if "layer_types" in cfg.raw or window is None:
        return groups
    if context is not None and window >= context:
        cfg.record("sliding window", "sliding_window >= max_position_embeddings: no cap")
        return groups
    (group,) = groups
    return (LayerGroup(LayerKind.SLIDING, group.count, group.cached_attention, window),)


def qwen(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Qwen2/2.5/3: sliding only with use_sliding_window, on layers from max_window_layers on."""
    groups = standard(cfg)
    if "layer_types" in cfg.raw or not cfg.flag("use_sliding_window", default=False):
        return groups
    layers = groups[0].count
    window = class_int(cfg, "sliding window", ("sliding_window",), "window")
    window = window or cfg.positive_int("sliding window", "sliding_window", default=4096)
    first = cfg.positive_int("first sliding layer", "max_window_layers", default=28)
    kinds = [LayerKind.SLIDING if i >= first else LayerKind.FULL for i in range(layers)]
    return group_layers(cfg, kinds, groups[0].cached_attention, window=window)


def alternating(period: int) -> Reader:
    """Gemma 2/3, Cohere 2, OLMo 3, gpt-oss: every `period`-th layer full, the rest sliding.

    Heads, KV heads, head dim and window a config leaves out are its config class's
    (class_defaults.py).
    """

    def read(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
        layers = num_layers(cfg)
        heads = num_heads(cfg)
        attention = build_attention(cfg, heads, kv_heads_or_heads(cfg, heads), head_dim(cfg, heads))
        window = class_int(cfg, "sliding window", ("sliding_window",), "window")
        if window is None:
            window = cfg.positive_int("sliding window", "sliding_window")
        kinds = kinds_from_layer_types(cfg, layers)
        if kinds is None:
            every = cfg.positive_int("sliding pattern", "sliding_window_pattern", default=period)
            kinds = every_nth_full(layers, every)
        return group_layers(cfg, kinds, attention, window=window)

    return read


def llama4_text(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Llama 4: chunked attention on RoPE layers; every 4th layer (NoPE) attends globally."""
    layers = num_layers(cfg)
    attention = standard_attention(cfg)
    chunk = cfg.optional_positive_int("attention chunk", "attention_chunk_size")
    kinds = kinds_from_layer_types(cfg, layers)
    if kinds is None:
        rope_layers = _no_rope_layers(cfg, layers)
        kinds = [
            LayerKind.CHUNKED if uses_rope and chunk is not None else LayerKind.FULL
            for uses_rope in rope_layers
        ]
    return group_layers(cfg, kinds, attention, chunk=chunk)


def _no_rope_layers(cfg: ConfigReader, layers: int, what: str = "chunked layers") -> list[bool]:
    """Llama 4's and SmolLM3's `no_rope_layers`: 1 = RoPE layer (Llama 4: chunked); empty or
    absent = every `no_rope_layer_interval`-th layer NoPE (4 in both config classes)."""
    value = cfg.raw.get("no_rope_layers")
    if isinstance(value, list) and value:
        if len(value) != layers or any(item not in (0, 1) for item in value):
            raise cfg.error("no_rope_layers must list 0 or 1 for every layer")
        cfg.record(what, cfg.key_name("no_rope_layers"))
        return [bool(item) for item in value]
    interval = cfg.positive_int("NoPE interval", "no_rope_layer_interval", default=4)
    return [(index + 1) % interval != 0 for index in range(layers)]


def smollm3(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """SmolLM3: Llama attention on every layer (NoPE layers cache the same K and V). A layer
    slides only with use_sliding_window and a sliding_window, where layer_types (else
    SmolLM3Config's: the NoPE layers) says sliding_attention (SmolLM3Attention)."""
    layers = num_layers(cfg)
    attention = standard_attention(cfg)
    window = cfg.optional_positive_int("sliding window", "sliding_window")
    if not cfg.flag("use_sliding_window", default=False) or window is None:
        if "layer_types" in cfg.raw:  # SmolLM3Attention applies no window then
            cfg.record("unused without a window", cfg.key_name("layer_types"))
        return uniform(layers, attention)
    kinds = kinds_from_layer_types(cfg, layers)
    if kinds is None:
        rope = _no_rope_layers(cfg, layers, "sliding layers (NoPE)")
        kinds = [LayerKind.FULL if uses_rope else LayerKind.SLIDING for uses_rope in rope]
    return group_layers(cfg, kinds, attention, window=window)


def mla(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """DeepSeek V2/V3, Kimi K2, MiniCPM3: latent attention on every layer."""
    return uniform(num_layers(cfg), mla_attention(cfg))


def gpt2(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """GPT-2, GPT-J, CodeGen: n_layer / n_head / n_embd, multi-head."""
    heads = num_heads(cfg)
    return uniform(num_layers(cfg), build_attention(cfg, heads, heads, head_dim(cfg, heads)))


def multi_query_flag(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """GPT-BigCode: `multi_query` (true unless it says false) means one KV head."""
    heads = num_heads(cfg)
    kv_heads = 1 if cfg.flag("multi_query", default=True) else heads
    return uniform(num_layers(cfg), build_attention(cfg, heads, kv_heads, head_dim(cfg, heads)))


def falcon(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Falcon: new_decoder_architecture reads num_kv_heads; else multi_query (default) is MQA.

    The 2023 `RefinedWeb` remote code (Falcon-40B) is the new architecture with `n_head_kv`;
    `RefinedWebModel` (Falcon-7B) is the multi-query one.
    """
    heads = num_heads(cfg)
    new_default = cfg.model_type == "RefinedWeb"
    if cfg.flag("new_decoder_architecture", default=new_default):
        kv_heads = kv_heads_or_heads(cfg, heads, ("num_kv_heads", "n_head_kv"))
    elif cfg.flag("multi_query", default=True):
        kv_heads = 1
    else:
        kv_heads = heads
    return uniform(num_layers(cfg), build_attention(cfg, heads, kv_heads, head_dim(cfg, heads)))


def chatglm(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """ChatGLM2/3, GLM-4 remote code: multi_query_group_num KV heads of kv_channels each."""
    heads = num_heads(cfg)
    kv_heads = (
        cfg.positive_int("KV heads", "multi_query_group_num")
        if cfg.flag("multi_query_attention", default=False)
        else heads
    )
    dim = cfg.positive_int("head dim", "kv_channels")
    return uniform(num_layers(cfg), build_attention(cfg, heads, kv_heads, dim))


def qwen1(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
    """Qwen (first generation) remote code: multi-head, kv_channels per head."""
    heads = num_heads(cfg)
    dim = cfg.positive_int("head dim", "kv_channels")
    return uniform(num_layers(cfg), build_attention(cfg, heads, heads, dim))


def attn_config(default_kv: int | None) -> Reader:
    """MPT and DBRX: KV heads in `attn_config` (MPT by attn_type; DBRX kv_n_heads, default 1)."""

    def read(cfg: ConfigReader) -> tuple[LayerGroup, ...]:
        heads = num_heads(cfg)
        inner = cfg.nested("attn_config") if "attn_config" in cfg.raw else None
        kv_heads = heads
        if inner is not None and default_kv is not None:
            kv_heads = inner.positive_int("KV heads", "kv_n_heads", default=default_kv)
        elif inner is not None:
            kind = inner.string("attn_type") or "multihead_attention"
            if kind == "multiquery_attention":
                kv_heads = 1
            elif kind == "grouped_query_attention":
                kv_heads = inner.positive_int("KV heads", "kv_n_heads", default=1)
            elif kind != "multihead_attention":
                raise inner.error(f"attn_config.attn_type {kind!r} is not one kvcalc knows")
        dim = head_dim(cfg, heads)
        return uniform(num_layers(cfg), build_attention(cfg, heads, kv_heads, dim))

    return read


_STANDARD = (
    "llama", "phi", "olmo", "olmo2", "granite", "granitemoe",
    "stablelm", "opt", "gpt_neox", "bloom", "cohere", "nemotron", "internlm", "baichuan",
    "deepseek", "yi", "xverse", "arcee", "seed_oss", "helium", "glm", "glm4", "glm4_moe",
    "hunyuan_v1_dense", "ernie4_5", "ernie4_5_moe", "apertus",
)  # fmt: skip

READERS: dict[str, Reader] = {
    **dict.fromkeys(_STANDARD, standard),
    **dict.fromkeys(("minimax_m2", "gemma", "qwen3_vl_text", "qwen3_vl_moe_text"), standard),
    "smollm3": smollm3,
    "mistral": mistral,
    **dict.fromkeys(("mixtral", "starcoder2", "phi3", "phimoe"), sliding_if_set),
    **dict.fromkeys(("qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "qwen2_vl", "qwen2_5_vl",
                     "qwen2_vl_text", "qwen2_5_vl_text"), qwen),
    **dict.fromkeys(("gemma2", "gpt_oss"), alternating(2)),
    "gemma3_text": alternating(6),
    **dict.fromkeys(("cohere2", "olmo3"), alternating(4)),
    "llama4_text": llama4_text,
    **dict.fromkeys(
        ("deepseek_v2", "deepseek_v3", "kimi_k2", "minicpm3", "deepseek_v32", "glm_moe_dsa"), mla
    ),
    "deepseek_v4": _elsewhere("compressed:deepseek_v4"),
    "qwen3_next": _elsewhere("hybrid:gated_deltanet", None),
    **dict.fromkeys(("qwen3_5_text", "qwen3_5_moe_text"), _elsewhere("hybrid:gated_deltanet", 4)),
    "nemotron_h": _elsewhere("hybrid:nemotron_h"),
    "nemotron-nas": _elsewhere("hybrid:nemotron_nas"),
    "gemma4_text": _elsewhere("hybrid:gemma4"),
    "gemma3n_text": _elsewhere("hybrid:gemma3n"),
    **dict.fromkeys(("mimo_v2_flash", "mimo_v2"), _elsewhere("hybrid:mimo_v2")),
    **dict.fromkeys(("mamba", "falcon_mamba"), _elsewhere("ssm:mamba")),
    "mamba2": _elsewhere("ssm:mamba2"),
    "jamba": _elsewhere("ssm:jamba"),
    "falcon_h1": _elsewhere("ssm:falcon_h1"),
    "bamba": _elsewhere("ssm:bamba"),
    "granitemoehybrid": _elsewhere("ssm:granitemoehybrid"),
    "zamba2": _elsewhere("ssm:zamba2"),
    "kimi_linear": _elsewhere("linear:kimi_linear"),
    "minimax": _elsewhere("linear:minimax"),
    **dict.fromkeys(("lfm2", "lfm2_moe"), _elsewhere("linear:lfm2")),
    **dict.fromkeys(("t5", "mt5", "umt5"), _elsewhere(
        "hybrid:encoder_decoder", ("num_decoder_layers", "num_layers"), ("num_heads",))),
    **dict.fromkeys(("whisper", "bart", "mbart", "marian", "pegasus"), _elsewhere(
        "hybrid:encoder_decoder", ("decoder_layers",), ("decoder_attention_heads",))),
    **dict.fromkeys(("gpt2", "gptj", "codegen"), gpt2),
    "gpt_bigcode": multi_query_flag,
    **dict.fromkeys(("falcon", "RefinedWeb", "RefinedWebModel"), falcon),
    "chatglm": chatglm,
    "qwen": qwen1,
    "mpt": attn_config(None),
    "dbrx": attn_config(1),
}  # fmt: skip
