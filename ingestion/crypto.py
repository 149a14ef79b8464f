"""Twilio Voice Recording Encryption, decrypted as the recording streams in.

Twilio encrypts each recording with a fresh 256-bit content encryption key (CEK) in AES-GCM and
wraps the CEK with the account's RSA public key; the recording's ``encryption_details`` carry the
wrapped key (``encrypted_cek``, base64) and the ``iv`` (base64, 12 bytes), and the media is the
ciphertext followed by the 16-byte GCM tag. :func:`unwrap_cek` recovers the CEK with the
connection's private key (RSAES-OAEP, SHA-256, MGF1-SHA-256); :class:`DecryptingReader` decrypts
chunk by chunk (memory stays flat in the recording's size) and verifies the tag at the end: a
recording whose tag does not verify raises :class:`RecordingIntegrityError` from its last read, so
the storage write fails and nothing is kept.
"""

import base64
import binascii

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

TAG_SIZE = 16
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class RecordingIntegrityError(Exception):
    """An encrypted recording that cannot be decrypted or whose GCM tag does not verify."""


def unwrap_cek(private_key, encryption_details):
    """``(cek, iv)`` of a recording from its ``encryption_details`` and the RSA private key."""
    try:
        wrapped = base64.b64decode(encryption_details["encrypted_cek"], validate=True)
        iv = base64.b64decode(encryption_details["iv"], validate=True)
    except (KeyError, TypeError, binascii.Error):
        raise RecordingIntegrityError("its encryption details lack a readable encrypted_cek and iv") from None
    try:
        cek = private_key.decrypt(wrapped, OAEP)
    except ValueError:
        raise RecordingIntegrityError(
            "its content key cannot be unwrapped with the connection's private key (another public key "
            f"was used: {encryption_details.get('public_key_sid') or 'unknown'})"
        ) from None
    if len(cek) != 32 or len(iv) < 12:
        raise RecordingIntegrityError("its content key is not an AES-256 key, or its IV is too short")
    return cek, iv


class DecryptingReader:
    """A read-only file object over ``chunks`` (the encrypted media, any chunk sizes) that returns
    the plaintext; the last 16 bytes of the media are the tag, verified when the media ends."""

    def __init__(self, chunks, cek, iv):
        self._chunks = iter(chunks)
        self._decryptor = Cipher(algorithms.AES(cek), modes.GCM(iv)).decryptor()
        self._tail = b""
        self._buffer = bytearray()
        self._finished = False
        self.encrypted_size = 0

    def _pull(self):
        chunk = next(self._chunks, None)
        if chunk is None:
            if len(self._tail) < TAG_SIZE:
                raise RecordingIntegrityError("the media is shorter than its GCM tag")
            try:
                self._buffer += self._decryptor.finalize_with_tag(self._tail)
            except InvalidTag:
                raise RecordingIntegrityError(
                    "its GCM tag does not verify: the media was altered or truncated"
                ) from None
            self._finished = True
            return
        if not chunk:
            return
        self.encrypted_size += len(chunk)
        if len(chunk) >= TAG_SIZE:
            # Everything but the last 16 bytes seen so far can be decrypted now; no copies of the chunk.
            if self._tail:
                self._buffer += self._decryptor.update(self._tail)
            self._buffer += self._decryptor.update(memoryview(chunk)[:-TAG_SIZE])
            self._tail = bytes(chunk[-TAG_SIZE:])
        else:
            joined = self._tail + bytes(chunk)
            body, self._tail = joined[:-TAG_SIZE], joined[-TAG_SIZE:]
            if body:
                self._buffer += self._decryptor.update(body)

    def read(self, n=-1):
        while not self._finished and (n is None or n < 0 or len(self._buffer) < n):
            self._pull()
        if n is None or n < 0 or n >= len(self._buffer):
            data, self._buffer = bytes(self._buffer), bytearray()
            return data
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data


class ChunkReader:
    """A read-only file object over an iterable of byte chunks (plain recordings)."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._finished = False

    def read(self, n=-1):
        while not self._finished and (n is None or n < 0 or len(self._buffer) < n):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._finished = True
            else:
                self._buffer += chunk
        if n is None or n < 0 or n >= len(self._buffer):
            data, self._buffer = bytes(self._buffer), bytearray()
            return data
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data
