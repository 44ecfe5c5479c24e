"""Renderers: one module per output format, imported only when chosen."""
