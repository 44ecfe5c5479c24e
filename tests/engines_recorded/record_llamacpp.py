"""Record llama.cpp's own KV-cache sizes from the real engine into llamacpp.json.

Not a test (pytest does not collect it): run it by hand in a virtualenv that has
`llama-cpp-python` (built from source) and `gguf` installed, outside the repository:

    python3.11 -m venv /work/venv-llama
    /work/venv-llama/bin/pip install llama-cpp-python==0.3.36 gguf==0.19.0
    /work/venv-llama/bin/python tests/engines_recorded/record_llamacpp.py

For each case it writes a shrunk GGUF file into a temporary folder: the attention
widths of a real config.json from tests/fixtures/configs (heads, KV heads, head
dims, sliding window and its pattern, MLA ranks, SSM dims) with few layers, a
259-token SentencePiece-style vocabulary, a small FFN and zero-filled f16/f32
tensors. Then, in a child process per load, it creates a llama.cpp context with
the low-level API (n_ctx, n_seq_max, kv_unified, swa_full, n_ubatch, type_k,
type_v) and reads what llama.cpp prints on file descriptor 2 about the caches it
allocated. The GGUF files are deleted at the end.

Precision: llama.cpp prints sizes in MiB with two decimals (a float divided by
1024*1024). A K or V figure is converted to exact bytes only when it is provably
unique: K (or V) bytes are whole rows of the cache type, one per cell, stream and
layer, so they are a multiple of `cells x streams x layers x block_bytes`; when
that granule is larger than the 0.01 MiB print step, exactly one multiple fits
the printed value. Otherwise only the MiB string is kept (+-0.005 MiB).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CONFIGS = REPO / "tests" / "fixtures" / "configs"
OUT = HERE / "llamacpp.json"

MIB = 1024 * 1024
# ggml type ids (ggml.h enum ggml_type) and their (values per block, bytes per block)
GGML_TYPES = {"f32": (0, 1, 4), "f16": (1, 1, 2), "q4_0": (2, 32, 18), "q8_0": (8, 32, 34)}
FLASH_ATTN_AUTO = -1  # LLAMA_FLASH_ATTN_TYPE_AUTO, the library and CLI default
N_VOCAB = 259  # <unk>, <s>, </s> and the 256 byte tokens
CTX_TRAIN = 131072


# ---------------------------------------------------------------------------
# GGUF writing
# ---------------------------------------------------------------------------


def _vocab(writer) -> None:
    """A minimal valid SentencePiece ("llama") vocabulary: 3 controls + 256 byte tokens."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    types += [gguf.TokenType.BYTE] * 256
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)


class Tensors:
    """Collects tensors by ggml shape (ne0 first, as llama.cpp's create_tensor lists them)."""

    def __init__(self, writer):
        self.writer = writer

    def add(self, name: str, ne: tuple[int, ...], f32: bool = False) -> None:
        import numpy as np

        shape = tuple(reversed(ne))  # numpy order is the reverse of ggml's ne
        dtype = np.float32 if (f32 or len(ne) == 1) else np.float16
        self.writer.add_tensor(name, np.zeros(shape, dtype=dtype))


def _common(writer, arch: str, hp: dict) -> None:
    writer.add_name(f"kvcalc-shrunk-{hp['source']}")
    writer.add_context_length(CTX_TRAIN)
    writer.add_embedding_length(hp["n_embd"])
    writer.add_block_count(hp["n_layer"])
    writer.add_file_type(1)  # mostly f16
    if "n_ff" in hp:
        writer.add_feed_forward_length(hp["n_ff"])
    writer.add_head_count(hp["n_head"])
    writer.add_head_count_kv(hp["n_head_kv"])
    writer.add_key_length(hp["head_dim_k"])
    writer.add_value_length(hp["head_dim_v"])
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(10000.0)
    _vocab(writer)


