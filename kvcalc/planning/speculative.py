"""Speculative decoding: the target's and the draft's caches, and the K slots it writes ahead."""

from __future__ import annotations

from kvcalc.errors import InputError
from kvcalc.planning.estimation import Estimate, LoadedModel, estimate
from kvcalc.values import value


@value
class Speculation:
    """A target serving `batch x seq` tokens while a draft proposes `spec_tokens` at a time.

    Each step the draft extends its own cache by K tokens and the target verifies them in one
    pass, writing K entries that are rolled back when rejected: both caches must hold seq + K.
    """

    target: Estimate  # at seq
    target_with_slots: Estimate  # at seq + K
    draft: Estimate  # at seq + K
    spec_tokens: int

    @property
    def slot_bytes(self) -> int:
        """The target's K speculative slots per sequence, all sequences."""
        return self.target_with_slots.total_bytes - self.target.total_bytes

    @property
    def extra_bytes(self) -> int:
        """What speculation costs on top of the target alone: its slots and the draft's cache."""
        return self.slot_bytes + self.draft.total_bytes

    @property
    def total_bytes(self) -> int:
        return self.target_with_slots.total_bytes + self.draft.total_bytes


def speculate(
    target: LoadedModel, draft: LoadedModel, *, spec_tokens: int, seq: int | str, batch: int | str,
    dtype: str, engine: str = "default", **options: object,
) -> Speculation:  # fmt: skip
    """The caches of target and draft for speculative decoding with `spec_tokens` proposals."""
    if isinstance(spec_tokens, bool) or spec_tokens <= 0:
        raise InputError(f"--spec-tokens must be a positive integer, got {spec_tokens!r}")
    base = estimate(target, seq=seq, batch=batch, dtype=dtype, engine=engine, **options)  # type: ignore[arg-type]
    ahead = base.workload.seq_len + spec_tokens
    common = {"batch": base.workload.batch, "engine": engine, **options}
    with_slots = estimate(target, seq=ahead, dtype=dtype, **common)  # type: ignore[arg-type]
    draft_cache = estimate(draft, seq=ahead, dtype=dtype, **common)  # type: ignore[arg-type]
    return Speculation(base, with_slots, draft_cache, spec_tokens)
