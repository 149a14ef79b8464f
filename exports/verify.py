"""Verifying an export bundle (a seekable zip): the signature of ``manifest.json`` and every file's
SHA-256 against it. Used by the tests and by whoever checks an export before relying on it."""

import base64
import hashlib
import io
import json
import zipfile
import zlib

from accounts import verify_bundle as v


class BundleInvalid(Exception):
    """The bundle does not verify; the message names what and where."""


def _sha256(archive, name):
    digest, size = hashlib.sha256(), 0
    try:
        with archive.open(name) as stream:
            while chunk := stream.read(256 * 1024):
                digest.update(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a damaged entry: its CRC or its deflate stream
        raise BundleInvalid(f"{name}: cannot be read from the zip ({exc})") from None
    return size, digest.hexdigest()


def verify_bundle(fileobj, trusted_fingerprints=None):
    """Verify the bundle in ``fileobj`` (a path or a seekable binary file); returns the manifest.

    The signature must verify with the public key in ``manifest.sig``, whose SHA-256 fingerprint
    must match the one stated there and, when given, be one of ``trusted_fingerprints``; each
    artifact's bytes and ``interactions.csv`` must have the manifest's size and SHA-256.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        archive = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile as exc:
        raise BundleInvalid(f"not a zip file: {exc}") from exc
    with archive:
        names = set(archive.namelist())
        for needed in ("manifest.json", "manifest.sig", "interactions.csv"):
            if needed not in names:
                raise BundleInvalid(f"{needed} is missing")
        manifest_bytes = archive.read("manifest.json")
        sig = json.loads(archive.read("manifest.sig"))
        key = load_pem_public_key(sig["public_key"].encode())
        fingerprint = v.fingerprint(key)
        if fingerprint != sig.get("key_fingerprint"):
            raise BundleInvalid("manifest.sig: the public key does not have the stated fingerprint")
        if trusted_fingerprints is not None and fingerprint not in trusted_fingerprints:
            raise BundleInvalid(f"manifest.sig: signed by key {fingerprint}, which is not trusted")
        try:
            key.verify(base64.b64decode(sig["signature"]), manifest_bytes)
        except InvalidSignature:
            raise BundleInvalid("manifest.sig: the signature of manifest.json does not verify") from None
        manifest = json.loads(manifest_bytes)
        _size, csv_sha = _sha256(archive, "interactions.csv")
        if csv_sha != manifest["files"]["interactions.csv"]["sha256"]:
            raise BundleInvalid("interactions.csv: SHA-256 differs from the manifest")
        for entry in manifest["artifacts"]:
            if entry["path"] not in names:
                raise BundleInvalid(f"{entry['path']}: listed in the manifest, missing from the zip")
            size, sha = _sha256(archive, entry["path"])
            if size != entry["size"] or sha != entry["sha256"]:
                raise BundleInvalid(f"{entry['path']}: size or SHA-256 differs from the manifest")
        return manifest


class RangeReader(io.RawIOBase):
    """A seekable, read-only binary file over a stored object read by byte ranges — ``read_range(start,
    end)`` yields the bytes from ``start`` to ``end`` inclusive (S3 ``GetObject`` with ``Range``, or a
    file) — so that :mod:`zipfile` can verify a bundle where it is stored, never whole in memory.

    A read opens one ranged read from the position to the end of the object and later reads go on
    with it while they are sequential (a short skip forward is read past); only a jump elsewhere
    opens another. zipfile reads the central directory at the end, then the members in the order
    they were written, so a whole verification costs a few storage calls, not one per buffer.
    """

    def __init__(self, read_range, size):
        self._read_range = read_range
        self._size = size
        self._pos = 0
        self._stream = None  # the ranged read under way, its position, and bytes of it not used yet
        self._stream_pos = 0
        self._pending = b""

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _next_chunk(self):
        try:
            return next(self._stream)
        except StopIteration:
            return b""

    def _follow(self):
        """Make the ranged read under way stand at the position (open one when it cannot)."""
        gap = self._pos - self._stream_pos
        if self._stream is not None and 0 <= gap <= SKIP_LIMIT:
            while gap > 0:
                if not self._pending:
                    self._pending = self._next_chunk()
                    if not self._pending:
                        break
                skipped = min(gap, len(self._pending))
                self._pending = self._pending[skipped:]
                self._stream_pos += skipped
                gap -= skipped
            if gap == 0:
                return
        self._drop()
        self._stream = iter(self._read_range(self._pos, self._size - 1))
        self._stream_pos, self._pending = self._pos, b""

    def _drop(self):
        if self._stream is not None:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()
        self._stream, self._pending = None, b""

    def readinto(self, buffer):
        if self._pos >= self._size or not len(buffer):
            return 0
        self._follow()
        if not self._pending:
            self._pending = self._next_chunk()
        take = min(len(buffer), len(self._pending), self._size - self._pos)
        memoryview(buffer)[:take] = self._pending[:take]
        self._pending = self._pending[take:]
        self._pos += take
        self._stream_pos += take
        return take

    def close(self):
        self._drop()
        super().close()


#: A forward skip up to this many bytes reads past them on the ranged read under way.
SKIP_LIMIT = 1024 * 1024
#: Bytes zipfile's reads are buffered by while a stored bundle is verified.
READ_BUFFER = 1024 * 1024


def open_ranges(read_range, size, buffer_size=READ_BUFFER):
    """A buffered, seekable file over ``read_range`` (see :class:`RangeReader`)."""
    return io.BufferedReader(RangeReader(read_range, size), buffer_size=buffer_size)