def _dense_attention(t: Tensors, i: int, hp: dict, prefix: str = "blk") -> None:
    e, q = hp["n_embd"], hp["n_head"] * hp["head_dim_k"]
    kv_k = hp["n_head_kv"] * hp["head_dim_k"]
    kv_v = hp["n_head_kv"] * hp["head_dim_v"]
    t.add(f"{prefix}.{i}.attn_norm.weight", (e,))
    t.add(f"{prefix}.{i}.attn_q.weight", (e, q))
    t.add(f"{prefix}.{i}.attn_k.weight", (e, kv_k))
    t.add(f"{prefix}.{i}.attn_v.weight", (e, kv_v))
    t.add(f"{prefix}.{i}.attn_output.weight", (hp["n_head"] * hp["head_dim_v"], e))


def _gated_ffn(t: Tensors, i: int, hp: dict) -> None:
    e, f = hp["n_embd"], hp["n_ff"]
    t.add(f"blk.{i}.ffn_norm.weight", (e,))
    t.add(f"blk.{i}.ffn_gate.weight", (e, f))
    t.add(f"blk.{i}.ffn_up.weight", (e, f))
    t.add(f"blk.{i}.ffn_down.weight", (f, e))


def _embeddings(t: Tensors, hp: dict) -> None:
    t.add("token_embd.weight", (hp["n_embd"], N_VOCAB))
    t.add("output_norm.weight", (hp["n_embd"],))


def write_llama(writer, hp: dict) -> None:
    _common(writer, "llama", hp)
    writer.add_rope_dimension_count(hp["head_dim_k"])
    writer.add_vocab_size(N_VOCAB)
    t = Tensors(writer)
    _embeddings(t, hp)
    for i in range(hp["n_layer"]):
        _dense_attention(t, i, hp)
        _gated_ffn(t, i, hp)


def write_gemma(writer, hp: dict) -> None:
    _common(writer, hp["arch"], hp)
    writer.add_sliding_window(hp["sliding_window"])
    key = f"{hp['arch']}.attention.sliding_window_pattern"
    writer.add_uint32(key, hp["sliding_window_pattern"])
    t = Tensors(writer)
    _embeddings(t, hp)
    for i in range(hp["n_layer"]):
        _dense_attention(t, i, hp)
        t.add(f"blk.{i}.post_attention_norm.weight", (hp["n_embd"],))
        if hp["arch"] == "gemma3":
            t.add(f"blk.{i}.attn_k_norm.weight", (hp["head_dim_k"],))
            t.add(f"blk.{i}.attn_q_norm.weight", (hp["head_dim_k"],))
        _gated_ffn(t, i, hp)
        t.add(f"blk.{i}.post_ffw_norm.weight", (hp["n_embd"],))


def write_deepseek2(writer, hp: dict) -> None:
    # As conversion/deepseek.py writes an MLA model: one KV head of kv_lora_rank + rope
    # for K and kv_lora_rank for V, plus the per-head *_mla lengths.
    _common(writer, "deepseek2", hp)
    writer.add_rope_dimension_count(hp["qk_rope_head_dim"])
    writer.add_vocab_size(N_VOCAB)
    writer.add_leading_dense_block_count(hp["n_layer"])  # every shrunk layer dense
    writer.add_q_lora_rank(0)  # the Lite model has none (q_proj); the key is required
    writer.add_kv_lora_rank(hp["kv_lora_rank"])
    writer.add_key_length_mla(hp["qk_nope_head_dim"] + hp["qk_rope_head_dim"])
    writer.add_value_length_mla(hp["v_head_dim"])
    writer.add_expert_feed_forward_length(hp["n_ff"])
    writer.add_expert_shared_count(0)
    t = Tensors(writer)
    _embeddings(t, hp)
    e, h, r = hp["n_embd"], hp["n_head_q"], hp["kv_lora_rank"]
    nope, rope, vd = hp["qk_nope_head_dim"], hp["qk_rope_head_dim"], hp["v_head_dim"]
    for i in range(hp["n_layer"]):
        t.add(f"blk.{i}.attn_norm.weight", (e,))
        t.add(f"blk.{i}.attn_kv_a_norm.weight", (r,))
        t.add(f"blk.{i}.attn_q.weight", (e, h * (nope + rope)))
        t.add(f"blk.{i}.attn_kv_a_mqa.weight", (e, r + rope))
        t.add(f"blk.{i}.attn_k_b.weight", (nope, r, h))
        t.add(f"blk.{i}.attn_v_b.weight", (r, vd, h))
        t.add(f"blk.{i}.attn_output.weight", (h * vd, e))
        _gated_ffn(t, i, hp)


