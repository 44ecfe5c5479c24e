"""The Rich console for stdout: colour and box drawing only on a real terminal."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.box import Box
    from rich.console import Console


PIPE_WIDTH = 200  # a pipe has no width; don't cut data to Rich's 80-column default
# COLUMNS=0 makes Rich print nothing and a few columns squeeze cells to nothing: below this,
# the terminal wraps long lines instead of kvcalc losing data.
MIN_WIDTH = 60


def stdout_console() -> Console:
    """Rich decides colour (NO_COLOR, FORCE_COLOR, TTY) and width (COLUMNS, terminal size)."""
    from rich.console import Console

    # Under NO_COLOR Rich drops colours but keeps bold and italic; drop every escape.
    plain = {"color_system": None} if os.environ.get("NO_COLOR") else {}
    console = Console(highlight=False, **plain)  # type: ignore[arg-type]
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=PIPE_WIDTH, **plain)  # type: ignore[arg-type]
    elif console.width < MIN_WIDTH:
        console = Console(highlight=False, width=MIN_WIDTH, **plain)  # type: ignore[arg-type]
    return console


def table_box(console: Console) -> Box | None:
    """Rounded boxes in a terminal; plain aligned columns in a pipe or under NO_COLOR."""
    from rich import box

    if console.is_terminal and not os.environ.get("NO_COLOR"):
        return box.ROUNDED
    return None
