"""The KV budget of one GPU: its memory x the engine's utilisation, less weights and the
engine's non-KV memory (activations, logits, CUDA graphs, communication buffers).

Each engine module may define `default_util(architecture, deployment, gpu_bytes) -> Fraction`
and `reserve(architecture, deployment, gpu_bytes) -> Reserve`; the generic ones below apply
otherwise. Derivations: docs/engines.md, "Non-KV memory".
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from kvcalc.engines import engine_module
from kvcalc.engines.deployment import Deployment
from kvcalc.model.architecture import Architecture
from kvcalc.values import value

MIB = 1024**2
GIB = 1024**3
GENERIC_UTIL = Fraction(9, 10)
ACTIVATION_BYTES = 2  # bf16/fp16 activations
LOGIT_BYTES = 2 + 3 * 4  # model-dtype logits, an fp32 copy, probabilities, a sort buffer


@value
class Reserve:
    """Non-KV memory on one GPU, an estimate: its parts (name, bytes) and what it rests on."""

    parts: tuple[tuple[str, int], ...]
    basis: str

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.parts)


@value
class KvBudget:
    """How one GPU's memory divides: usable = ceil or floor(memory x util); the KV cache gets
    what weights and the reserve leave (negative: they do not fit), or a given figure."""

    gpu_bytes: int
    util: Fraction | None  # None: the KV budget was given directly
    usable_bytes: int
    weights_bytes: int
    reserve: Reserve
    kv_budget_bytes: int
    rule: str


def default_util(
    engine: str, architecture: Architecture, deployment: Deployment, gpu_bytes: int
) -> Fraction:
    """The engine's default share of GPU memory (vLLM's gpu_memory_utilization, SGLang's
    mem_fraction_static, ...); 0.9 for engines without one. The model matters where the engine
    says so (SGLang: DeepSeek V4 has no prefill CUDA graph to reserve for)."""
    hook: Callable[[Architecture, Deployment, int], Fraction] | None = getattr(
        engine_module(engine), "default_util", None
    )
    return hook(architecture, deployment, gpu_bytes) if hook else GENERIC_UTIL


def generic_reserve(
    architecture: Architecture, deployment: Deployment, batched_tokens: int, sequences: int,
    graphs: bool = True,
) -> Reserve:  # fmt: skip
    """Activations of one forward of `batched_tokens` tokens (the MLP's gate/up and output,
    and two hidden-state buffers, or the fused-MoE workspace), the sampler's logits for
    `sequences` rows of the vocabulary, CUDA graphs (0.5 GiB + 4 MiB a layer), and
    communication and workspace buffers (0.5 GiB, 1 GiB under TP): vLLM's profile run
    measures these (docs/engines.md, "Non-KV memory"); widths the config omits count as 0."""
    dims = architecture.compute
    tp = deployment.tp
    hidden = dims.hidden_size or 0
    if dims.num_experts and dims.experts_per_token:
        width = dims.moe_intermediate_size or dims.intermediate_size or 0
        mlp = dims.experts_per_token * max(2 * width // tp, hidden) * 2
        activations = batched_tokens * (mlp + 2 * hidden) * ACTIVATION_BYTES
        activations += batched_tokens * dims.num_experts * 4  # router logits, fp32
    else:
        width = dims.intermediate_size or 4 * hidden
        activations = batched_tokens * (3 * width // tp + 2 * hidden) * ACTIVATION_BYTES
    vocab = -(-(dims.vocab_size or 0) // 64) * 64
    logits = min(batched_tokens, sequences) * vocab * LOGIT_BYTES
    parts = [("activations", activations), ("sampler logits", logits)]
    if graphs:
        parts.append(("CUDA graphs", GIB // 2 + architecture.num_layers * 4 * MIB))
    parts.append(("buffers", GIB if tp > 1 else GIB // 2))
    basis = (f"estimate: a forward of {batched_tokens:,} tokens, logits of "
             f"{min(batched_tokens, sequences):,} rows")  # fmt: skip
    return Reserve(tuple(parts), basis)


def estimate_reserve(
    engine: str, architecture: Architecture, deployment: Deployment, gpu_bytes: int
) -> Reserve:
    """The engine's estimate of non-KV memory on one GPU."""
    hook: Callable[[Architecture, Deployment, int], Reserve] | None = getattr(
        engine_module(engine), "reserve", None
    )
    if hook is not None:
        return hook(architecture, deployment, gpu_bytes)
    tokens = deployment.max_num_batched_tokens or 8192
    sequences = deployment.max_num_seqs or 256
    return generic_reserve(architecture, deployment, tokens, sequences)


def kv_budget(
    engine: str, architecture: Architecture, deployment: Deployment, *, gpu_bytes: int,
    weights_bytes: int, util: Fraction | None = None, reserve_bytes: int | None = None,
    kv_cache_memory: int | None = None,
) -> KvBudget:  # fmt: skip
    """The KV budget per GPU: `kv_cache_memory` if given (vLLM's kv_cache_memory_bytes: util
    and the reserve do not apply), else ceil(memory x util) - weights - reserve."""
    if kv_cache_memory is not None:
        none = Reserve((), "not applied: the KV budget was given (--kv-cache-memory)")
        rule = "KV budget per GPU = --kv-cache-memory, as given"
        return KvBudget(gpu_bytes, None, gpu_bytes, weights_bytes, none, kv_cache_memory, rule)
    fraction = (util if util is not None
                else default_util(engine, architecture, deployment, gpu_bytes))  # fmt: skip
    if reserve_bytes is None:
        found = estimate_reserve(engine, architecture, deployment, gpu_bytes)
    else:
        found = Reserve((("given", reserve_bytes),), "given (--reserve)")
    if getattr(engine_module(engine), "FRACTION_OF_FREE", False):
        # The fraction applies to what weights and the peak leave (TensorRT-LLM's
        # free_gpu_memory_fraction): floor((memory - weights - reserve) x util).
        free = gpu_bytes - weights_bytes - found.total_bytes
        budget = free * fraction.numerator // fraction.denominator if free > 0 else free
        rule = (f"KV budget per GPU = floor((memory - weights - reserve) x {float(fraction):g}) "
                f"({found.basis})")  # fmt: skip
        return KvBudget(gpu_bytes, fraction, gpu_bytes, weights_bytes, found, budget, rule)
    usable = -(-gpu_bytes * fraction.numerator // fraction.denominator)
    budget = usable - weights_bytes - found.total_bytes
    rule = (f"KV budget per GPU = ceil(memory x {float(fraction):g}) - weights - reserve "
            f"({found.basis})")  # fmt: skip
    return KvBudget(gpu_bytes, fraction, usable, weights_bytes, found, budget, rule)
