"""SGLang 0.5.23: the token-pool slots a request takes, and the pools a KV budget buys.

Rules, sources (the `sglang-0.5.23` wheel, paths under `sglang/srt/`) and worked examples:
docs/engines.md §2. One pool of token slots of `cell` bytes each (every attention layer's
K and V, or MLA latent plus DSA indexer key); hybrid sliding-window models a second pool for
their sliding layers; Mamba and linear-attention states a pool of request slots.
"""

from __future__ import annotations

from fractions import Fraction

from kvcalc.engines import Deployment, EngineResult, require_dtype
from kvcalc.engines.budget import Reserve
from kvcalc.engines.kvbytes import GroupBytes, Workload, cdiv, has_shared_kv, state_bytes
from kvcalc.engines.pool import PoolFigures
from kvcalc.errors import InputError, UnsupportedConfigError
from kvcalc.model.architecture import Architecture, LayerGroup, LayerKind, RecurrentState
from kvcalc.model.dtypes import BF16, FP16, FP32, CacheDtype, parse_dtype
from kvcalc.values import value

GIB = 1 << 30
MIB = 1 << 20
SWA_RATIO = 0.8  # swa_full_tokens_ratio (arg_groups/fields/schedule.py)
SWA_EVICTION_INTERVAL = 128  # SGLANG_SWA_EVICTION_INTERVAL (environ.py)
MAMBA_FULL_MEMORY_RATIO = 0.9  # mamba_full_memory_ratio
MAMBA_REQUEST_RATIO = 3  # MAMBA_CACHE_SIZE_MAX_RUNNING_REQUESTS_RATIO (kv_cache_configurator.py)
DSA_PAGE = 64  # model_overrides/deepseek_v2.py: 64 * index_kpool on CUDA
FP8_DSA_ROW = 656  # kv_lora_rank + kv_lora_rank // 128 * 4 + qk_rope * 2 (flashmla_kv)

# configs/model_config.py is_hybrid_swa_model (Llama 4 as Llama4ForConditionalGeneration).
HYBRID_SWA = frozenset({"gpt_oss", "llama4", "llama4_text", "gemma4", "gemma4_text", "mimo_v2",
                        "mimo_v2_flash", "step3p5"})  # fmt: skip
# get_attention_sliding_window_size is `sliding_window - 1` (models/gpt_oss.py, gemma4_causal.py).
EXCLUSIVE_WINDOW = frozenset({"gpt_oss", "gemma4", "gemma4_text"})
# arg_groups/overrides.py _MAMBA_EXTRA_BUFFER_ARCHS and _MAMBA_RADIX_CACHE_ARCHS.
EXTRA_BUFFER = frozenset({"qwen3_next", "qwen3_5", "qwen3_5_moe", "qwen3_5_text",
                          "qwen3_5_moe_text", "kimi_linear", "falcon_h1", "granitemoehybrid",
                          "nemotron_h"})  # fmt: skip
NO_BUFFER = frozenset({"lfm2", "lfm2_moe"})
PURE_SSM = frozenset({"mamba", "mamba2", "falcon_mamba"})  # PURE_SSM_ARCHITECTURES
# Blackwell: model_overrides/deepseek_v2.py sets trtllm_mla for the DeepSeek family.
TRTLLM_MLA = frozenset({"deepseek_v3", "deepseek_v32", "kimi_k2", "glm_moe_dsa"})
# No model file under sglang/srt/models/ in 0.5.23.
NOT_IN_SGLANG = {
    "jamba": "Jamba", "zamba2": "Zamba2", "bamba": "Bamba", "minimax": "MiniMax-Text-01 "
    "(lightning attention)", "t5": "T5", "bart": "BART", "mbart": "mBART",
}  # fmt: skip
# configs/<family>.py whose mamba2_cache_params pass the config to mamba2_state_dtype, which
# then reads its mamba_ssm_dtype (Qwen3.5's text configs subclass Qwen3NextConfig).
CONFIG_SSM_DTYPE = frozenset({"nemotron_h", "qwen3_next", "qwen3_5", "qwen3_5_moe",
                              "qwen3_5_text", "qwen3_5_moe_text", "falcon_h1"})  # fmt: skip
