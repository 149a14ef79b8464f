"""HTTP byte ranges (RFC 9110 §14) for streamed artifact responses."""

import re

# ASCII digits only (``\d`` would take any script's digits); the unit is case-insensitive (§14.1).
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)
#: Longer numbers than this are beyond any object's size; Python refuses ``int()`` of over 4,300
#: digits (a ``ValueError``, once a 500), so such numbers are never converted.
_MAX_DIGITS = 19


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes the object does not have."""


def _number(digits):
    """The value of a run of ASCII digits, or ``10**19`` (more than any size) when longer than that."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def parse_range(header, size):
    """Parse a single-range ``Range`` header against an object of ``size`` bytes.

    Returns ``(start, end)`` inclusive, or ``None`` for no / unsupported ranges (the caller then
    sends the whole object with 200, as the RFC allows). Raises :class:`RangeNotSatisfiable`.
    Any text is accepted: numbers of any length, other units, garbage.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if not match:
        return None  # multiple ranges or another unit: serve the whole object
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        length = _number(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - length, 0), size - 1
    start = _number(first)
    end = _number(last) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable
    return start, min(end, size - 1)