def write_nemotron_h(writer, hp: dict) -> None:
    # Per-layer arrays as the converter writes them: head_count_kv is 0 on Mamba2 and MLP
    # layers, feed_forward_length is 0 on Mamba2 and attention layers.
    pattern = hp["pattern"]
    _common_arrays = {
        "head_count_kv": [hp["n_head_kv"] if c == "*" else 0 for c in pattern],
        "feed_forward_length": [hp["n_ff"] if c == "-" else 0 for c in pattern],
    }
    writer.add_name(f"kvcalc-shrunk-{hp['source']}")
    writer.add_context_length(CTX_TRAIN)
    writer.add_embedding_length(hp["n_embd"])
    writer.add_block_count(len(pattern))
    writer.add_file_type(1)
    writer.add_head_count(hp["n_head"])
    writer.add_array("nemotron_h.attention.head_count_kv", _common_arrays["head_count_kv"])
    writer.add_array("nemotron_h.feed_forward_length", _common_arrays["feed_forward_length"])
    writer.add_key_length(hp["head_dim_k"])
    writer.add_value_length(hp["head_dim_v"])
    writer.add_layer_norm_eps(1e-5)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_ssm_conv_kernel(hp["d_conv"])
    writer.add_ssm_inner_size(hp["d_inner"])
    writer.add_ssm_state_size(hp["d_state"])
    writer.add_ssm_time_step_rank(hp["n_ssm_head"])
    writer.add_ssm_group_count(hp["n_group"])
    _vocab(writer)
    t = Tensors(writer)
    _embeddings(t, hp)
    e = hp["n_embd"]
    d_inner, d_state, n_group = hp["d_inner"], hp["d_state"], hp["n_group"]
    n_ssm_head, d_conv = hp["n_ssm_head"], hp["d_conv"]
    d_in_proj = 2 * d_inner + 2 * n_group * d_state + n_ssm_head
    conv_ch = d_inner + 2 * n_group * d_state
    for i, c in enumerate(pattern):
        t.add(f"blk.{i}.attn_norm.weight", (e,))
        if c == "M":
            t.add(f"blk.{i}.ssm_in.weight", (e, d_in_proj))
            t.add(f"blk.{i}.ssm_conv1d.weight", (d_conv, conv_ch), f32=True)
            t.add(f"blk.{i}.ssm_conv1d.bias", (conv_ch,))
            t.add(f"blk.{i}.ssm_dt.bias", (n_ssm_head,))
            t.add(f"blk.{i}.ssm_a", (1, n_ssm_head), f32=True)
            t.add(f"blk.{i}.ssm_d", (1, n_ssm_head), f32=True)
            t.add(f"blk.{i}.ssm_norm.weight", (d_inner // n_group, n_group), f32=True)
            t.add(f"blk.{i}.ssm_out.weight", (d_inner, e))
        elif c == "*":
            q = hp["n_head"] * hp["head_dim_k"]
            t.add(f"blk.{i}.attn_q.weight", (e, q))
            t.add(f"blk.{i}.attn_k.weight", (e, hp["n_head_kv"] * hp["head_dim_k"]))
            t.add(f"blk.{i}.attn_v.weight", (e, hp["n_head_kv"] * hp["head_dim_v"]))
            t.add(f"blk.{i}.attn_output.weight", (hp["n_head"] * hp["head_dim_v"], e))
        else:
            t.add(f"blk.{i}.ffn_up.weight", (e, hp["n_ff"]))
            t.add(f"blk.{i}.ffn_down.weight", (hp["n_ff"], e))


def write_t5(writer, hp: dict) -> None:
    _common(writer, "t5", hp)
    writer.add_uint32("t5.attention.relative_buckets_count", hp["relative_buckets"])
    writer.add_uint32("t5.decoder_block_count", hp["n_dec_layer"])
    writer.add_uint32("t5.decoder_start_token_id", 0)
    t = Tensors(writer)
    e, f = hp["n_embd"], hp["n_ff"]
    kv = hp["n_head_kv"] * hp["head_dim_k"]
    t.add("token_embd.weight", (e, N_VOCAB))
    t.add("enc.output_norm.weight", (e,))
    t.add("dec.output_norm.weight", (e,))
    for side, n in (("enc", hp["n_layer"]), ("dec", hp["n_dec_layer"])):
        for i in range(n):
            p = f"{side}.blk.{i}"
            t.add(f"{p}.attn_norm.weight", (e,))
            t.add(f"{p}.attn_rel_b.weight", (hp["n_head"], hp["relative_buckets"]))
            t.add(f"{p}.attn_q.weight", (e, kv))
            t.add(f"{p}.attn_k.weight", (e, kv))
            t.add(f"{p}.attn_v.weight", (e, kv))
            t.add(f"{p}.attn_o.weight", (kv, e))
            if side == "dec":
                t.add(f"{p}.cross_attn_norm.weight", (e,))
                t.add(f"{p}.cross_attn_q.weight", (e, kv))
                t.add(f"{p}.cross_attn_k.weight", (e, kv))
                t.add(f"{p}.cross_attn_v.weight", (e, kv))
                t.add(f"{p}.cross_attn_o.weight", (kv, e))
            t.add(f"{p}.ffn_norm.weight", (e,))
            t.add(f"{p}.ffn_up.weight", (e, f))
            t.add(f"{p}.ffn_down.weight", (f, e))


WRITERS = {
    "llama": write_llama,
    "gemma2": write_gemma,
    "gemma3": write_gemma,
    "deepseek2": write_deepseek2,
    "nemotron_h": write_nemotron_h,
    "t5": write_t5,
}


def write_gguf(path: Path, hp: dict) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), hp["arch"])
    WRITERS[hp["arch"]](writer, hp)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# ---------------------------------------------------------------------------