SSM_DTYPE_NAMES = {"float32": FP32, "bfloat16": BF16, "float16": FP16}
TORCH_DTYPES = {"bf16": "torch.bfloat16", "fp16": "torch.float16", "fp8": "torch.float8_e4m3fn"}


def run_dtype(model_type: str, config: CacheDtype) -> tuple[CacheDtype, tuple[str, ...]]:
    """`--dtype auto` (srt/configs/model_config.py `_get_and_verify_dtype`): a float32
    checkpoint runs in fp16, in bf16 for the Gemma families."""
    if config != FP32:
        return config, ()
    chosen = BF16 if model_type.startswith("gemma") else FP16
    return chosen, (f"sglang: a float32 checkpoint runs in {chosen.name} (SGLang's --dtype auto)",)


def pad(tokens: int, page: int) -> int:
    return cdiv(tokens, page) * page


@value
class Settings:
    """What SGLang resolves for this model and deployment (docs/engines.md §2.3, §2.6)."""

    page: int
    mamba: str | None  # extra_buffer | no_buffer | none (pure SSM); None: no state pool
    hybrid_swa: bool
    assumptions: tuple[str, ...]
    ssm: CacheDtype = FP32  # the Mamba pool's SSM (temporal) state

    @property
    def state_slots(self) -> int:
        """State slots one running request holds: 1 working state, plus 2 ping-pong tracking
        slots under extra_buffer with the overlap scheduler (`mem_cache/allocation_sizing.py`
        `get_mamba_tracking_slots`)."""
        return 3 if self.mamba == "extra_buffer" else 1

    @property
    def request_ratio(self) -> int:
        """State slots budgeted per running request (`_calculate_mamba_ratio`): 3, plus the
        2 tracking slots of extra_buffer."""
        return MAMBA_REQUEST_RATIO + (2 if self.mamba == "extra_buffer" else 0)


def _is_dsa(architecture: Architecture) -> bool:
    return any(g.attention and g.attention.mla and g.attention.mla.indexer_dim
               for g in architecture.groups)  # fmt: skip


def _is_mla(architecture: Architecture) -> bool:
    return any(g.attention is not None and g.attention.mla for g in architecture.groups)


def _refuse(architecture: Architecture, arch: str) -> None:
    """What SGLang 0.5.23 cannot run: families with no model file; DSA off Hopper/Blackwell."""
    name = NOT_IN_SGLANG.get(architecture.model_type)
    if name is not None:
        raise UnsupportedConfigError(
            f"--engine sglang: SGLang 0.5.23 does not run {name} (model_type "
            f"{architecture.model_type!r}: no model file under sglang/srt/models); not sized"
        )
    if _is_dsa(architecture) and arch not in ("hopper", "blackwell"):
        raise UnsupportedConfigError(
            f"--engine sglang: DeepSeek sparse attention does not run on {arch} in SGLang 0.5.23 "
            "(its dsa/flashmla/trtllm kernels need Hopper or Blackwell)"
        )


def _mamba_strategy(architecture: Architecture, deployment: Deployment) -> tuple[str | None, str]:
    """`_mamba_radix_cache_resolution`: extra_buffer where the architecture supports it (radix
    cache and overlap scheduler on, the defaults), else no_buffer; pure SSMs one slot."""
    if not any(g.state is not None for g in architecture.groups):
        return None, ""
    model_type = architecture.model_type
    if model_type in PURE_SSM:
        return "none", "pure SSM: one state slot per request (not a mamba radix-cache arch)"
    supported = model_type in EXTRA_BUFFER
    if model_type not in EXTRA_BUFFER | NO_BUFFER:
        raise UnsupportedConfigError(
            f"--engine sglang: the Mamba-pool state of model_type {model_type!r} is not modelled"
        )
    chosen = deployment.mamba_strategy
    if chosen is None:
        strategy = "extra_buffer" if supported else "no_buffer"
        return strategy, (f"mamba radix-cache strategy {strategy} (SGLang's default for this "
                          "architecture; --mamba-strategy to change)")  # fmt: skip
    if chosen not in ("extra_buffer", "no_buffer"):
        raise InputError(f"--mamba-strategy must be extra_buffer or no_buffer, got {chosen!r}")
    if chosen == "extra_buffer" and not supported:
        raise InputError(
            f"--engine sglang: model_type {model_type!r} does not support the extra_buffer "
            "Mamba strategy (not in _MAMBA_EXTRA_BUFFER_ARCHS)"
        )
    return chosen, f"mamba radix-cache strategy {chosen} (as given)"


