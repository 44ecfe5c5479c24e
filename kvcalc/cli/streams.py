"""stdout and stderr made safe to write: any encoding, a closed stdout, a full disk, Ctrl-C."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sys
from collections.abc import Iterator
from typing import NoReturn, TextIO

from kvcalc.errors import ExitCode

SIGPIPE_EXIT = 141  # what a shell reports for a writer killed by SIGPIPE, as `| head` does


class OutputError(Exception):
    """stdout refused what kvcalc wrote: its reader has gone, or its disk is full.

    Not an OSError on purpose: Click and Rich each turn a broken pipe into exit 1 on their own.
    """

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _GuardedStdout:
    """sys.stdout, whose write and flush failures become OutputError; the rest is delegated."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as error:
            raise OutputError(error) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as error:
            raise OutputError(error) from None

    def __getattr__(self, name: str) -> object:
        return getattr(self.stream, name)


@contextlib.contextmanager
def guarded_streams() -> Iterator[None]:
    """For one run of the command line: see `_open_closed_stdout` and `_tolerant_encoding`;
    every failure to write stdout is an OutputError."""
    saved = sys.stdout
    stdout = sys.stdout if sys.stdout is not None else _open_closed_stdout()
    for stream in (stdout, sys.stderr):
        _tolerant_encoding(stream)
    sys.stdout = _GuardedStdout(stdout)
    try:
        yield
    finally:
        sys.stdout = saved if saved is not None else stdout


def _open_closed_stdout() -> TextIO:
    """A closed stdout (`kvcalc … >&-`) becomes a pipe nobody reads: writing to it fails with
    the same EPIPE as `| head` gives, instead of output silently going nowhere."""
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    for end in {read_end, write_end} - {1}:
        os.close(end)
    return open(1, "w", encoding="utf-8", closefd=False)


def _tolerant_encoding(stream: TextIO | None) -> None:
    """A character the encoding lacks (PYTHONIOENCODING=ascii, a surrogate from a file name)
    becomes `?` instead of an exception; numbers are ASCII and never affected."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="replace")


def output_failed(error: OutputError) -> NoReturn:
    """A closed pipe ends quietly with 141 (as `| head` expects); a full disk or /dev/full is
    one error line and exit 1."""
    with contextlib.suppress(OSError):  # so that Python's flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    if error.error.errno == errno.EPIPE:
        sys.exit(SIGPIPE_EXIT)
    from kvcalc.cli.messages import say_error

    say_error(f"cannot write the output: {error.error.strerror or error.error}")
    sys.exit(ExitCode.INVALID_INPUT)


def restore_interrupt() -> None:
    """From here on Ctrl-C is a KeyboardInterrupt, which main() turns into the same line."""
    from kvcalc.cli import interrupted_while_starting

    if signal.getsignal(signal.SIGINT) is interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)