# Cases: shrunk hparams read from the real configs
# ---------------------------------------------------------------------------


def _config(name: str) -> dict:
    return json.loads((CONFIGS / name).read_text())


def case_llama() -> dict:
    src = "meta-llama__Llama-3.1-8B-Instruct.json"
    c = _config(src)
    head_dim = c["hidden_size"] // c["num_attention_heads"]
    return {
        "arch": "llama",
        "source": src,
        "real_layers": c["num_hidden_layers"],
        "n_layer": 2,
        "n_embd": c["hidden_size"],
        "n_head": c["num_attention_heads"],
        "n_head_kv": c["num_key_value_heads"],
        "head_dim_k": head_dim,
        "head_dim_v": head_dim,
        "n_ff": 256,
    }


def case_gemma2() -> dict:
    src = "google__gemma-2-9b-it.json"
    c = _config(src)
    return {
        "arch": "gemma2",
        "source": src,
        "real_layers": c["num_hidden_layers"],
        "n_layer": 4,
        "n_embd": c["hidden_size"],
        "n_head": c["num_attention_heads"],
        "n_head_kv": c["num_key_value_heads"],
        "head_dim_k": c["head_dim"],
        "head_dim_v": c["head_dim"],
        "n_ff": 256,
        "sliding_window": c["sliding_window"],
        # HF Gemma 2: layer i slides when i is even; llama.cpp's pattern 2 (il % 2 < 1)
        "sliding_window_pattern": 2,
    }


def case_gemma3() -> dict:
    src = "google__gemma-3-27b-it.json"
    c = _config(src)
    t = c.get("text_config", c)
    return {
        "arch": "gemma3",
        "source": src,
        "real_layers": t["num_hidden_layers"],
        "n_layer": 6,
        "n_embd": t["hidden_size"],
        "n_head": t["num_attention_heads"],
        "n_head_kv": t["num_key_value_heads"],
        "head_dim_k": t["head_dim"],
        "head_dim_v": t["head_dim"],
        "n_ff": 256,
        "sliding_window": t["sliding_window"],
        # Gemma 3 default: five sliding layers then one full (sliding_window_pattern 6)
        "sliding_window_pattern": 6,
    }