def _blackwell_page(architecture: Architecture, mamba: str | None) -> tuple[int, str]:
    """SM100: trtllm_mla for the DeepSeek family (`model_overrides/deepseek_v2.py`), else
    flashinfer MLA; trtllm_mha for MHA (fa4 when K and V widths differ), triton with the
    no_buffer Mamba strategy (`model_overrides/qwen3_5.py`, `validate_mamba_no_buffer`)."""
    if _is_mla(architecture):
        if architecture.model_type in TRTLLM_MLA:
            return 64, "trtllm_mla, page 64"
        return 1, "flashinfer MLA, page 1"
    if mamba == "no_buffer":
        return 1, "triton: the no_buffer Mamba strategy needs page 1"
    if any(g.attention and g.attention.k_head_dim != g.attention.v_head_dim
           for g in architecture.groups):  # fmt: skip
        return 128, "fa4 (K and V widths differ), page 128"
    return 64, "trtllm_mha, page 64"


def _default_page(architecture: Architecture, arch: str, mamba: str | None) -> tuple[int, str]:
    """The page the default attention backend forces (`get_default_attn_backend`, the model
    overrides, `_mla_backend_page_constraints`, `_page_size_default`)."""
    if architecture.model_type == "whisper":
        return 1, "flashinfer, forced for Whisper"
    if _is_dsa(architecture):
        return DSA_PAGE, "the dsa backend: page 64 for DeepSeek sparse attention"
    if arch == "blackwell":
        return _blackwell_page(architecture, mamba)
    backend = {"hopper": "fa3", "cpu": "intel_amx"}.get(arch, "flashinfer or triton")
    if architecture.model_type.startswith("gemma4"):
        backend = "triton"
    return 1, f"{backend}, page 1"


def ssm_dtype(architecture: Architecture, deployment: Deployment) -> tuple[CacheDtype, str]:
    """`mamba2_state_dtype` (`configs/mamba_utils.py` L47-107): --mamba-ssm-dtype (which sets
    SGLANG_MAMBA_SSM_DTYPE, `arg_groups/serving_hook.py` L439-440), else the config's
    mamba_ssm_dtype where the family's config passes itself, else float32; a name outside
    float32 / bfloat16 / float16 ("auto" too) falls back to float32 with a warning."""
    if deployment.mamba_ssm_dtype:
        return parse_dtype(deployment.mamba_ssm_dtype), "--mamba-ssm-dtype"
    named = architecture.mamba_ssm_dtype
    if architecture.model_type in CONFIG_SSM_DTYPE and named in SSM_DTYPE_NAMES:
        return SSM_DTYPE_NAMES[named], "the config's mamba_ssm_dtype"
    return FP32, "SGLang's default"


