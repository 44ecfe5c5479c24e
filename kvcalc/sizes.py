"""Memory sizes in: `80GiB`, `80GB`, `24 GiB`, `1.5TB` or plain bytes, as exact integers."""

from __future__ import annotations

import re
from fractions import Fraction

from kvcalc.errors import InputError
from kvcalc.units import shown

# Binary units are powers of 1024 (how GPUs report memory), decimal ones powers of 1000
# (how GPUs are sold): an "80GB" H100 holds 80 GiB, so both must be accepted and kept apart.
UNIT_BYTES = {
    "": 1, "b": 1,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
}  # fmt: skip

# ASCII digits, at most 30 of them with the decimals: no GPU holds 10^30 bytes, and a
# thousands-digit number would only be slow to refuse.
_SIZE = re.compile(
    r"(?P<number>[0-9]{1,30}(?:\.[0-9]{1,30})?|\.[0-9]{1,30})\s*(?P<unit>[a-z]{0,3})",
    re.IGNORECASE,
)
MAX_SIZE_BYTES = 1 << 70  # 1 ZiB: far past any memory there is


def parse_size(text: str, *, what: str = "size") -> int:
    """Bytes in `text`: a number and an optional unit (B, KiB…TiB, KB…TB; any case).

    The result is exact; a fraction that does not come to whole bytes is refused.
    """
    match = _SIZE.fullmatch(text.strip().replace("_", ""))
    unit = match["unit"].lower() if match else ""
    if match is None or unit not in UNIT_BYTES:
        raise InputError(
            f"{what} {shown(text)} is not a size; use e.g. 80GiB, 80GB, 24GiB, 512MiB or a "
            "byte count"
        )
    size = Fraction(match["number"]) * UNIT_BYTES[unit]
    if size.denominator != 1:
        raise InputError(f"{what} {shown(text)} is not a whole number of bytes")
    if size <= 0:
        raise InputError(f"{what} must be more than 0 bytes, got {shown(text)}")
    if size > MAX_SIZE_BYTES:
        raise InputError(f"{what} {shown(text)} is over 1 ZiB ({MAX_SIZE_BYTES:,} bytes)")
    return int(size)
