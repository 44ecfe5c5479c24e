"""Conformance suite: KV-cache bytes measured on real `transformers` caches."""