def settings(architecture: Architecture, deployment: Deployment) -> Settings:
    """Page size, Mamba strategy and pools as SGLang 0.5.23 resolves them."""
    arch = deployment.arch
    _refuse(architecture, arch)
    mamba, why_mamba = _mamba_strategy(architecture, deployment)
    notes = [why_mamba] if why_mamba else []
    if deployment.block_size:
        page = deployment.block_size
        if mamba == "no_buffer" and page != 1:
            raise InputError("--engine sglang: the no_buffer Mamba strategy needs page size 1")
    else:
        page, why = _default_page(architecture, arch, mamba)
        notes.insert(0, f"page size {page} ({why} on {arch}; --block-size to change)")
    windowed = any(g.kind in (LayerKind.SLIDING, LayerKind.CHUNKED) for g in architecture.groups)
    hybrid = architecture.model_type in HYBRID_SWA and windowed
    if hybrid:
        notes.append(f"sliding layers in their own pool, swa_full_tokens_ratio {SWA_RATIO}")
    elif windowed:
        notes.append("sliding layers sized as full (SGLang has no separate pool for this model)")
    ssm, why_ssm = ssm_dtype(architecture, deployment)
    if mamba is not None:
        if deployment.mamba_dtype:
            raise InputError(
                "--engine sglang takes no conv-state dtype (--mamba-dtype): SGLang "
                "sets it with SGLANG_MAMBA_CONV_DTYPE, bf16 by default"
            )
        notes.append(f"Mamba conv state bf16 (SGLang's default), SSM state {ssm.name} "
                     f"({why_ssm})")  # fmt: skip
    if architecture.model_type == "whisper":
        notes.append("Whisper: encoder layers taken as many as the decoder layers (every "
                     "OpenAI size but large-v3-turbo)")  # fmt: skip
    return Settings(page, mamba, hybrid, tuple(notes), ssm)


def indexer_bytes(index_head_dim: int) -> int:
    """DSA index key per token and layer: fp8 values and an fp32 scale per 128, as uint8
    (`pool_configurator.py` `_compute_dsa_indexer_cell_size`): 132 B for index_head_dim 128."""
    return index_head_dim + index_head_dim // 128 * 4


def layer_bytes(group: LayerGroup, dtype: CacheDtype, arch: str) -> int:
    """One token of one layer (`DefaultPoolConfigurator._compute_cell_size`): kv_heads x
    (K + V); an MLA latent (`calculate_mla_kv_cache_dim`: 656 B for DSA in fp8 on Hopper's
    flashmla_kv, else 576 values) plus the DSA indexer key."""
    attention = group.cached_attention
    mla = attention.mla
    if mla is None:
        return dtype.bytes_for(
            attention.num_kv_heads * (attention.k_head_dim + attention.v_head_dim)
        )
    if not mla.indexer_dim:
        return dtype.bytes_for(mla.latent_dim)
    fp8_row = dtype.name == "fp8" and arch == "hopper"
    row = FP8_DSA_ROW if fp8_row else dtype.bytes_for(mla.latent_dim)
    return row + indexer_bytes(mla.indexer_dim)


def state_slot_bytes(state: RecurrentState, ssm: CacheDtype = FP32) -> int:
    """One layer's state in one Mamba-pool slot (`configs/mamba_utils.py`): conv (kernel - 1)
    taps in bf16, the temporal state in `ssm` (`mamba2_state_dtype`: fp32 by default)."""
    return state_bytes(state, state.conv_kernel - 1, BF16, ssm)


def swa_window(architecture: Architecture, group: LayerGroup) -> int:
    """The window the scheduler keeps (`resolve_sliding_window_size`): `sliding_window - 1`
    for gpt-oss and Gemma 4, else the config's window (Llama 4: attention_chunk_size)."""
    window = group.window_tokens or 0
    return window - 1 if architecture.model_type in EXCLUSIVE_WINDOW else window


def _cached_groups(architecture: Architecture) -> tuple[LayerGroup, ...]:
    """Gemma 3n's KV-sharing layers still get a buffer: the pool is sized on every layer."""
    attention = architecture.attention
    if "kv-shared-layers" not in architecture.quirks or attention is None:
        return architecture.groups
    return tuple(LayerGroup(LayerKind.FULL, g.count, attention) if g.kind is LayerKind.NONE
                 else g for g in architecture.groups)  # fmt: skip


