"""Per-token latency with and without a KV cache, the crossover, and a speculative run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from statistics import median

from kvcalc.bench.cache import KVCache
from kvcalc.bench.generate import SpeculativeRun, greedy_cached, speculative
from kvcalc.bench.model import Decoder, DecoderConfig


@dataclass(frozen=True)
class LengthTiming:
    """The cost of producing the token at position `seq_len`, with and without a cache.

    Uncached: one forward pass over all `seq_len` tokens. Cached: one forward pass of the last
    token over `seq_len - 1` cached ones. Both are medians over the repetitions.
    """

    seq_len: int
    uncached_s: float
    cached_s: float
    cache_bytes: int  # measured: the cache's nbytes once it holds seq_len tokens
    kvcalc_bytes: int  # kvcalc's estimate for the same config, dtype and seq_len

    @property
    def speedup(self) -> float:
        return self.uncached_s / self.cached_s


@dataclass(frozen=True)
class SpeculativeTiming:
    """A speculative run next to plain cached greedy decoding of the same target."""

    run: SpeculativeRun
    draft_layers: int
    lookahead: int
    prompt_tokens: int
    speculative_s: float
    greedy_s: float
    matches_greedy: bool


@dataclass(frozen=True)
class Repetitions:
    """How each latency is measured: untimed warm-up runs, then the median of `repeats`."""

    warmup: int = 1
    repeats: int = 3


@dataclass(frozen=True)
class BenchReport:
    """Everything `kvcalc bench` measured, for the renderers."""

    config: DecoderConfig
    repetitions: Repetitions
    lengths: tuple[LengthTiming, ...]
    speculative: SpeculativeTiming | None = None

    @property
    def crossover(self) -> int | None:
        return crossover(self.lengths)


def measure_lengths(
    model: Decoder,
    lengths: Sequence[int],
    kvcalc_bytes: Callable[[int], int],
    repetitions: Repetitions = Repetitions(),
    on_length: Callable[[int], None] | None = None,
) -> tuple[LengthTiming, ...]:
    """Time both ways of producing the token at each length, over one growing cache.

    `kvcalc_bytes(n)` is kvcalc's figure for n tokens; `on_length(n)` is called after each.
    """
    import numpy as np

    ordered = sorted(lengths)
    rng = np.random.default_rng(model.config.seed)
    tokens = rng.integers(0, model.config.vocab_size, ordered[-1]).tolist()
    cache = model.new_cache(ordered[-1])
    timings = []
    for length in ordered:
        if cache.length < length - 1:
            model.forward(tokens[cache.length : length - 1], cache)
        uncached, cached = _time_length(model, tokens[:length], cache, repetitions)
        model.forward(tokens[length - 1 : length], cache)
        timings.append(
            LengthTiming(length, uncached, cached, cache.nbytes, kvcalc_bytes(cache.length))
        )
        if on_length is not None:
            on_length(length)
    return tuple(timings)


def crossover(timings: Iterable[LengthTiming]) -> int | None:
    """The shortest measured length from which the cache is faster at every longer one."""
    found = None
    for timing in sorted(timings, key=lambda t: t.seq_len, reverse=True):
        if timing.cached_s >= timing.uncached_s:
            break
        found = timing.seq_len
    return found


def measure_speculative(
    target: Decoder, draft_layers: int, lookahead: int, prompt_tokens: int, n_new: int
) -> SpeculativeTiming:
    """Speculative decoding with the target's first `draft_layers` blocks as the draft."""
    import numpy as np

    rng = np.random.default_rng(target.config.seed + 1)
    prompt = rng.integers(0, target.config.vocab_size, prompt_tokens).tolist()
    draft = target.truncated(draft_layers)
    start = time.perf_counter()
    greedy = greedy_cached(target, prompt, n_new).tokens
    greedy_s = time.perf_counter() - start
    start = time.perf_counter()
    run = speculative(target, draft, prompt, n_new, lookahead)
    speculative_s = time.perf_counter() - start
    return SpeculativeTiming(
        run, draft_layers, lookahead, prompt_tokens, speculative_s, greedy_s, run.tokens == greedy
    )


def _time_length(
    model: Decoder, tokens: list[int], cache: KVCache, repetitions: Repetitions
) -> tuple[float, float]:
    """Seconds to produce the token after `tokens`: uncached, then over a cache of all but one."""
    uncached = _median_seconds(lambda: model.forward(tokens), None, repetitions)
    kept = len(tokens) - 1
    cached = _median_seconds(
        lambda: model.forward(tokens[kept:], cache), lambda: cache.truncate(kept), repetitions
    )
    return uncached, cached


def _median_seconds(
    step: Callable[[], object], reset: Callable[[], None] | None, repetitions: Repetitions
) -> float:
    """Median wall time of `step`, with `reset` run untimed after each call."""
    samples = []
    for run in range(repetitions.warmup + repetitions.repeats):
        start = time.perf_counter()
        step()
        elapsed = time.perf_counter() - start
        if reset is not None:
            reset()
        if run >= repetitions.warmup:
            samples.append(elapsed)
    return median(samples)
