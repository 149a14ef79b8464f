"""HTTP byte ranges (RFC 9110 §14) and the one streamed response for artifact bytes."""

import itertools
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


#: Headers every content response carries: content from outside must never run in our origin.
CONTENT_SECURITY_POLICY = "sandbox; default-src 'none'; media-src 'self'"


def content_response(artifact, range_header, *, attachment, record=None, method="GET"):
    """The streamed answer for an artifact's bytes: 200, 206 for a satisfiable ``Range``, or 416.

    The object is opened and its first chunk taken before ``record(byte_range)`` is called (the
    audit of the read) and before any header is sent, so a missing object or an unreachable storage
    raises :class:`~artifacts.storage.StorageError` (:class:`~artifacts.storage.ObjectMissing` when
    the bytes are gone) with nothing recorded: only bytes that came from storage count as a read.
    HEAD reads and records nothing. Served with a sandboxing Content-Security-Policy and the SHA-256
    as ``ETag``; one implementation for the pages, the API and signed download URLs.
    """
    from django.http import HttpResponse, StreamingHttpResponse
    from django.utils.http import content_disposition_header

    from .storage import storage_of

    try:
        byte_range = parse_range(range_header, artifact.size)
    except RangeNotSatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{artifact.size}"
        return response
    start, end = byte_range or (0, artifact.size - 1)
    chunks = storage_of(artifact).iter_bytes(
        artifact.storage_key, start, end if byte_range else None, version=artifact.storage_version
    )
    if method == "GET":
        first = next(chunks, b"")
        try:
            if record is not None:
                record(byte_range)
        except BaseException:
            chunks.close()  # the object is open: release it (file handle, S3 connection)
            raise
        chunks = itertools.chain([first], chunks)
    response = StreamingHttpResponse(chunks, content_type=artifact.content_type, status=206 if byte_range else 200)
    response["Content-Length"] = str(max(end - start + 1, 0))
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{artifact.size}"
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition_header(attachment, artifact.filename)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Cache-Control"] = "private, no-store"
    response["ETag"] = f'"{artifact.sha256}"'
    return response
