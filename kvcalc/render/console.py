"""The Rich console for stdout: colour and box drawing only on a real terminal."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.box import Box
    from rich.console import Console


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def table_box(console: Console) -> Box | None:
    """Rounded boxes in a terminal; plain aligned columns in a pipe or under NO_COLOR."""
    from rich import box

    if console.is_terminal and not os.environ.get("NO_COLOR"):
        return box.ROUNDED
    return None
