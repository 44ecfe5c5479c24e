"""The axes of a planning grid: value lists and ranges such as `8k,32k` or `1k..128k`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from kvcalc.errors import InputError
from kvcalc.units import parse_count, parse_tokens

SeqValue = int | Literal["max"]
ValueParser = Callable[[str, str], int]  # (text, option name) -> a positive integer

# Bounds checked before anything is computed, so that every accepted grid prints in seconds:
# one estimate takes ~50 µs, one CSV row ~5 µs, one table row ~1 ms (Rich lays out each cell).
MAX_AXIS_VALUES = 100_000  # values of one --seq or --batch range
MAX_ESTIMATES = 50_000  # model x dtype x length points (x batch off the default engine)
MAX_ROWS = 1_000_000  # sweep rows (x batch) in CSV or JSON
MAX_TABLE_ROWS = 1_000  # rows of a sweep table; CSV is the format for more
MAX_TABLE_LENGTHS = 16  # columns of a compare table; CSV and JSON take more


def _parts(texts: Iterable[str]) -> list[str]:
    """Each option value split at commas; empty parts (a trailing comma) are skipped."""
    return [part.strip() for text in texts for part in text.split(",") if part.strip()]


def expand_range(text: str, parse_value: ValueParser, *, what: str) -> list[int]:
    """`A..B`: A, 2A, 4A, … up to B (B only if doubling reaches it); `A..B:STEP`: A, A+STEP, …."""
    start_text, _, rest = text.partition("..")
    end_text, colon, step_text = rest.partition(":")
    if not start_text.strip() or not end_text.strip() or (colon and not step_text.strip()):
        raise InputError(f"{what} range {text!r} needs a start and an end, e.g. 1k..128k, 1..64:8")
    start, end = parse_value(start_text, what), parse_value(end_text, what)
    if start > end:
        raise InputError(
            f"{what} range {text!r} is reversed: {start:,} is above {end:,}; write low..high"
        )
    step = parse_value(step_text, f"{what} step") if colon else None
    count = (end - start) // step + 1 if step else (end // start).bit_length()
    if count > MAX_AXIS_VALUES:
        raise InputError(f"{what} range {text!r} has {count:,} values; at most {MAX_AXIS_VALUES:,}")
    if step:
        return list(range(start, end + 1, step))
    return [start << power for power in range(count)]


def _axis(texts: Iterable[str], parse_value: ValueParser, what: str) -> list[int]:
    values: list[int] = []
    for part in _parts(texts):
        if ".." in part:
            values.extend(expand_range(part, parse_value, what=what))
        else:
            values.append(parse_value(part, what))
    return values


def _tokens(text: str, what: str) -> int:
    return parse_tokens(text, what=what)


def _count(text: str, what: str) -> int:
    return parse_count(text, what=what)


def _unique(values: Iterable[SeqValue]) -> tuple[SeqValue, ...]:
    return tuple(dict.fromkeys(values))


def parse_seqs(texts: Iterable[str], *, what: str = "--seq") -> tuple[SeqValue, ...]:
    """Token counts from `8k,32k`, `1k..128k`, `1k..8k:1k` and `max`, in order, without repeats."""
    parts = _parts(texts)
    if not parts:
        raise InputError(f"{what} is empty; give e.g. 8k,32k or 1k..128k")
    values: list[SeqValue] = []
    for part in parts:
        if part.lower() == "max":
            values.append("max")
        else:
            values.extend(_axis([part], _tokens, what))
    return _unique(values)


def parse_batches(texts: Iterable[str], *, what: str = "--batch") -> tuple[int, ...]:
    """Batch sizes from `1,8,32`, `1..64` (doubling) or `8..64:8`, in order, without repeats."""
    values = _axis(texts, _count, what)
    if not values:
        raise InputError(f"{what} is empty; give e.g. 1,8,32 or 1..64")
    return tuple(dict.fromkeys(values))


def check_grid_size(
    models: int, dtypes: int, seqs: int, batches: int = 1, *, table: str | None = None,
    batch_estimated: bool = False,
) -> None:  # fmt: skip
    """Refuse a grid too big to compute or print promptly, before any model is loaded.

    `table` is "compare" or "sweep" when the output is a table, None for CSV or JSON;
    `batch_estimated` when each batch is its own estimate (engines that round per batch).
    """
    points = models * dtypes * seqs
    estimates = points * batches if batch_estimated else points
    if estimates > MAX_ESTIMATES:
        batch_text = f" x {batches:,} batches" if batch_estimated else ""
        raise InputError(
            f"{models:,} models x {dtypes:,} dtypes x {seqs:,} lengths{batch_text} make "
            f"{estimates:,} estimates, over the {MAX_ESTIMATES:,} kvcalc computes at once; "
            "narrow --seq"
        )
    if points * batches > MAX_ROWS:
        raise InputError(
            f"the sweep would print {points * batches:,} rows, over {MAX_ROWS:,}; "
            "narrow --seq or --batch, or run several sweeps"
        )
    if table == "compare" and seqs > MAX_TABLE_LENGTHS:
        raise InputError(
            f"a compare table shows at most {MAX_TABLE_LENGTHS} lengths, got {seqs:,}; "
            "use --format csv or json (or kvcalc sweep) for more"
        )
    if table == "sweep" and points * batches > MAX_TABLE_ROWS:
        raise InputError(
            f"a sweep table shows at most {MAX_TABLE_ROWS:,} rows, got {points * batches:,}; "
            "use --format csv (the default) or json for more"
        )


def parse_names(texts: Iterable[str], *, what: str) -> tuple[str, ...]:
    """Comma lists and repeats of names (dtypes, models), in order, without repeats."""
    names = _parts(texts)
    if not names:
        raise InputError(f"{what} is empty")
    return tuple(dict.fromkeys(names))
