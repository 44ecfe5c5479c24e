"""`kvcalc bench`: a NumPy decoder that measures its own KV cache (needs the `bench` extra)."""
