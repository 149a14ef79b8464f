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
    """A seekable, read-only binary file over an object read by byte ranges — ``read_range(start,
    end)`` yields the bytes from ``start`` to ``end`` inclusive (S3 ``GetObject`` with ``Range``, or a
    file) — so that :mod:`zipfile` can verify a bundle where it is stored without copying it first.
    Wrap it in :class:`io.BufferedReader` (:func:`open_ranges`): each buffer fill is one range read."""

    def __init__(self, read_range, size):
        self._read_range = read_range
        self._size = size
        self._pos = 0

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

    def readinto(self, buffer):
        if self._pos >= self._size or not len(buffer):
            return 0
        end = min(self._size, self._pos + len(buffer)) - 1
        view, got = memoryview(buffer), 0
        for chunk in self._read_range(self._pos, end):
            take = min(len(chunk), len(view) - got)
            view[got : got + take] = chunk[:take]
            got += take
        self._pos += got
        return got


#: Bytes per range read while a stored bundle is verified (one storage call each).
READ_BUFFER = 4 * 1024 * 1024


def open_ranges(read_range, size, buffer_size=READ_BUFFER):
    """A buffered, seekable file over ``read_range`` (see :class:`RangeReader`)."""
    return io.BufferedReader(RangeReader(read_range, size), buffer_size=buffer_size)