def _attention(
    group: LayerGroup, architecture: Architecture, workload: Workload, dtype: CacheDtype,
    cfg: Settings, arch: str,
) -> GroupBytes:  # fmt: skip
    """Slots one request holds: whole pages of its tokens; a hybrid-SWA sliding layer at most
    window + eviction interval + 2 pages (`compute_swa_request_cap`); Whisper every slot of
    its 1,500 padded encoder positions, the cross-attention layers and the encoder layers
    (which never write) included (`configs/model_config.py` num_attention_layers)."""
    page, seq = cfg.page, workload.seq_len
    per_layer = layer_bytes(group, dtype, arch)
    layers = group.count
    slots = pad(seq, page)
    detail = f"{slots:,} slots, page {page}"
    if architecture.model_type == "whisper":
        slots = pad((architecture.encoder_tokens or 0) + seq, page)
        detail = f"{slots:,} slots (encoder positions + tokens), page {page}"
        if group.kind is LayerKind.CROSS:
            layers *= 2
            detail += "; cross-attention and encoder layers"
    elif group.kind is LayerKind.CROSS:
        raise UnsupportedConfigError(
            f"--engine sglang: SGLang 0.5.23 runs no encoder-decoder model of model_type "
            f"{architecture.model_type!r} (only Whisper)"
        )
    elif cfg.hybrid_swa and group.window_tokens is not None:
        slots = min(slots, swa_request_cap(swa_window(architecture, group), page))
        detail = f"{slots:,} SWA-pool slots (at most window + 128 + 2 pages), page {page}"
    per_token = layers * per_layer
    return GroupBytes(group, slots, per_token, workload.batch * slots * per_token, detail)


def allocate(
    architecture: Architecture, workload: Workload, dtype: CacheDtype, model: CacheDtype,
    deployment: Deployment,
) -> EngineResult:  # fmt: skip
    """Per request while decoding: token-pool slots in whole pages for each attention layer;
    for hybrid-SWA models the sliding layers' slots in the SWA pool; for Mamba hybrids the
    state slots it holds (1 working + 2 tracking under extra_buffer, 1 otherwise)."""
    require_dtype("sglang", dtype, allowed=("fp16", "bf16", "fp8"))
    if has_shared_kv(architecture):  # DSV4PoolConfigurator's own pools
        from kvcalc.engines import sglang_dsv4

        return sglang_dsv4.allocate(architecture, workload, deployment)
    cfg = settings(architecture, deployment)
    groups = []
    for group in _cached_groups(architecture):
        if group.kind is LayerKind.NONE:
            groups.append(GroupBytes(group, 0, 0, 0, "no cache"))
        elif group.state is not None:
            per_layer = state_slot_bytes(group.state, cfg.ssm)
            slots = cfg.state_slots
            detail = f"{slots} Mamba-pool slot(s) ({cfg.mamba})"
            total = workload.batch * slots * group.count * per_layer
            groups.append(GroupBytes(group, 0, 0, total, detail))
        else:
            groups.append(_attention(group, architecture, workload, dtype, cfg,
                                     deployment.arch))  # fmt: skip
    return EngineResult(tuple(groups), (), cfg.assumptions)


def gib_text(size: float) -> str:
    """A size in GiB with two decimals, as SGLang's log lines print it ("GB")."""
    return f"{size / GIB:.2f}"


def swa_request_cap(window: int, page: int) -> int:
    """`compute_swa_request_cap`: the SWA-pool slots one request keeps at most: its window,
    the eviction interval, a page of padding and a page of decode allocation."""
    return window + SWA_EVICTION_INTERVAL + 2 * page