def case_deepseek2() -> dict:
    src = "deepseek-ai__DeepSeek-V2-Lite.json"
    c = _config(src)
    return {
        "arch": "deepseek2",
        "source": src,
        "real_layers": c["num_hidden_layers"],
        "n_layer": 2,
        "n_embd": c["hidden_size"],
        "n_head": c["num_attention_heads"],
        "n_head_q": c["num_attention_heads"],
        "n_head_kv": 1,
        "head_dim_k": c["kv_lora_rank"] + c["qk_rope_head_dim"],
        "head_dim_v": c["kv_lora_rank"],
        "kv_lora_rank": c["kv_lora_rank"],
        "qk_rope_head_dim": c["qk_rope_head_dim"],
        "qk_nope_head_dim": c["qk_nope_head_dim"],
        "v_head_dim": c["v_head_dim"],
        "n_ff": 256,
    }


def case_nemotron_h() -> dict:
    src = "nvidia__Nemotron-H-56B-Base-8K.json"
    c = _config(src)
    return {
        "arch": "nemotron_h",
        "source": src,
        "real_layers": c["num_hidden_layers"],
        "real_pattern": c["hybrid_override_pattern"],
        # 4 Mamba2 layers, 1 attention, 1 MLP; hidden shrunk (it sizes no cache)
        "pattern": "MM*-MM",
        "n_layer": 6,
        "real_n_embd": c["hidden_size"],
        "n_embd": 512,
        "n_head": c["num_attention_heads"],
        "n_head_kv": c["num_key_value_heads"],
        "head_dim_k": c["attention_head_dim"],
        "head_dim_v": c["attention_head_dim"],
        "n_ff": 256,
        "d_conv": c["conv_kernel"],
        "d_inner": c["mamba_num_heads"] * c["mamba_head_dim"],
        "d_state": c["ssm_state_size"],
        "n_group": c["n_groups"],
        "n_ssm_head": c["mamba_num_heads"],
    }


def case_t5() -> dict:
    src = "derived/google-t5__t5-small.resaved.json"
    c = _config(src)
    return {
        "arch": "t5",
        "source": src,
        "real_layers": c["num_layers"],
        "real_decoder_layers": c["num_decoder_layers"],
        "n_layer": 2,
        "n_dec_layer": 2,
        "n_embd": c["d_model"],
        "n_head": c["num_heads"],
        "n_head_kv": c["num_heads"],
        "head_dim_k": c["d_kv"],
        "head_dim_v": c["d_kv"],
        "n_ff": 256,
        "relative_buckets": c["relative_attention_num_buckets"],
    }


def _grid(types=("f16",), swa_full=(False,), n_ctx=(4096, 16384)) -> list[dict]:
    loads = []
    for t in types:
        for ctx in n_ctx:
            for n_seq in (1, 4):
                for unified in (False, True):
                    for full in swa_full:
                        loads.append(
                            {
                                "n_ctx": ctx,
                                "n_seq_max": n_seq,
                                "kv_unified": unified,
                                "swa_full": full,
                                "type_k": t,
                                "type_v": t,
                                "n_batch": 512,
                                "n_ubatch": 512,
                            }
                        )
    return loads


