"""The command line: a thin Typer layer over kvcalc.planning and kvcalc.render."""

import contextlib
import os
import signal


def interrupted_while_starting(signum: int, frame: object) -> None:
    """Ctrl-C while the command line is still importing: no traceback, the usual line and 130."""
    os.write(2, b"kvcalc: interrupted\n")
    os._exit(130)


# Ctrl-C during the imports that follow (Typer, the library) would print a traceback: until
# main() takes over (kvcalc.cli.streams.restore_interrupt), it ends the process quietly. Only
# in the main thread (ValueError elsewhere) of a process that kept Python's own handler.
if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, interrupted_while_starting)
