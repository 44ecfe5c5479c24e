"""Greedy decoding without a cache, with one, and speculatively with a draft model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kvcalc.bench.cache import KVCache
from kvcalc.bench.model import Decoder


@dataclass(frozen=True, eq=False)
class CachedGeneration:
    """New tokens and the cache that produced them.

    The last new token is never fed back, so the cache holds len(prompt) + n_new - 1 tokens.
    """

    tokens: tuple[int, ...]
    cache: KVCache


@dataclass(frozen=True)
class SpeculativeRun:
    """The output of speculative decoding and how much of the draft the target kept."""

    tokens: tuple[int, ...]
    proposed: int  # draft tokens offered to the target
    accepted: int  # draft tokens the target agreed with
    target_passes: int  # target forward passes, the prefill included
    draft_passes: int

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.proposed if self.proposed else 0.0

    @property
    def tokens_per_target_pass(self) -> float:
        """New tokens per target pass; plain greedy decoding makes exactly 1."""
        return len(self.tokens) / self.target_passes


def greedy_uncached(model: Decoder, prompt: Sequence[int], n_new: int) -> tuple[int, ...]:
    """Greedy decoding that runs the whole sequence through every layer at every step."""
    _check(prompt, n_new)
    sequence = list(prompt)
    for _ in range(n_new):
        sequence.append(int(model.forward(sequence)[-1].argmax()))
    return tuple(sequence[len(prompt) :])


def greedy_cached(model: Decoder, prompt: Sequence[int], n_new: int) -> CachedGeneration:
    """Greedy decoding with a KV cache: the prompt in one pass, then one token per pass."""
    _check(prompt, n_new)
    cache = model.new_cache(len(prompt) + n_new)
    new = [int(model.forward(prompt, cache)[-1].argmax())]
    while len(new) < n_new:
        new.append(int(model.forward(new[-1:], cache)[-1].argmax()))
    return CachedGeneration(tuple(new), cache)


def speculative(
    target: Decoder, draft: Decoder, prompt: Sequence[int], n_new: int, lookahead: int
) -> SpeculativeRun:
    """Greedy decoding of `target`, with `draft` proposing `lookahead` tokens per target pass.

    The target checks all proposals in one pass over its cache and keeps the longest prefix
    that matches its own greedy choices, plus its own next token; both caches are then rolled
    back to the committed tokens. The output is the target's greedy output, token for token.
    """
    _check(prompt, n_new)
    if lookahead <= 0:
        raise ValueError("lookahead must be at least 1")
    capacity = len(prompt) + n_new + lookahead
    target_cache, draft_cache = target.new_cache(capacity), draft.new_cache(capacity)
    sequence = list(prompt)
    sequence.append(int(target.forward(prompt, target_cache)[-1].argmax()))
    target_passes, proposed, accepted = 1, 0, 0
    while len(sequence) - len(prompt) < n_new:
        drafts = _propose(draft, draft_cache, sequence, lookahead)
        # The target lacks only the last committed token; row i predicts what follows drafts[:i].
        logits = target.forward([sequence[-1], *drafts], target_cache)
        choices = [int(token) for token in logits.argmax(axis=-1)]
        target_passes += 1
        agreed = 0
        while agreed < lookahead and drafts[agreed] == choices[agreed]:
            agreed += 1
        sequence += [*drafts[:agreed], choices[agreed]]
        proposed, accepted = proposed + lookahead, accepted + agreed
        target_cache.truncate(len(sequence) - 1)
        draft_cache.truncate(min(draft_cache.length, len(sequence) - 1))
    tokens = tuple(sequence[len(prompt) : len(prompt) + n_new])
    draft_passes = (target_passes - 1) * lookahead
    return SpeculativeRun(tokens, proposed, accepted, target_passes, draft_passes)


def _propose(draft: Decoder, cache: KVCache, sequence: list[int], lookahead: int) -> list[int]:
    """`lookahead` greedy draft tokens after `sequence`, feeding first what the cache lacks."""
    pending = sequence[cache.length :]
    proposals: list[int] = []
    for _ in range(lookahead):
        proposals.append(int(draft.forward(pending, cache)[-1].argmax()))
        pending = proposals[-1:]
    return proposals


def _check(prompt: Sequence[int], n_new: int) -> None:
    if not prompt or n_new <= 0:
        raise ValueError("generation needs a non-empty prompt and at least one new token")
