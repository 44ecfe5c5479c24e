"""Typed, checked reading of raw config.json keys, remembering where each value came from."""

from __future__ import annotations

from collections.abc import Mapping

from kvcalc.errors import ConfigError

# Bounds far beyond any real model (the largest configs have ~200 layers, 128 heads, hidden
# sizes of ~50,000 and 10M-token contexts). A value past them is a typo or a hostile file, and
# reading it on would build per-layer lists of that length before any byte is counted.
MAX_COUNT = 1 << 20  # layers, heads, dims, state sizes: 1,048,576
MAX_TOKENS = 1 << 40  # windows, chunks and positions, in tokens: 1,099,511,627,776
_TOKEN_KEY_WORDS = ("window", "position", "chunk", "seq")


def count_limit(key: str) -> int:
    """The largest value kvcalc reads from `key`: token-valued keys get the larger bound."""
    return MAX_TOKENS if any(word in key for word in _TOKEN_KEY_WORDS) else MAX_COUNT


class ConfigReader:
    """Reads KV-relevant keys of one config mapping; every error names the key and model_type."""

    def __init__(
        self,
        raw: Mapping[str, object],
        model_type: str,
        prefix: str = "",
        provenance: list[tuple[str, str]] | None = None,
    ) -> None:
        self.raw = raw
        self.model_type = model_type
        self.prefix = prefix
        self.provenance: list[tuple[str, str]] = [] if provenance is None else provenance

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"model_type {self.model_type!r}: {message}")

    def key_name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def present(self, key: str) -> bool:
        """True if `key` is in the config with a non-null value."""
        return self.raw.get(key) is not None

    def first_key(self, keys: tuple[str, ...]) -> str | None:
        """The first of `keys` that the config contains at all (null included)."""
        return next((key for key in keys if key in self.raw), None)

    def record(self, what: str, source: str) -> None:
        self.provenance.append((what, source))

    def positive_int(
        self, what: str, *keys: str, default: int | None = None, default_source: str | None = None
    ) -> int:
        """The value of the first of `keys` present; `default` (recorded as such, with the
        config class it comes from when `default_source` names one) if none is."""
        key = self.first_key(keys)
        if key is None:
            if default is None:
                if len(keys) == 1:
                    raise self.error(f"{self.key_name(keys[0])} is missing ({what})")
                names = ", ".join(self.key_name(k) for k in keys)
                raise self.error(f"{what} is missing: none of {names} is in the config")
            origin = (
                f"of {default_source}" if default_source else f"for model_type {self.model_type!r}"
            )
            self.record(what, f"default {default} {origin}")
            return default
        value = self.as_positive_int(key, self.raw[key])
        self.record(what, self.key_name(key))
        return value

    def optional_positive_int(self, what: str, *keys: str) -> int | None:
        """Like `positive_int`, but an absent or null key gives None."""
        key = self.first_key(keys)
        if key is None or self.raw[key] is None:
            return None
        return self.positive_int(what, key)

    def peek_positive_int(self, key: str) -> int | None:
        """The checked value of `key` without recording it as read; None if absent or null."""
        value = self.raw.get(key)
        return None if value is None else self.as_positive_int(key, value)

    def as_positive_int(self, key: str, value: object) -> int:
        """`value` as a positive int within `count_limit(key)`; an integral float (8.0) is 8."""
        if value is None:
            raise self.error(f"{self.key_name(key)} is null")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{self.key_name(key)} must be an integer, got {_short(value)}")
        if isinstance(value, float) and not value.is_integer():
            raise self.error(f"{self.key_name(key)} must be an integer, got {value!r}")
        limit = count_limit(key)
        if value > limit:
            raise self.error(
                f"{self.key_name(key)} is {_short(value)}, over the {limit:,} kvcalc accepts "
                "(far beyond any real model)"
            )
        if value <= 0:
            raise self.error(f"{self.key_name(key)} must be positive, got {_short(value)}")
        return int(value)

    def flag(self, key: str, default: bool) -> bool:
        """A boolean key; absent or null gives `default`."""
        value = self.raw.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(f"{self.key_name(key)} must be true or false, got {value!r}")
        self.record(key, self.key_name(key))
        return value

    def string(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(f"{self.key_name(key)} must be a string, got {value!r}")
        return value

    def string_list(self, key: str) -> list[str] | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.error(f"{self.key_name(key)} must be a list of strings")
        return list(value)

    def nested(self, key: str) -> ConfigReader:
        """A reader over the object at `key` (e.g. `text_config`, `attn_config`)."""
        value = self.raw.get(key)
        if not isinstance(value, dict):
            raise self.error(f"{self.key_name(key)} must be an object")
        return ConfigReader(value, self.model_type, f"{self.prefix}{key}.", self.provenance)


def _short(value: object) -> str:
    """A config value for an error message, cut to one short line (a number may be huge)."""
    text = repr(value) if isinstance(value, str | float) else str(value)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text):,} characters)"