def mamba_pool(budget_bytes: int, per_req: int) -> tuple[int, int]:
    """`_handle_max_mamba_cache`, in SGLang's float GiB: the pool takes ratio / (1 + ratio)
    of the budget, (slots + 1) x per_req bytes with its padding slot; the rest is the KV
    budget, `int(rest * 2**30)`. Returns (max_mamba_cache_size, KV bytes)."""
    rest = budget_bytes / GIB
    ratio = MAMBA_FULL_MEMORY_RATIO
    mamba_budget_bytes = rest * ratio / (1 + ratio) * GIB
    size = int((mamba_budget_bytes - per_req) // per_req)
    if size <= 0:
        raise InputError(
            "--engine sglang: not enough memory for the Mamba state cache "
            f"(max_mamba_cache_size {size}); SGLang refuses to start"
        )
    return size, int((rest - (size + 1) * per_req / GIB) * GIB)


def _kv_lines(groups: list[LayerGroup], dtype: CacheDtype, arch: str, tokens: int, page: int,
              label: str = "") -> tuple[str, int]:  # fmt: skip
    """`_finalize_allocation_log`: K and V sizes of `tokens + page` rows per layer (MLA: one
    KV size, DSA with the index-K pages of `(tokens + page + 1) // page` rows)."""
    name = f"{label} KV Cache" if label else "KV Cache"
    head = f"{name} is allocated. dtype: {TORCH_DTYPES[dtype.name]}, #tokens: {tokens}"
    rows = tokens + page
    k_bytes = v_bytes = 0
    for group in groups:
        attention = group.cached_attention
        if attention.mla is not None:
            latent = layer_bytes(group, dtype, arch) - indexer_bytes(attention.mla.indexer_dim)
            index_rows = (tokens + page + 1) // page * page if attention.mla.indexer_dim else 0
            k_bytes += group.count * (
                rows * latent
                + index_rows
                * (indexer_bytes(attention.mla.indexer_dim) if attention.mla.indexer_dim else 0)
            )
            continue
        k_bytes += (
            group.count * rows * dtype.bytes_for(attention.num_kv_heads * attention.k_head_dim)
        )
        v_bytes += (
            group.count * rows * dtype.bytes_for(attention.num_kv_heads * attention.v_head_dim)
        )
    if not v_bytes:
        return f"{head}, KV size: {gib_text(k_bytes)} GB", k_bytes
    return (
        f"{head}, K size: {gib_text(k_bytes)} GB, V size: {gib_text(v_bytes)} GB",
        k_bytes + v_bytes,
    )


def _swa_pools(
    architecture: Architecture, full: list[LayerGroup], swa: list[LayerGroup], dtype: CacheDtype,
    arch: str, available: int, page: int, lines: list[str],
) -> tuple[int, int, int]:  # fmt: skip
    """`HybridSWAPoolConfigurator`: cell = full + 0.8 x SWA bytes per token (a float);
    F = int(budget // cell) in pages, S = int(F x 0.8) in pages; the SWA pool must hold
    more than window + page (`validate_swa_pool_size`)."""
    full_cell = sum(g.count * layer_bytes(g, dtype, arch) for g in full)
    swa_cell = sum(g.count * layer_bytes(g, dtype, arch) for g in swa)
    if not full:
        full_tokens, swa_tokens = 0, available // swa_cell // page * page
    else:
        full_tokens = int(available // (full_cell + SWA_RATIO * swa_cell)) // page * page
        swa_tokens = int(full_tokens * SWA_RATIO) // page * page
    window = max(swa_window(architecture, g) for g in swa)
    if window + page >= swa_tokens:
        raise InputError(
            f"--engine sglang: SWA pool ({swa_tokens} tokens) cannot hold even one request: "
            f"the prefill admission floor is sliding_window_size ({window}) + page_size ({page})"
        )
    lines.append(f"Use sliding window memory pool. full_layer_tokens={full_tokens}, "
                 f"swa_layer_tokens={swa_tokens}")  # fmt: skip
    full_line, full_bytes = _kv_lines(full, dtype, arch, full_tokens, page, "Full")
    swa_line, swa_bytes = _kv_lines(swa, dtype, arch, swa_tokens, page, "SWA")
    lines += [full_line, swa_line, f"SWAKVPool mem usage: {gib_text(full_bytes + swa_bytes)} GB, "
              f"swa size: {swa_tokens}, full size: {full_tokens}"]  # fmt: skip
    return full_tokens, full_cell, swa_tokens


def max_running_requests(tokens: int, context_len: int, mamba_cap: int | None) -> int:
    """`resolve_max_num_reqs` with no --max-running-requests: int(T / context x 512) within
    [2048, 4096], at most T // 2, and at most the Mamba pool // slots per request."""
    estimated = max(min(int(tokens / context_len * 512), 4096), 2048)
    requests = min(estimated, tokens // 2)
    return requests if mamba_cap is None else min(requests, mamba_cap)


def capacity(
    architecture: Architecture, dtype: CacheDtype, model: CacheDtype, deployment: Deployment,
    budget_bytes: int, seq_len: int, enc_seq: int | None = None,
) -> PoolFigures:  # fmt: skip
    """SGLang's own figures for a KV budget on one GPU (the `rest` after weights and the
    1 - mem_fraction_static slack): the Mamba pool first, then max_total_num_tokens =
    (budget // cell) // page x page, or the full and SWA pools; max_running_requests; and
    the start-up log lines (docs/engines.md §2.3-§2.7)."""
    require_dtype("sglang", dtype, allowed=("fp16", "bf16", "fp8"))
    if has_shared_kv(architecture):
        from kvcalc.engines import sglang_dsv4

        context = architecture.max_position_embeddings or seq_len
        return sglang_dsv4.capacity(architecture, deployment, budget_bytes, seq_len, context)
    cfg = settings(architecture, deployment)
    arch, page = deployment.arch, cfg.page
    lines: list[str] = []
    available, mamba_cap = max(0, budget_bytes), None
    by_pool: list[int] = []  # requests of seq_len each pool holds while decoding
    states = [g for g in architecture.groups if g.state is not None]
    if states:
        per_req = sum(g.count * state_slot_bytes(g.state, cfg.ssm) for g in states if g.state)
        size, available = mamba_pool(available, per_req)
        conv = sum(g.count * BF16.bytes_for((g.state.conv_kernel - 1) * g.state.conv_channels)
                   for g in states if g.state)  # fmt: skip
        lines.append(f"Mamba Cache is allocated. max_mamba_cache_size: {size}, conv_state size: "
                     f"{gib_text((size + 1) * conv)}GB, ssm_state size: "
                     f"{gib_text((size + 1) * (per_req - conv))}GB")  # fmt: skip
        mamba_cap = size // cfg.request_ratio
    attending = [g for g in _cached_groups(architecture) if g.attention is not None]
    context = architecture.max_position_embeddings or seq_len
    if cfg.hybrid_swa:
        full = [g for g in attending if g.window_tokens is None]
        swa = [g for g in attending if g.window_tokens is not None]
        tokens, cell, swa_tokens = _swa_pools(architecture, full, swa, dtype, arch, available,
                                              page, lines)  # fmt: skip
        held = min(
            pad(seq_len, page), swa_request_cap(max(swa_window(architecture, g) for g in swa), page)
        )
        by_pool.append(swa_tokens // held)
    else:
        cell = sum(g.count * layer_bytes(g, dtype, arch) for g in attending)
        if architecture.model_type == "whisper":
            cell += sum(g.count * layer_bytes(g, dtype, arch) for g in attending
                        if g.kind is LayerKind.CROSS)  # fmt: skip
        tokens = (available // cell if cell else context) // page * page
        if cell:
            lines.append(_kv_lines(attending, dtype, arch, tokens, page)[0])
    requests = max_running_requests(tokens, context, mamba_cap)
    guessed = "" if architecture.max_position_embeddings else " (--seq: the config gives none)"
    lines.append(f"max_total_num_tokens={tokens}, max_running_requests={requests}, "
                 f"context_len={context}{guessed}")  # fmt: skip
    needed = pad((architecture.encoder_tokens or 0) + seq_len, page) if cell else None
    if needed:
        by_pool.append(tokens // needed)
    # Whole requests held at once: the pools' room, capped by max_running_requests (which
    # for Mamba hybrids is already at most the Mamba pool // its slots per request).
    held_requests = min([requests, *by_pool])
    return PoolFigures("token slot", cell, tokens, tokens, float(requests), tuple(lines),
                       worst_case_units=needed, requests=held_requests)  # fmt: skip


def _prefill_graph_sizes(max_bs: int) -> int:
    """Prefill CUDA-graph capture sizes (`cuda_graph_hook.py`
    `generate_prefill_cuda_graph_batch_sizes`)."""
    sizes = [*range(4, 33, 4), *range(48, 257, 16), *range(288, 513, 32), *range(576, 1025, 64),
             *range(1280, 4097, 256), *range(4608, max_bs + 1, 512)]  # fmt: skip
    return sum(1 for size in sizes if size <= max_bs)


def _tier(gpu_mib: int, tp: int) -> tuple[int, int]:
    """chunked_prefill_size and the decode graphs' max_bs by GPU memory
    (`arg_groups/memory_hook.py` `handle_gpu_memory_settings`)."""
    small_tp = tp < 4
    for limit, chunked, max_bs in ((20, 2048, 8), (35, 4096, 48 if small_tp else 160),
                                   (60, 4096, 32 if small_tp else 160),
                                   (90, 8192, 256 if small_tp else 512),
                                   (160, 8192, 256 if small_tp else 512)):  # fmt: skip
        if gpu_mib < limit * 1024:
            return chunked, max_bs
    return 16384, 512


def mem_fraction_static(
    deployment: Deployment, gpu_bytes: int, mla: bool = False, prefill_graph: bool = True
) -> Fraction:
    """`handle_gpu_memory_settings`, default path: reserved MiB = 512 + 1.5 x max(chunked
    prefill, 2048) + tp x pp / 8 x 1024 + CUDA graphs (`reserve_for_graph_mb`: 2 x decode
    max_bs; the prefill graph, when on, 8 per capture size, 1,536 for MLA), at least 10 GiB
    above 60 GiB; round((mem - reserved) / mem, 3) with mem in MiB as nvidia-smi reports it."""
    gpu_mib = gpu_bytes // MIB
    chunked, max_bs = _tier(gpu_mib, deployment.tp)
    reserved = 512 + max(chunked, 2048) * 1.5 + deployment.tp * deployment.pp / 8 * 1024
    if deployment.arch != "cpu":
        reserved += 2 * max_bs
        if prefill_graph:
            reserved += 1536 if mla else 8 * _prefill_graph_sizes(chunked)
    if gpu_mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    return Fraction(str(round((gpu_mib - reserved) / gpu_mib, 3)))


def default_util(architecture: Architecture, deployment: Deployment, gpu_bytes: int) -> Fraction:
    """SGLang's default --mem-fraction-static for this GPU (the MLA difference is in
    `reserve`). DeepSeek V4 runs without the prefill CUDA graph: `cuda_graph_hook.py`
    `disable_breakable_cudagraph_if_incompatible` turns it off ("heavy capture-pool memory
    pressure") in `handle_cuda_graph_config`, before `handle_gpu_memory_settings`, so
    `reserve_for_graph_mb` counts no prefill capture sizes (SGLang 0.5.23)."""
    prefill_graph = not has_shared_kv(architecture)
    return mem_fraction_static(deployment, gpu_bytes, prefill_graph=prefill_graph)


def reserve(architecture: Architecture, deployment: Deployment, gpu_bytes: int) -> Reserve:
    """SGLang's non-KV memory (activations, CUDA graphs, req_to_token) is already inside
    1 - mem_fraction_static; only the lower fraction of an MLA model (a 1,536 MiB prefill
    graph reserve) is taken here, as the bytes it leaves out."""
    basis = ("SGLang keeps activations, CUDA graphs and req_to_token inside "
             "1 - mem_fraction_static; a multimodal checkpoint's 100 MB VLM cache and lower "
             "fraction are not modelled")  # fmt: skip
    if not _is_mla(architecture):
        return Reserve((), basis)
    text, mla = mem_fraction_static(deployment, gpu_bytes), mem_fraction_static(
        deployment, gpu_bytes, mla=True)  # fmt: skip
    gap = cdiv(gpu_bytes * text.numerator, text.denominator) - cdiv(
        gpu_bytes * mla.numerator, mla.denominator)  # fmt: skip
    part = f"MLA prefill graphs: mem_fraction_static {float(mla):g}, not {float(text):g}"
    return Reserve(((part, gap),), basis + "; MLA lowers the fraction (applies at the default)")
