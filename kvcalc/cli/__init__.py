"""The command line: a thin Typer layer over kvcalc.planning and kvcalc.render."""
