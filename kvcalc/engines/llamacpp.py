"""llama.cpp (commit 0c1e57098): cells of the KV cache for a context of batch x seq.

Rules, sources and worked examples: docs/engines.md §3. Paths below are relative to
`vendor/llama.cpp/` in llama-cpp-python 0.3.36, which pins that commit.
"""

from __future__ import annotations

from kvcalc.engines import Deployment, EngineResult, require_dtype
from kvcalc.engines.kvbytes import GroupBytes, Workload, size_groups, state_bytes
from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.architecture import Architecture, LayerGroup, LayerKind, RecurrentState
from kvcalc.model.dtypes import FP16, FP32, CacheDtype
from kvcalc.values import value

PAD = 256  # n_ctx and every sliding cache are padded to 256 cells
N_BATCH = 2048  # common_params.n_batch
N_UBATCH = 512  # common_params.n_ubatch
MAX_SEQ = 256  # LLAMA_MAX_SEQ (src/llama-cparams.h)
# --dtype auto: common_params::cache_type_k/_v default to GGML_TYPE_F16 whatever the weights
# (common/common.h L343-344).
AUTO_CACHE_DTYPE = FP16
CACHE_TYPES = ("fp32", "fp16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl")
# Families whose sliding or chunked window llama.cpp applies: their `src/models/<arch>.cpp`
# sets a swa_type, so `create_memory` builds `llama_kv_cache_iswa`. The llama, qwen2/qwen3,
# phi3 ("Phi SWA is currently disabled") and starcoder2 architectures set none: Mistral v0.1,
# Qwen with use_sliding_window and Phi-3 windows are allocated as full layers.
SWA_FAMILIES = frozenset({
    "gemma2", "gemma3_text", "gemma3n_text", "gemma4_text", "cohere2", "olmo3", "gpt_oss",
    "llama4_text", "mimo_v2_flash", "mimo_v2", "deepseek_v4",
})  # fmt: skip
# `src/llama-kv-cache-dsv4.cpp`: DSV4_CSA_RATIO and DSV4_HCA_RATIO, the only ratios it caches.
DSV4_CSA_RATIO, DSV4_HCA_RATIO = 4, 128
T5_FAMILIES = frozenset({"t5", "mt5", "umt5"})
# model_types no converter class (`conversion/*.py` ModelBase.register) turns into a GGUF.
NO_ARCHITECTURE = {
    "opt": "OPT", "gptj": "GPT-J", "codegen": "CodeGen", "whisper": "Whisper",
    "bart": "BART", "mbart": "mBART", "marian": "Marian", "pegasus": "Pegasus",
    "zamba2": "Zamba2",
}  # fmt: skip
MINIMAX_INTERVAL = 8  # src/models/minimax-01.cpp: full_attn_interval when the GGUF has none


