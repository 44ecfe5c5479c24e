"""Capacity planning over many models: load each once, then compare, sweep and plot estimates."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

from kvcalc.errors import KvcalcError
from kvcalc.planning.estimation import Estimate, LoadedModel, estimate, load_model, resolve_seq
from kvcalc.planning.grid import SeqValue
from kvcalc.sources.presets import all_presets
from kvcalc.sources.resolve import HubOptions
from kvcalc.values import replace, value

HUB_THREADS = 8
NOTES_PER_MODEL = 3  # a sweep past a model's context would otherwise print one note per length


@value
class ModelFailure:
    """A model that could not be loaded or estimated; the others still are."""

    reference: str
    error: KvcalcError

    def message(self) -> str:
        """The error's line, naming the model unless it already does."""
        text = str(self.error)
        return text if self.reference in text else f"{self.reference}: {text}"


def failure_lines(failures: Sequence[ModelFailure]) -> list[str]:
    """One line per distinct error: models that fail alike (a dtype no engine offers) share it."""
    alike: dict[str, list[ModelFailure]] = {}
    for failure in failures:
        alike.setdefault(str(failure.error), []).append(failure)
    return [
        group[0].message() if len(group) == 1
        else f"{', '.join(f.reference for f in group)}: {text}"
        for text, group in alike.items()
    ]  # fmt: skip


def headline_models() -> tuple[str, ...]:
    """The bundled presets compared when no model is named."""
    return tuple(preset.name for preset in all_presets() if preset.headline)


def _is_hub_id(reference: str) -> bool:
    return "/" in reference and not Path(reference).expanduser().exists()


def _load(reference: str, hub: HubOptions | None) -> LoadedModel | ModelFailure:
    try:
        return load_model(reference, hub)
    except KvcalcError as error:
        return ModelFailure(reference, error)


def load_models(
    references: Iterable[str], hub: HubOptions | None = None
) -> list[LoadedModel | ModelFailure]:
    """Each distinct reference loaded once, in order; hub ids concurrently, each its own wait."""
    unique = list(dict.fromkeys(references))
    if sum(_is_hub_id(reference) for reference in unique) < 2:
        return [_load(reference, hub) for reference in unique]
    with ThreadPoolExecutor(max_workers=min(HUB_THREADS, len(unique))) as pool:
        return list(pool.map(lambda reference: _load(reference, hub), unique))


def check_engine(engine: str) -> None:
    """An unknown engine is one input error, before any model is loaded."""
    from kvcalc.engines import rule

    rule(engine)


@value
class CompareRow:
    """One model in one cache dtype at every compared length, beside its own dtype."""

    dtype_request: str  # as asked: "auto" is the config's own dtype
    estimates: tuple[Estimate, ...]  # one per length
    baseline: tuple[Estimate, ...]  # the same lengths in the config's dtype

    @property
    def model(self) -> str:
        return self.estimates[0].source.name

    @property
    def saving(self) -> Fraction:
        """Share of the own-dtype cache saved at the longest length compared (1/2: half)."""
        longest = max(range(len(self.estimates)), key=lambda i: self.estimates[i].workload.seq_len)
        own = self.baseline[longest].total_bytes
        return 1 - Fraction(self.estimates[longest].total_bytes, own) if own else Fraction(0)


def _series(
    model: LoadedModel, dtype: str, seqs: Sequence[SeqValue], batch: int, engine: str
) -> tuple[Estimate, ...]:
    return tuple(estimate(model, seq=s, batch=batch, dtype=dtype, engine=engine) for s in seqs)


def compare_model(
    model: LoadedModel,
    dtypes: Sequence[str],
    seqs: Sequence[SeqValue],
    batch: int,
    engine: str = "default",
) -> list[CompareRow]:
    """`model` in each of `dtypes` at each of `seqs`; KvcalcError if any estimate fails."""
    baseline = _series(model, "auto", seqs, batch, engine)
    return [
        CompareRow(
            dtype,
            baseline if dtype.lower() == "auto" else _series(model, dtype, seqs, batch, engine),
            baseline,
        )
        for dtype in dtypes
    ]


def compare(
    loaded: Iterable[LoadedModel | ModelFailure],
    dtypes: Sequence[str],
    seqs: Sequence[SeqValue],
    batch: int,
    engine: str = "default",
) -> tuple[list[CompareRow], list[ModelFailure]]:
    """Rows for every model that loads and estimates; the others as failures, in order."""
    rows: list[CompareRow] = []
    failures: list[ModelFailure] = []
    for model in loaded:
        if isinstance(model, ModelFailure):
            failures.append(model)
            continue
        try:
            rows.extend(compare_model(model, dtypes, seqs, batch, engine))
        except KvcalcError as error:
            failures.append(ModelFailure(model.source.name, error))
    return rows, failures


