"""Text kvcalc shows a person: secrets redacted, control characters escaped, long values cut.

Everything written to stderr goes through `one_line` (or `block` for a traceback), and every
config or path value a table echoes through `table_value`, so a config, a path, a hub answer or
an exception message can neither leak a token nor drive the terminal.
"""

from __future__ import annotations

import os
import re

LINE_MAX_CHARS = 2000  # one stderr line; a 3.5 MB config value must not become one
VALUE_MAX_CHARS = 300  # one value in a table
_SECRET_MIN_CHARS = 4  # shorter "secrets" would blank ordinary words

# Tokens and credentials by their look: Hub user and org tokens, bearer headers, `token=` in a
# query or header dump, and the user:password@ of a URL. Compiled on first use (`re.sub`
# caches them): a run with nothing to say on stderr does not pay for them at start-up.
_LOOKS_SECRET = [
    (r"\b(hf|api_org)_[A-Za-z0-9]{10,}", r"\1_***"),
    (r"(?i)\b(bearer)\s+[^\s'\",;]+", r"\1 ***"),
    (r"(?i)\b(access_token|token|password|passwd|secret)=[^\s&'\",;]+", r"\1=***"),
    (r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@", r"\1***@"),
]
# C0 and C1 controls, DEL, line/paragraph separators and the bidirectional overrides.
_CONTROL = "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")

_secrets: set[str] = set()


def add_secret(value: str | None) -> None:
    """Never show `value` (a token given on the command line), nor its stripped form."""
    for form in (value, (value or "").strip()):
        if form and len(form) >= _SECRET_MIN_CHARS:
            _secrets.add(form)


def redact(text: str) -> str:
    """`text` without any known token, nor anything that looks like a token or credentials."""
    known = set(_secrets)
    for name in _TOKEN_VARIABLES:
        value = os.environ.get(name, "")
        for form in (value, value.strip()):
            if len(form) >= _SECRET_MIN_CHARS:
                known.add(form)
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, "***")
        escaped = escape_controls(secret)
        if escaped != secret:
            text = text.replace(escaped, "***")
    for pattern, replacement in _LOOKS_SECRET:
        text = re.sub(pattern, replacement, text)
    return text


def escape_controls(text: str, keep: str = "") -> str:
    """Control characters as visible escapes (`\\n`, `\\x1b`, `\\u202e`); those in `keep` stay."""

    def visible(match: re.Match[str]) -> str:
        char = match.group()
        if char in keep:
            return char
        if char in _NAMED:
            return _NAMED[char]
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return re.sub(_CONTROL, visible, text)


def truncate(text: str, limit: int) -> str:
    """`text`, cut to about `limit` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def one_line(text: str, limit: int = LINE_MAX_CHARS) -> str:
    """One line that is safe on a terminal: redacted, escaped, at most about `limit` chars."""
    return truncate(escape_controls(redact(text)), limit)


def block(text: str) -> str:
    """Several lines (a traceback): redacted and escaped, but its newlines kept."""
    lines = escape_controls(redact(text), keep="\n").split("\n")
    return "\n".join(truncate(line, LINE_MAX_CHARS) for line in lines)


def table_value(value: object, limit: int = VALUE_MAX_CHARS) -> str:
    """A value echoed in a Rich table: one safe line with Rich markup escaped."""
    from rich.markup import escape

    return escape(one_line(str(value), limit))
