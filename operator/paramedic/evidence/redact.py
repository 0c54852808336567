"""Secrets out, sizes bounded: applied to every text before it is stored or sent.

Patterns are RE2 (``google-re2``): linear time whatever the text, so a
pattern (the defaults, or an admin's ``--evidence-redact``) cannot stall a
thread on a pathological log line, and tenant filters use the same engine.
Redaction runs before clipping, and clipping keeps whole text on the right
side of the cut, so a secret is never half-redacted by a cut.
"""

from __future__ import annotations

from collections.abc import Iterable

import re2

MASK = "[REDACTED]"

#: (pattern, replacement) applied in order. The key=value rule keeps the key, so the reader sees what was hidden.
DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    # PEM private key blocks, whole; a block cut short by a tail keeps nothing after its BEGIN.
    (r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)-----END [A-Z0-9 ]*PRIVATE KEY-----", "[REDACTED PRIVATE KEY]"),
    (r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*)", "[REDACTED PRIVATE KEY]"),
    # Long base64 lines (the body of a key block whose BEGIN was cut off, a certificate, a blob).
    (r"(?m)^[A-Za-z0-9+/]{40,}={0,2}$", MASK),
    # Authorization headers and bearer tokens.
    (r"(?i)(authorization\s*[:=]\s*)(?:bearer|basic|token)?\s*[^\s\"',;]+", r"\1" + MASK),
    (r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+", r"\1" + MASK),
    # Credentials in URLs: scheme://user:password@host.
    (r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@", r"\1" + MASK + "@"),
    # AWS access key ids; secret keys named as such.
    (r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b", MASK),
    # JSON Web Tokens, GitHub and Slack tokens.
    (r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", MASK),
    (r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|xox[abposr]-[A-Za-z0-9-]{10,})", MASK),
    # key=value, key: value, "key": "value" where the key names a secret.
    (
        r"(?i)([A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
        r"|credential|auth)[A-Za-z0-9_.-]*[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+",
        r"\1" + MASK,
    ),
)

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 8 << 20


def compile_pattern(pattern: str) -> re2._Regexp[str]:
    """An RE2 pattern (raises re2.error when invalid or beyond RE2's memory bound)."""
    return re2.compile(pattern, options=_OPTIONS)


class Redactor:
    """The default rules plus the admin's extra patterns (each match replaced by the mask)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.rules = [(compile_pattern(p), r) for p, r in DEFAULT_RULES]
        self.rules += [(compile_pattern(p), MASK) for p in extra]

    def __call__(self, text: str) -> str:
        for pattern, replacement in self.rules:
            text = pattern.sub(replacement, text)
        return text


def clip(text: str, limit: int, *, keep: str = "tail") -> tuple[str, bool]:
    """``text`` within ``limit`` bytes of UTF-8, and whether it was cut. ``keep``: "tail" keeps the latest
    (logs), "head" the start (a body). A cut is made at a line end when one is near, then at a character."""
    data = text.encode()
    if len(data) <= limit:
        return text, False
    if limit <= 0:
        return "", True
    if keep == "tail":
        part = data[len(data) - limit :]
        newline = part.find(b"\n")
        if 0 <= newline < len(part) // 2:
            part = part[newline + 1 :]
        return part.decode(errors="ignore"), True
    part = data[:limit]
    newline = part.rfind(b"\n")
    if newline >= len(part) // 2:
        part = part[:newline]
    return part.decode(errors="ignore"), True