class SweepRow(NamedTuple):
    """One grid point: `base` is the estimate at its model, dtype and length."""

    base: Estimate
    batch: int
    total_bytes: int

    def estimate(self) -> Estimate:
        """The full estimate at this batch (for JSON and tables; CSV needs only the totals)."""
        if self.base.workload.batch == self.batch:
            return self.base
        return with_batch(self.base, self.batch)


def with_batch(base: Estimate, batch: int) -> Estimate:
    """`base` (at batch 1, default engine) for `batch` sequences: every group scales by batch."""
    groups = tuple(replace(group, total_bytes=group.total_bytes * batch) for group in base.groups)
    return replace(base, workload=replace(base.workload, batch=batch), groups=groups)


@value
class Sweep:
    """Every model x dtype x length x batch, the lengths estimated once per model and dtype."""

    bases: tuple[Estimate, ...]  # per model x dtype x length, at batch 1
    batches: tuple[int, ...]
    engine: str = "default"

    def __len__(self) -> int:
        return len(self.bases) * len(self.batches)

    def rows(self) -> Iterator[SweepRow]:
        """Rows in model, dtype, length, batch order.

        The default engine's bytes are batch x the one-sequence bytes (kvbytes: every group is
        batch x tokens x bytes per token, or batch x state), so each row is one multiplication;
        other engines may round per batch (llama.cpp's context), so each row is estimated.
        """
        if self.engine.lower() == "default":
            for base in self.bases:
                single = base.total_bytes
                for batch in self.batches:
                    yield SweepRow(base, batch, batch * single)
            return
        for base in self.bases:
            model = LoadedModel(base.source, base.architecture)
            for batch in self.batches:
                full = estimate(model, seq=base.workload.seq_len, batch=batch,
                                dtype=base.dtype.name, engine=self.engine)  # fmt: skip
                yield SweepRow(full, batch, full.total_bytes)


def sweep(
    loaded: Iterable[LoadedModel | ModelFailure],
    dtypes: Sequence[str],
    seqs: Sequence[SeqValue],
    batches: Sequence[int],
    engine: str = "default",
) -> tuple[Sweep, list[ModelFailure]]:
    """The grid of every model that loads and estimates; the others as failures, in order."""
    bases: list[Estimate] = []
    failures: list[ModelFailure] = []
    for model in loaded:
        if isinstance(model, ModelFailure):
            failures.append(model)
            continue
        try:
            # All of a model's estimates or none: a model that fails has no rows.
            bases.extend(
                [one for dtype in dtypes for one in _series(model, dtype, seqs, 1, engine)]
            )
        except KvcalcError as error:
            failures.append(ModelFailure(model.source.name, error))
    return Sweep(tuple(bases), tuple(batches), engine), failures


def _beyond_context(estimates: Sequence[Estimate]) -> tuple[set[str], str | None]:
    """A model's per-length "exceeds max_position_embeddings" notes, and one line for them all."""
    limit = estimates[0].architecture.max_position_embeddings
    beyond = sorted(
        {one.workload.seq_len for one in estimates if limit and one.workload.seq_len > limit}
    )
    if len(beyond) < 2:
        return set(), None
    own = {note for seq in beyond for note in resolve_seq(seq, estimates[0].architecture)[1]}
    return own, (
        f"{len(beyond)} lengths, {beyond[0]:,} to {beyond[-1]:,} tokens, exceed the model's "
        f"max_position_embeddings ({limit:,})"
    )


def model_notes(estimates: Iterable[Estimate]) -> list[str]:
    """Each distinct note once, prefixed with its model; a few per model, then a count."""
    by_model: dict[str, list[Estimate]] = {}
    for single in estimates:
        by_model.setdefault(single.source.name, []).append(single)
    lines: list[str] = []
    for model, group in by_model.items():
        replaced, summary = _beyond_context(group)
        notes = list(dict.fromkeys(n for one in group for n in one.notes if n not in replaced))
        notes += [summary] if summary else []
        lines.extend(f"{model}: {note}" for note in notes[:NOTES_PER_MODEL])
        if len(notes) > NOTES_PER_MODEL:
            more = len(notes) - NOTES_PER_MODEL
            noun = "note" if more == 1 else "notes"
            lines.append(f"{model}: {more} more {noun} (--format json gives each row's)")
    return lines