def cases() -> list[dict]:
    llama_extra = [  # n_ctx not a multiple of 256, and not divisible by n_seq_max
        {
            "n_ctx": 10000,
            "n_seq_max": 1,
            "kv_unified": False,
            "swa_full": False,
            "type_k": "f16",
            "type_v": "f16",
            "n_batch": 512,
            "n_ubatch": 512,
        },
        {
            "n_ctx": 10000,
            "n_seq_max": 3,
            "kv_unified": False,
            "swa_full": False,
            "type_k": "f16",
            "type_v": "f16",
            "n_batch": 512,
            "n_ubatch": 512,
        },
        {
            "n_ctx": 10000,
            "n_seq_max": 3,
            "kv_unified": True,
            "swa_full": False,
            "type_k": "f16",
            "type_v": "f16",
            "n_batch": 512,
            "n_ubatch": 512,
        },
    ]
    gemma_extra = [  # a smaller micro-batch changes the sliding cache
        {
            "n_ctx": 16384,
            "n_seq_max": 1,
            "kv_unified": False,
            "swa_full": False,
            "type_k": "f16",
            "type_v": "f16",
            "n_batch": 512,
            "n_ubatch": 256,
        },
        {
            "n_ctx": 32768,
            "n_seq_max": 4,
            "kv_unified": True,
            "swa_full": False,
            "type_k": "f16",
            "type_v": "f16",
            "n_batch": 512,
            "n_ubatch": 512,
        },
    ]
    return [
        {
            "name": "llama-3.1-8b",
            "hparams": case_llama(),
            "loads": _grid(types=("f16", "q8_0", "q4_0")) + llama_extra,
        },
        {
            "name": "gemma-2-9b",
            "hparams": case_gemma2(),
            "loads": _grid(swa_full=(False, True)) + gemma_extra,
        },
        {
            "name": "gemma-3-27b",
            "hparams": case_gemma3(),
            "loads": _grid(swa_full=(False, True)) + gemma_extra,
        },
        {
            "name": "deepseek-v2-lite",
            "hparams": case_deepseek2(),
            "loads": _grid(types=("f16", "q8_0")),
        },
        {"name": "nemotron-h-56b", "hparams": case_nemotron_h(), "loads": _grid()},
        {"name": "t5-small", "hparams": case_t5(), "loads": _grid(n_ctx=(4096,))},
    ]


# ---------------------------------------------------------------------------
# Loading (child process) and parsing
# ---------------------------------------------------------------------------


