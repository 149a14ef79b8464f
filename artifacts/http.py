"""HTTP byte ranges (RFC 9110 §14) for streamed artifact responses."""

import re

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes the object does not have."""


def parse_range(header, size):
    """Parse a single-range ``Range`` header against an object of ``size`` bytes.

    Returns ``(start, end)`` inclusive, or ``None`` for no / unsupported ranges (the caller then
    sends the whole object with 200, as the RFC allows). Raises :class:`RangeNotSatisfiable`.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match:
        return None  # multiple ranges or another unit: serve the whole object
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable
    return start, min(end, size - 1)