def pad(cells: int) -> int:
    return -(-cells // PAD) * PAD


def row_bytes(dtype: CacheDtype, elements: int) -> int:
    """ggml_row_size: a row must be whole blocks of the type."""
    if elements % dtype.block_values:
        raise InputError(
            f"--engine llama.cpp: a row of {elements} values is not whole {dtype.name} blocks "
            f"of {dtype.block_values}"
        )
    return dtype.bytes_for(elements)


def cell_bytes(group: LayerGroup, dtype: CacheDtype) -> int:
    """One cell of one layer (`src/llama-kv-cache.cpp` ctor): a K row and a V row of
    n_embd_{k,v}_gqa values. MLA stores K only (latent + RoPE key; V is a view of it); the
    DSA indexer (`src/llama-kv-cache-dsa.cpp`) is a second K-only cache of one
    `indexer_head_size` key per cell, in the K type."""
    attention = group.cached_attention
    mla = attention.mla
    if mla is not None:
        indexer = row_bytes(dtype, mla.indexer_dim) if mla.indexer_dim else 0
        return row_bytes(dtype, mla.latent_dim) + indexer
    kv = attention.num_kv_heads
    return row_bytes(dtype, kv * attention.k_head_dim) + row_bytes(dtype, kv * attention.v_head_dim)


@value
class Context:
    """How `llama_context` lays out n_ctx cells for n_seq_max sequences
    (`src/llama-context.cpp` L246-305): n_ctx padded to 256; unified, one stream of all n_ctx
    cells; else n_seq_max streams of PAD(n_ctx // n_seq_max, 256) cells. n_batch =
    min(n_ctx as asked, 2048) and n_ubatch = min(n_batch, 512) (L246-248)."""

    sequences: int
    unified: bool
    cells: int  # kv_size: cells per stream
    streams: int
    n_ubatch: int
    swa_full: bool = False

    @classmethod
    def of(
        cls, n_ctx: int, n_seq_max: int, unified: bool, n_ubatch: int = N_UBATCH,
        swa_full: bool = False,
    ) -> Context:  # fmt: skip
        ubatch = min(n_ubatch, n_ctx, N_BATCH)
        padded = pad(n_ctx)
        if unified:
            return cls(n_seq_max, True, padded, 1, ubatch, swa_full)
        return cls(n_seq_max, False, pad(padded // n_seq_max), n_seq_max, ubatch, swa_full)

    def swa_cells(self, window: int) -> int:
        """`src/llama-kv-cache-iswa.cpp` L73-81: PAD(min(kv_size, n_swa x (unified ?
        n_seq_max : 1) + n_ubatch), 256); with swa_full (off in common), kv_size."""
        if self.swa_full:
            return self.cells
        held = window * (self.sequences if self.unified else 1) + self.n_ubatch
        return pad(min(self.cells, held))


def dsv4_group(group: LayerGroup, dtype: CacheDtype, context: Context) -> GroupBytes:
    """DeepSeek V4 (`llama_kv_cache_dsv4` ctor, `src/llama-kv-cache-dsv4.cpp` L1210-1334):
    `unified_raw` and `unified_compressed` are false, so every part has n_seq_max streams of
    kv_size = n_ctx_seq cells (the whole n_ctx when unified). Per stream and layer: the raw
    window, K-only (`dsv4_make_k_only`), PAD(min(kv_size, n_swa + n_ubatch), 256) cells
    (`llama_kv_cache_iswa`, one sequence per stream); on CSA and HCA layers
    PAD(max(1, cdiv(kv_size, ratio)), 256) compressed K cells, CSA layers as many lightning-
    indexer K cells of `indexer_head_size`, all in the K type; and the f32 compressor states
    (`llama_dsv4_comp_state`: kv and score of [n_embd_state, state_size], L964-966)."""
    attention = group.cached_attention
    row = row_bytes(dtype, attention.num_kv_heads * attention.k_head_dim)
    window = group.window_tokens or context.cells
    raw = context.cells if context.swa_full else pad(min(context.cells, window + context.n_ubatch))
    per_stream = raw * row
    compression = group.compression
    detail = f"{raw:,} window cells"
    if compression is not None:
        cells = pad(max(1, -(-context.cells // compression.ratio)))
        indexer = row_bytes(dtype, compression.indexer_dim) if compression.indexer_dim else 0
        state = FP32.bytes_for(compression.state_elements(attention.k_head_dim))
        per_stream += cells * (row + indexer) + state
        keys = " and indexer keys" if indexer else ""
        detail += f" + {cells:,} compressed cells{keys} + f32 state"
    streams = context.sequences
    total = streams * group.count * per_stream
    return GroupBytes(group, raw, group.count * row, total, f"{detail}, per sequence")


def cache_groups(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, context: Context
) -> tuple[GroupBytes, ...]:
    """Every layer group in `context`: full layers kv_size cells per stream; sliding layers of
    the families llama.cpp windows the iswa cells; T5's cross-attention nothing (it is
    recomputed from the encoder output each step, `src/models/t5.cpp`); recurrent layers f32
    r and s rows, one per sequence (`src/llama-memory-recurrent.cpp` L101-103)."""

    def attention(group: LayerGroup) -> GroupBytes:
        if group.kind is LayerKind.CROSS:
            return GroupBytes(group, 0, 0, 0, "not cached: recomputed from the encoder output")
        if architecture.model_type == "deepseek_v4":
            return dsv4_group(group, dtype, context)
        per_token = group.count * cell_bytes(group, dtype)
        held = context.cells
        if group.window_tokens is not None and architecture.model_type in SWA_FAMILIES:
            held = context.swa_cells(group.window_tokens)
        total = context.streams * held * per_token
        if context.unified:
            detail = f"one stream of {held:,} cells for {context.sequences} sequence(s)"
            return GroupBytes(group, held // context.sequences, per_token, total, detail)
        return GroupBytes(group, held, per_token, total, f"{held:,} cells per sequence")

    def state(recurrent: RecurrentState) -> tuple[int, str]:
        return state_bytes(recurrent, recurrent.conv_kernel - 1, FP32, FP32), "f32 r and s rows"

    rows = Workload(context.sequences, workload.seq_len, workload.enc_seq)
    return size_groups(architecture, rows, state, attention)


def _refuse_unrunnable(architecture: Architecture) -> None:
    model_type = architecture.model_type
    if model_type in NO_ARCHITECTURE:
        raise UnsupportedConfigError(
            f"--engine llama.cpp does not run model_type {model_type!r}: llama.cpp 0c1e57098 "
            f"has no {NO_ARCHITECTURE[model_type]} architecture"
        )
    cross = any(g.kind is LayerKind.CROSS for g in architecture.groups)
    if cross and model_type not in T5_FAMILIES:
        raise UnsupportedConfigError(
            f"--engine llama.cpp does not run the encoder-decoder model_type {model_type!r}"
        )
    for group in architecture.groups:
        compression = group.compression
        expected = DSV4_CSA_RATIO if compression and compression.sparse else DSV4_HCA_RATIO
        if compression is not None and compression.ratio != expected:
            raise UnsupportedConfigError(
                f"--engine llama.cpp: llama.cpp 0c1e57098 caches DeepSeek V4's CSA layers at "
                f"1:{DSV4_CSA_RATIO} and HCA layers at 1:{DSV4_HCA_RATIO} only, not 1:"
                f"{compression.ratio}"
            )
    if model_type == "minimax":
        attention = sum(g.count for g in architecture.groups if g.attention is not None)
        expected = architecture.num_layers // MINIMAX_INTERVAL
        if attention != expected:
            raise UnsupportedConfigError(
                f"--engine llama.cpp: MiniMax GGUFs carry no layer pattern, so every "
                f"{MINIMAX_INTERVAL}th layer is attention ({expected}); this config's "
                f"{attention} attention layers are not what llama.cpp would run"
            )


def assumptions(architecture: Architecture, deployment: Deployment) -> tuple[str, ...]:
    """The defaults applied that the user did not choose."""
    found = ["n_ctx = batch x seq (as -c would give it), n_ubatch 512, swa_full off"]
    if deployment.kv_unified is None:
        found.append("kv_unified off: one stream per sequence (the CLI's default; llama-server "
                     "without -np runs 4 slots sharing one unified cache)")  # fmt: skip
    found.append("flash attention auto: V rows not transposed, so not widened to the widest")
    if any(g.state is not None for g in architecture.groups):
        found.append("n_rs_seq 0: one recurrent row per sequence (no MTP/EAGLE3 rollback rows)")
    if architecture.model_type == "deepseek_v4":
        found.append("DeepSeek V4: the trunk's layers only, as convert_hf_to_gguf.py writes the "
                     "GGUF by default (--mtp puts the MTP block in a GGUF of its own)")  # fmt: skip
    if architecture.model_type in T5_FAMILIES:
        found.append("T5 cache on the decoder's layers (llama.cpp sizes it by the GGUF's "
                     "block_count, the encoder's; equal in released T5s)")  # fmt: skip
    return tuple(found)


def allocate(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    deployment: Deployment,
) -> EngineResult:  # fmt: skip
    """`batch` sequences of `seq` tokens as a context of n_ctx = batch x seq cells and
    n_seq_max = batch: one stream per sequence, or one unified stream (--kv-unified)."""
    require_dtype("llama.cpp", dtype, allowed=CACHE_TYPES)
    _refuse_unrunnable(architecture)
    context = Context.of(workload.batch * workload.seq_len, workload.batch,
                         bool(deployment.kv_unified))  # fmt: skip
    groups = cache_groups(architecture, workload, dtype, context)
    layout = (f"one unified stream of {context.cells:,} cells" if context.unified else
              f"{context.streams} stream(s) of {context.cells:,} cells")  # fmt: skip
    notes = [f"llama.cpp: n_ctx padded to {PAD}: {layout}"]
    if architecture.model_type == "deepseek_v4" and context.unified:
        notes.append(f"llama.cpp keeps DeepSeek V4's caches in one stream per sequence, "
                     f"unified or not: {context.sequences} of {context.cells:,} cells")  # fmt: skip
    windows = any(g.window_tokens is not None for g in architecture.groups)
    if windows and architecture.model_type not in SWA_FAMILIES:
        notes.append(f"llama.cpp: model_type {architecture.model_type!r} runs without its "
                     "sliding window: those layers hold every cell")  # fmt: skip
    if workload.batch > MAX_SEQ:
        notes.append(f"llama.cpp refuses more than {MAX_SEQ} sequences (LLAMA_MAX_SEQ): "
                     f"{workload.batch} need several contexts")  # fmt: skip
    if architecture.model_type in T5_FAMILIES and (workload.enc_seq or 0) > N_UBATCH:
        notes.append(f"llama.cpp encodes the whole input in one micro-batch: "
                     f"{workload.enc_seq:,} encoder tokens need -ub {workload.enc_seq} "
                     f"(default {N_UBATCH})")  # fmt: skip
    return EngineResult(groups, tuple(notes), assumptions(architecture, deployment))
