"""Every error kvcalc reports to a user, each carrying its exit code.

KvcalcError                     base; exit 1 unless a subclass says otherwise
├── InputError                  a bad option value: size, token count, dtype, batch
├── ConfigError                 a config.json kvcalc cannot read as a KV-cache layout
│   └── UnsupportedConfigError  a layout kvcalc knows it does not model
├── ModelNotFoundError          no preset, file or folder of that name
├── SourceUnavailableError      the hub could not give us the config (exit 3)
└── DoesNotFitError             a fit request that does not fit (exit 4)
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, part of the command-line contract."""

    OK = 0
    INVALID_INPUT = 1
    USAGE = 2
    SOURCE_UNAVAILABLE = 3
    DOES_NOT_FIT = 4
    INTERRUPTED = 130


class KvcalcError(Exception):
    """An error meant for the user: one line of text and an exit code."""

    exit_code: ExitCode = ExitCode.INVALID_INPUT


class InputError(KvcalcError):
    """An option value that is not a valid size, count or name."""


class ConfigError(KvcalcError):
    """A config.json whose KV-relevant fields are missing, null or contradictory."""


class UnsupportedConfigError(ConfigError):
    """A config whose layout kvcalc recognises but does not model."""


class ModelNotFoundError(KvcalcError):
    """A model reference that names no preset, file or folder."""


class SourceUnavailableError(KvcalcError):
    """The hub could not provide the config: not found, gated, offline, unreachable."""

    exit_code = ExitCode.SOURCE_UNAVAILABLE


class DoesNotFitError(KvcalcError):
    """The requested workload does not fit in the memory given."""

    exit_code = ExitCode.DOES_NOT_FIT
