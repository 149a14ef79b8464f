"""Write-only, non-seekable file objects that put an export bundle into the *exports* storage (or a
customer's bucket) as it is written: on S3 a multipart upload (one part buffered in memory at a
time), on the file system the file itself. Either is aborted on failure, so no half-written bundle stays behind."""

import hashlib
import os

from django.conf import settings

from artifacts.storage import StorageError, calls


class HashingSink:
    """Counts and hashes (SHA-256) the bytes written through it to ``target``; no ``tell``/``seek``,
    so :mod:`zipfile` writes with data descriptors (a stream)."""

    def __init__(self, target):
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.sha256.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def flush(self):
        flush = getattr(self.target, "flush", None)
        if flush is not None:
            flush()


class S3MultipartWriter:
    """``write()`` into an S3 multipart upload of ``key`` in ``bucket`` through the boto3 ``client``:
    the exports storage's (:meth:`for_storage`) or a customer's own bucket (:mod:`exports.push`).

    Parts of ``part_bytes`` (``EXPORT_PART_BYTES``) are sent as they fill, each by a background
    thread while the next one fills (reading the artifacts and uploading overlap; at most one part
    in flight and one filling, so memory stays two parts whatever the size); a bundle smaller than
    one part is sent with one ``PutObject``. :meth:`close` completes the upload and returns the
    object's version ("" when unversioned); :meth:`abort` discards everything sent.
    """

    def __init__(self, client, bucket, key, content_type="application/zip", part_bytes=None):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.content_type = content_type
        self.part_bytes = part_bytes or settings.EXPORT_PART_BYTES
        self.pending, self.pending_bytes = [], 0
        self.upload_id = None
        self.parts = []
        self._uploader = None
        self._in_flight = None

    @classmethod
    def for_storage(cls, storage, key, **options):
        """A writer of ``key`` in ``storage`` (an ArtifactStorage on S3: its client, bucket and prefix)."""
        return cls(storage._client, storage.bucket, storage._s3_key(key), **options)

    def write(self, data):
        # Chunks are kept as they come and joined once per part (no growing buffer copied per write).
        self.pending.append(bytes(data))
        self.pending_bytes += len(data)
        if self.pending_bytes >= self.part_bytes:
            joined = b"".join(self.pending)
            cut = len(joined) - len(joined) % self.part_bytes
            for start in range(0, cut, self.part_bytes):
                self._send(joined[start : start + self.part_bytes])
            rest = joined[cut:]
            self.pending, self.pending_bytes = ([rest] if rest else []), len(rest)
        return len(data)

    @property
    def buffered(self):
        """Bytes written and not yet sent (less than one part)."""
        return self.pending_bytes

    def flush(self):
        pass

    def _send(self, part):
        from concurrent.futures import ThreadPoolExecutor

        if self.upload_id is None:
            calls["write"] += 1
            created = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type
            )
            self.upload_id = created["UploadId"]
            self._uploader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-upload")
        self._settle()  # the previous part is up (or its failure raised) before the next one goes
        calls["write"] += 1
        number = len(self.parts) + 1
        self._in_flight = (
            number,
            self._uploader.submit(
                self.client.upload_part,
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=part,
            ),
        )

    def _settle(self):
        """Wait for the part in flight; record its ETag (raises its upload's failure)."""
        if self._in_flight is not None:
            number, future = self._in_flight
            self._in_flight = None
            self.parts.append({"ETag": future.result()["ETag"], "PartNumber": number})

    def _stop(self):
        if self._uploader is not None:
            self._uploader.shutdown(wait=True)
            self._uploader = None

    def close(self):
        """Finish the object; returns its version id ("" when the bucket is unversioned)."""
        calls["write"] += 1
        if self.upload_id is None:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=b"".join(self.pending), ContentType=self.content_type
            )
        else:
            if self.pending_bytes:
                self._send(b"".join(self.pending))
            self._settle()
            self._stop()
            answer = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
            )
        self.pending, self.pending_bytes = [], 0
        version = answer.get("VersionId") or ""
        return "" if version == "null" else version

    def abort(self):
        """Discard the parts sent (best effort: the caller is already failing)."""
        self.pending, self.pending_bytes = [], 0
        self._in_flight = None
        self._stop()  # waits for a part in flight: its upload would otherwise outlive the abort
        if self.upload_id is not None:
            calls["delete"] += 1
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            except Exception as exc:
                raise StorageError(f"Could not abort the upload of {self.key}: {exc}") from exc


class FileWriter:
    """``write()`` into the file of ``key`` in a file-system storage; :meth:`abort` removes it."""

    def __init__(self, storage, key):
        self.path = storage.backend.path(key)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        calls["write"] += 1
        self.file = open(self.path, "wb")  # noqa: SIM115 - closed by close() / abort()

    def write(self, data):
        return self.file.write(data)

    def flush(self):
        self.file.flush()

    def close(self):
        self.file.close()
        return ""

    def abort(self):
        self.file.close()
        if os.path.exists(self.path):
            os.remove(self.path)


def open_writer(storage, key):
    """A writer of ``key`` in ``storage`` (S3 multipart or a file)."""
    return S3MultipartWriter.for_storage(storage, key) if storage.is_s3 else FileWriter(storage, key)
