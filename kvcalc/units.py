"""Token counts in and byte sizes out: parsing and labelled formatting."""

from __future__ import annotations

import re

from kvcalc.errors import InputError

GIB = 1024**3
GB = 1000**3
# Token counts and batch sizes past this are typos, not workloads; refusing them keeps every
# total well inside a float for the GiB/GB columns (and int() away from 4,300-digit strings).
MAX_COUNT = 1 << 40  # 1,099,511,627,776

_SUFFIX = {"": 1, "k": 1024, "m": 1024**2}
# ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
# Both cases spelled out: re.IGNORECASE costs half a millisecond of start-up to compile.
_TOKENS = re.compile(r"(?P<number>[0-9]{1,20})(?P<suffix>[kKmM]?)")
_COUNT = re.compile(r"[0-9]{1,20}")


def shown(text: str) -> str:
    """User input quoted for an error message, cut short: it may be thousands of characters."""
    return repr(text) if len(text) <= 40 else f"{text[:30]!r}… ({len(text):,} characters)"


def _within_limit(value: int, text: str, what: str) -> int:
    if value > MAX_COUNT:
        raise InputError(f"{what} {shown(text)} is over {MAX_COUNT:,}, the most kvcalc accepts")
    return value


def parse_tokens(text: str, *, what: str = "--seq") -> int:
    """A positive token count: `8192`, `8k` (8,192), `128k` (131,072), `1m` (1,048,576).

    k and m are binary, as in "128K context". `max` is resolved by the caller.
    """
    match = _TOKENS.fullmatch(text.strip().replace("_", ""))
    if match is None:
        raise InputError(
            f"{what} {shown(text)} is not a token count; use e.g. 8192, 8k, 128k, 1m or max"
        )
    value = int(match["number"]) * _SUFFIX[match["suffix"].lower()]
    if value <= 0:
        raise InputError(f"{what} must be at least 1, got {shown(text)}")
    return _within_limit(value, text, what)


def parse_count(text: str, *, what: str) -> int:
    """A positive integer count such as a batch size, at most MAX_COUNT."""
    cleaned = text.strip().replace("_", "")
    if not _COUNT.fullmatch(cleaned) or int(cleaned) <= 0:
        raise InputError(f"{what} must be a positive integer, got {shown(text)}")
    return _within_limit(int(cleaned), text, what)


def format_bytes(size: int) -> str:
    """`1,073,741,824 B`."""
    return f"{size:,} B"


def format_gib(size: int) -> str:
    """Binary gibibytes, two decimals: `1.00 GiB`."""
    return f"{size / GIB:,.2f} GiB"


def format_gb(size: int) -> str:
    """Decimal gigabytes, two decimals: `1.07 GB`."""
    return f"{size / GB:,.2f} GB"


def format_mib(size: int) -> str:
    """Binary mebibytes, two decimals: `128.00 MiB`."""
    return f"{size / 1024**2:,.2f} MiB"


def format_mb(size: int) -> str:
    """Decimal megabytes, two decimals: `134.22 MB`."""
    return f"{size / 1000**2:,.2f} MB"


def format_size(size: int) -> str:
    """Binary and decimal units side by side, GiB/GB from 1 GiB up, else MiB/MB."""
    if size >= GIB:
        return f"{format_gib(size)} · {format_gb(size)}"
    return f"{format_mib(size)} · {format_mb(size)}"
