"""Typed, checked reading of raw config.json keys, remembering where each value came from."""

from __future__ import annotations

from collections.abc import Mapping

from kvcalc.errors import ConfigError


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

    def positive_int(self, what: str, *keys: str, default: int | None = None) -> int:
        """The value of the first of `keys` present; `default` (recorded as such) if none is."""
        key = self.first_key(keys)
        if key is None:
            if default is None:
                if len(keys) == 1:
                    raise self.error(f"{self.key_name(keys[0])} is missing ({what})")
                names = ", ".join(self.key_name(k) for k in keys)
                raise self.error(f"{what} is missing: none of {names} is in the config")
            self.record(what, f"default {default} for model_type {self.model_type!r}")
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

    def as_positive_int(self, key: str, value: object) -> int:
        if value is None:
            raise self.error(f"{self.key_name(key)} is null")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{self.key_name(key)} must be an integer, got {value!r}")
        if value <= 0:
            raise self.error(f"{self.key_name(key)} must be positive, got {value}")
        return value

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
