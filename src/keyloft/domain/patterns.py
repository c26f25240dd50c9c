"""Resource and area patterns: RE2 syntax, linear-time matching, full match only.

Python's ``re`` has no timeout, so a user-supplied pattern is only ever compiled with RE2,
whose automaton matches in time linear in the input: ``(a+)+$`` cannot hang a worker.
"""

from __future__ import annotations

from functools import lru_cache

import re2

from keyloft.domain.errors import ValidationFailed

MAX_PATTERNS = 20
MAX_PATTERN_LENGTH = 512
_MAX_PROGRAM_MEMORY = 1 << 20


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_PROGRAM_MEMORY
    return options


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> re2._Regexp:
    """Compile ``pattern`` with RE2; raises ``re2.error`` when it is not valid RE2 syntax."""
    return re2.compile(pattern, _options())


def full_match(pattern: str, text: str) -> bool:
    return compile_pattern(pattern).fullmatch(text) is not None


def validate_patterns(patterns: object, field: str) -> tuple[str, ...]:
    """Check a list of resource patterns; returns them as a tuple or raises naming ``field``."""
    if not isinstance(patterns, list | tuple):
        raise ValidationFailed(f"{field} must be a list of patterns.", field=field)
    if len(patterns) > MAX_PATTERNS:
        raise ValidationFailed(f"{field} allows at most {MAX_PATTERNS} patterns.", field=field)
    seen: set[str] = set()
    for index, pattern in enumerate(patterns):
        where = f"{field}[{index}]"
        if not isinstance(pattern, str) or not pattern:
            raise ValidationFailed(f"{where} must be a non-empty string.", field=where)
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise ValidationFailed(
                f"{where} is longer than {MAX_PATTERN_LENGTH} characters.", field=where
            )
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in pattern):
            raise ValidationFailed(f"{where} contains control characters.", field=where)
        if pattern in seen:
            raise ValidationFailed(f"{where} repeats an earlier pattern.", field=where)
        try:
            compile_pattern(pattern)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise ValidationFailed(
                f"{where} is not a valid RE2 pattern: {reason}.", field=where
            ) from None
        seen.add(pattern)
    return tuple(patterns)
