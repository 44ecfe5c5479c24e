"""The only writers of kvcalc's talk on stderr: notes, errors and debug tracebacks, made safe."""

from __future__ import annotations

import sys

from kvcalc.render.safe_text import block, one_line


def say(message: object) -> None:
    """`kvcalc: …`, one line: what kvcalc did (`wrote kv.png`) or how it ended (`interrupted`)."""
    _write(f"kvcalc: {one_line(str(message))}\n")


def say_note(message: object) -> None:
    """`kvcalc: note: …`, one line, whatever the message holds."""
    _write(f"kvcalc: note: {one_line(str(message))}\n")


def say_error(message: object) -> None:
    """`kvcalc: error: …`, one line, whatever the message holds."""
    _write(f"kvcalc: error: {one_line(str(message))}\n")


def say_traceback(error: BaseException) -> None:
    """The traceback of `error` (KVCALC_DEBUG=1), redacted and escaped like every message."""
    import traceback

    _write(block("".join(traceback.format_exception(error))))


def say_block(text: str) -> None:
    """Text of several lines (a usage message), redacted and escaped, newlines kept."""
    _write(block(text))


def _write(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()