def child_load(model_path: str, load: dict) -> int:
    """Create one context; llama.cpp's default logger writes to fd 2, read by the parent."""
    import ctypes

    import llama_cpp

    llama_cpp.llama_log_set(ctypes.cast(None, llama_cpp.llama_log_callback), ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    mparams.n_gpu_layers = 0
    model = llama_cpp.llama_model_load_from_file(model_path.encode(), mparams)
    if not model:
        print("RECORD: model load failed", file=sys.stderr, flush=True)
        return 2
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = load["n_ctx"]
    cparams.n_batch = load["n_batch"]
    cparams.n_ubatch = load["n_ubatch"]
    cparams.n_seq_max = load["n_seq_max"]
    cparams.kv_unified = load["kv_unified"]
    cparams.swa_full = load["swa_full"]
    cparams.type_k = GGML_TYPES[load["type_k"]][0]
    cparams.type_v = GGML_TYPES[load["type_v"]][0]
    cparams.flash_attn_type = FLASH_ATTN_AUTO
    cparams.n_threads = cparams.n_threads_batch = 2
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    if not ctx:
        print("RECORD: context creation failed", file=sys.stderr, flush=True)
        return 3
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    return 0


RE_KV = re.compile(
    r"llama_kv_cache: size = +(?P<mib>[\d.]+) MiB \( *(?P<cells>\d+) cells,"
    r" +(?P<layers>\d+) layers, +(?P<seqs>\d+)/(?P<streams>\d+) seqs\),"
    r" K \((?P<tk>\w+)\): +(?P<k>[\d.]+) MiB, V \((?P<tv>\w+)\): +(?P<v>[\d.]+) MiB"
)
RE_RS = re.compile(
    r"llama_memory_recurrent: size = +(?P<mib>[\d.]+) MiB \( *(?P<cells>\d+) cells,"
    r" +(?P<layers>\d+) layers, +(?P<seqs>\d+) seqs +(?P<rs_seq>\d+) rs_seq\),"
    r" R \((?P<tr>\w+)\): +(?P<r>[\d.]+) MiB, S \((?P<ts>\w+)\): +(?P<s>[\d.]+) MiB,"
    r" P \((?P<tp>\w+)\): +(?P<p>[\d.]+) MiB"
)
RE_ISWA = re.compile(
    r"llama_kv_cache_iswa: creating +(?P<which>non-SWA|SWA) KV cache, size = (?P<cells>\d+) cells"
)
RE_BUF = re.compile(
    r"(?P<who>llama_kv_cache|llama_memory_recurrent): +(?P<buf>\S+) (?P<kind>KV|RS)"
    r" buffer size = +(?P<mib>[\d.]+) MiB"
)
RE_CPARAM = re.compile(
    r"llama_context: (?P<key>n_seq_max|n_ctx|n_ctx_seq|n_batch|n_ubatch|flash_attn|kv_unified)"
    r" += (?P<val>\S+)"
)
RE_FA = re.compile(r"(?P<line>\S+: .*(?:Flash Attention|flash_attn since).*)")


def exact_bytes(mib: str, granule: int) -> int | None:
    """The unique multiple of granule that prints as mib with %.2f, if there is exactly one."""
    value = float(mib)
    lo, hi = (value - 0.005 - 1e-4) * MIB, (value + 0.005 + 1e-4) * MIB
    first = -(-int(lo) // granule) * granule
    hits = [b for b in range(max(first, 0), int(hi) + 1, granule) if f"{b / MIB:.2f}" == mib]
    return hits[0] if len(hits) == 1 else None


def block_bytes(type_name: str) -> int:
    return GGML_TYPES[type_name][2] if type_name in GGML_TYPES else 1


def parse(log: str) -> dict:
    out: dict = {
        "context": {},
        "kv_caches": [],
        "recurrent": [],
        "iswa": [],
        "buffers": [],
        "flash_attn_notes": [],
    }
    for line in log.splitlines():
        if m := RE_CPARAM.search(line):
            val = m["val"]
            out["context"][m["key"]] = int(val) if val.isdigit() else val
        elif m := RE_ISWA.search(line):
            out["iswa"].append({"cache": m["which"], "cells": int(m["cells"])})
        elif m := RE_KV.search(line):
            cells, layers, streams = int(m["cells"]), int(m["layers"]), int(m["streams"])
            entry = {
                "line": line.strip(),
                "cells": cells,
                "layers": layers,
                "n_seq_max": int(m["seqs"]),
                "streams": streams,
                "size_mib": m["mib"],
                "type_k": m["tk"],
                "k_mib": m["k"],
                "type_v": m["tv"],
                "v_mib": m["v"],
            }
            for part, tname in (("k", m["tk"]), ("v", m["tv"])):
                granule = cells * streams * layers * block_bytes(tname)
                empty = m[part] == "0.00" and layers == 0
                entry[f"{part}_bytes"] = 0 if empty else exact_bytes(m[part], granule)
            if entry["k_bytes"] is not None and entry["v_bytes"] is not None:
                entry["bytes"] = entry["k_bytes"] + entry["v_bytes"]
            else:
                entry["bytes"] = None
            out["kv_caches"].append(entry)
        elif m := RE_RS.search(line):
            out["recurrent"].append(
                {
                    "line": line.strip(),
                    "cells": int(m["cells"]),
                    "layers_printed": int(m["layers"]),
                    "n_seq_max": int(m["seqs"]),
                    "n_rs_seq": int(m["rs_seq"]),
                    "size_mib": m["mib"],
                    "type_r": m["tr"],
                    "r_mib": m["r"],
                    "type_s": m["ts"],
                    "s_mib": m["s"],
                    "p_mib": m["p"],
                }
            )
        elif m := RE_BUF.search(line):
            out["buffers"].append(
                {"who": m["who"], "buffer": m["buf"], "kind": m["kind"], "mib": m["mib"]}
            )
        elif m := RE_FA.search(line):
            out["flash_attn_notes"].append(m["line"].strip())
    return out


def run_load(model_path: Path, load: dict) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(model_path),
        json.dumps(load),
    ]
    # fd-level capture: the child's fd 2 is a pipe, so the C logger's fputs lands here
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    log = proc.stderr
    result = {"load": load, "returncode": proc.returncode}
    result.update(parse(log))
    if proc.returncode != 0 or not (result["kv_caches"] or result["recurrent"]):
        tail = [
            ln
            for ln in log.splitlines()
            if "error" in ln.lower()
            or "RECORD" in ln
            or "failed" in ln.lower()
            or "GGML_ASSERT" in ln
        ]
        lines = tail[-8:] or log.splitlines()[-8:]
        # the build folder of the source distribution is a random temporary path
        result["error"] = [re.sub(r"/tmp/pip-req-build-\w+/", "", ln) for ln in lines]
    return result


def versions() -> dict:
    from importlib.metadata import version

    import llama_cpp

    info = {
        "llama_cpp_python": version("llama-cpp-python"),
        "gguf": version("gguf"),
        "python": sys.version.split()[0],
    }
    info["llama_cpp_commit"] = VENDORED_COMMIT
    info["system_info"] = llama_cpp.llama_print_system_info().decode().strip()
    return info


# the CHANGELOG of llama-cpp-python 0.3.36: "update llama.cpp to ggml-org/llama.cpp@0c1e57098"
VENDORED_COMMIT = "0c1e57098"

SERVER_DEFAULTS = {
    "source": "vendor/llama.cpp: common/common.h L457 (n_parallel = 1), L574 (swa_full = "
    "false), L575 (kv_unified = false); common/arg.cpp L1403 (llama-server: "
    "n_parallel = -1, auto); tools/server/server.cpp L156-160 (auto becomes "
    "n_parallel = 4 and kv_unified = true)",
    "llama_server": {"n_parallel": 4, "kv_unified": True, "swa_full": False, "n_ubatch": 512},
    "common_cli": {"n_parallel": 1, "kv_unified": False, "swa_full": False, "n_ubatch": 512},
    "library_llama_context_default_params": {
        "n_ctx": 512,
        "n_seq_max": 1,
        "kv_unified": False,
        "swa_full": True,
        "n_ubatch": 512,
        "flash_attn_type": "auto",
    },
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="record only these case names")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    recorded = {c["name"]: c for c in previous.get("cases", [])}
    with tempfile.TemporaryDirectory(prefix="kvcalc-gguf-") as tmp:
        for case in cases():
            if args.only and case["name"] not in args.only:
                continue
            hp = case["hparams"]
            path = Path(tmp) / f"{case['name']}.gguf"
            entry = {
                "name": case["name"],
                "architecture": hp["arch"],
                "config": hp["source"],
                "hparams": hp,
                "loads": [],
            }
            try:
                write_gguf(path, hp)
            except Exception as exc:  # recorded, then the next case
                entry["error"] = f"writing the GGUF failed: {exc!r}"
                recorded[case["name"]] = entry
                continue
            entry["gguf_bytes"] = path.stat().st_size
            for load in case["loads"]:
                try:
                    result = run_load(path, load)
                except subprocess.TimeoutExpired:
                    result = {"load": load, "error": ["timed out"]}
                entry["loads"].append(result)
                kv = "; ".join(
                    f"{k['cells']}x{k['streams']} {k['k_mib']}+{k['v_mib']}"
                    for k in result.get("kv_caches", [])
                )
                print(f"{case['name']}: {load} -> {kv or result.get('error')}", flush=True)
            path.unlink()
            recorded[case["name"]] = entry
    doc = {
        "about": "llama.cpp KV-cache and recurrent-state sizes printed by the real engine for "
        "shrunk GGUF models; regenerate with tests/engines_recorded/record_llamacpp.py",
        "precision": "MiB strings are as printed (%.2f of bytes / 2**20). k_bytes/v_bytes/bytes "
        "are exact where a single multiple of cells x streams x layers x type-block "
        "bytes prints as the MiB string, else null (then +-0.005 MiB).",
        "engine": versions(),
        "defaults": SERVER_DEFAULTS,
        "cases": [recorded[k] for k in sorted(recorded)],
    }
    args.out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sys.exit(child_load(sys.argv[2], json.loads(sys.argv[3])))
    sys.exit(main())
