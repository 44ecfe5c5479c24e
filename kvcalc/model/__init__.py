"""The model: its KV-relevant architecture, the config dialects that read it, and dtypes."""
