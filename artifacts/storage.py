"""The storage service: the only code that touches artifact bytes.

Two named storages hold content: ``active`` and ``archive``, once per storage region (data
residency, ``STORAGE_REGIONS``; without it one region, ``default``: the ``STORAGES`` of the settings).
A tenant's content lives in its region's storages only: :func:`tenant_storage` / :func:`storage_of`
give the storage of a tenant's region, :func:`get_storage` that of a region by name. Each is the
local file system or an S3 bucket (django-storages + boto3); this module gives both the same behaviour:

- :meth:`ArtifactStorage.write` streams bytes in, computing SHA-256 and size while writing, under
  a tenant-prefixed, unguessable key (:func:`new_key`);
- :meth:`ArtifactStorage.iter_bytes` streams bytes out, optionally a byte range;
- :meth:`ArtifactStorage.delete_many` deletes in batches (S3: one ``DeleteObjects`` per ≤ 1,000
  keys, naming object versions so versioned buckets really lose the bytes);
- :func:`copy` copies between storages and verifies the SHA-256 of what landed;
- :func:`check_storages` (``/healthz``) and :func:`object_lock_problems` (the start-up check) say
  whether the storages of every region are usable and, with ``S3_OBJECT_LOCK``, whether each
  bucket can carry legal holds (versioning and Object Lock), naming the bucket and what it lacks.

``calls`` counts requests to the backend, so benchmarks can report storage calls per key.
"""

import contextlib
import hashlib
import os
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone
from storages.backends.s3 import S3Storage

from core.regions import IMPLICIT_REGION, default_region, region_names, s3_options

CHUNK_SIZE = 256 * 1024
S3_DELETE_BATCH = 1000
#: Seconds a check may wait for S3 (connect, then read), with one attempt: ``/healthz`` and the
#: start-up check must answer "unreachable" quickly, not after boto3's minute of retries.
CHECK_TIMEOUT = 3

#: Backend requests made, by operation ("write", "read", "delete", "head", "legal_hold", "bucket_config"):
#: for benchmarks, and for tests that a check asked S3 nothing.
calls = Counter()


def is_storage_failure(exc):
    """Whether ``exc`` is a storage's failure (ours, the file system's, or boto's), not a bug."""
    return getattr(exc, "is_storage_error", False) or isinstance(exc, OSError) or "botocore" in type(exc).__module__


class StorageError(Exception):
    """A storage operation failed (unreachable backend, refused delete, bad checksum ...)."""

    is_storage_error = True  # how the job runner tells storage failures (config.jobs.describe)


class ChecksumMismatch(StorageError):
    """Bytes read back from a storage do not have the SHA-256 they were written with."""


class ObjectMissing(StorageError):
    """The object (or the version) to read is not in the storage: its bytes are gone."""


#: S3 error codes that mean "no such object / version" rather than "could not ask".
_S3_MISSING = frozenset({"NoSuchKey", "NoSuchVersion", "NotFound", "404"})


def _read_error(exc, storage, key, version):
    """The :class:`StorageError` for a failed read of ``key``: :class:`ObjectMissing` when the
    storage says it has no such object, a plain :class:`StorageError` when it could not answer."""
    where = f"{key}{f' (version {version})' if version else ''} in storage {storage}"
    error = getattr(exc, "response", None) or {}
    code = str(error.get("Error", {}).get("Code", ""))
    # Only the object is missing: a missing bucket (NoSuchBucket, also a 404) is a storage problem.
    if isinstance(exc, FileNotFoundError) or code in _S3_MISSING:
        return ObjectMissing(f"{where} is missing ({code or type(exc).__name__}).")
    return StorageError(f"{where} could not be read: {exc}")


@dataclass(frozen=True)
class StoredObject:
    """What a write produced: where the bytes are and what they are."""

    key: str
    size: int
    sha256: str
    version: str = ""


@dataclass
class DeleteResult:
    """Outcome of a batched delete: keys gone, and keys the storage refused with its reason."""

    deleted: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)


def new_key(tenant_id, filename=""):
    """A fresh object key: tenant prefix, month, and 192 random bits; keeps the file's extension."""
    ext = os.path.splitext(filename)[1].lower()[:10]
    now = timezone.now()
    return f"t{tenant_id}/{now:%Y/%m}/{secrets.token_urlsafe(24)}{ext}"


class _HashingReader:
    """A read-only file object that hashes and counts what passes through it."""

    def __init__(self, stream):
        self._stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n=-1):
        data = self._stream.read(n)
        if isinstance(data, str):
            raise TypeError("Artifact content must be bytes.")
        self.sha256.update(data)
        self.size += len(data)
        return data

    closed = False

    def seekable(self):
        return False

    def close(self):
        pass


class ArtifactStorage:
    """One named storage (``active`` or ``archive``) of one storage region, file system or S3 alike."""

    def __init__(self, name, region=None):
        self.name = name
        self.region = region or default_region()
        self.backend = _backend(name, self.region)
        self.is_s3 = hasattr(self.backend, "bucket_name")

    @property
    def label(self):
        """``"active"``, or ``"active (region eu)"`` where the deployment configures regions."""
        return self.name if self.region == IMPLICIT_REGION else f"{self.name} (region {self.region})"

    # --- S3 helpers -------------------------------------------------------------------------
    @property
    def _client(self):
        return self.backend.connection.meta.client

    def _s3_key(self, key):
        return self.backend._normalize_name(key)

    def _probe_client(self, timeout):
        """A client like the storage's own (same credentials, endpoint and options) that gives up
        after ``timeout`` seconds and one attempt: for checks, which must not hang."""
        backend = self.backend
        config = backend.client_config.merge(
            Config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1})
        )
        return backend._create_session().client(
            "s3",
            region_name=backend.region_name,
            use_ssl=backend.use_ssl,
            endpoint_url=backend.endpoint_url,
            config=config,
            verify=backend.verify,
        )

    @property
    def bucket(self):
        """The S3 bucket's name; ``None`` on the file system."""
        return self.backend.bucket_name if self.is_s3 else None

    # --- operations --------------------------------------------------------------------------
    def check(self, timeout=CHECK_TIMEOUT):
        """Raise when the storage is not usable (bucket unreachable, folder not writable); else say
        what it is (``"s3"`` or ``"filesystem"``). For ``/healthz``; S3 is given ``timeout`` seconds."""
        if self.is_s3:
            calls["head"] += 1
            self._probe_client(timeout).head_bucket(Bucket=self.backend.bucket_name)
            return "s3"
        location = Path(self.backend.location)
        location.mkdir(parents=True, exist_ok=True)
        if not os.access(location, os.W_OK):
            raise StorageError(f"{location} is not writable")
        return "filesystem"

    def object_lock_problems(self, timeout=CHECK_TIMEOUT):
        """What the bucket lacks for S3 legal holds, in words: ``[]`` when versioning is enabled and
        Object Lock is configured, else ``"versioning is not enabled"`` and / or ``"Object Lock is
        not enabled"``. The file system has no holds and is not asked: ``[]``. Raises botocore's
        error when the bucket cannot be asked (unreachable, access denied)."""
        if not self.is_s3:
            return []
        client, problems = self._probe_client(timeout), []
        calls["bucket_config"] += 1
        if client.get_bucket_versioning(Bucket=self.bucket).get("Status") != "Enabled":
            problems.append("versioning is not enabled")
        calls["bucket_config"] += 1
        try:
            configuration = client.get_object_lock_configuration(Bucket=self.bucket)["ObjectLockConfiguration"]
        except ClientError as exc:
            # S3 answers "not found" for a bucket created without Object Lock: a finding, not a failure.
            if exc.response.get("Error", {}).get("Code") != "ObjectLockConfigurationNotFoundError":
                raise
            configuration = {}
        if configuration.get("ObjectLockEnabled") != "Enabled":
            problems.append("Object Lock is not enabled")
        return problems

    def write(self, key, stream, content_type="application/octet-stream"):
        """Store everything ``stream`` yields under ``key``; returns size, SHA-256 and version."""
        reader = _HashingReader(stream)
        content = File(reader, name=os.path.basename(key))
        content.content_type = content_type
        calls["write"] += 1
        try:
            saved = self.backend.save(key, content)
        except BaseException:
            # The stream failed part-way (a source that broke off, content that failed its
            # integrity check): nothing half-written stays behind under the key.
            with contextlib.suppress(Exception):
                self.backend.delete(key)
            raise
        if saved != key:
            raise StorageError(f"Storage {self.label} stored {key} as {saved}; keys must not collide.")
        version = self._settle_versions(key) if self.is_s3 else ""
        return StoredObject(key=key, size=reader.size, sha256=reader.sha256.hexdigest(), version=version)

    def _settle_versions(self, key):
        """The version id S3 keeps for ``key`` just written ("" when unversioned), and no other.

        An upload S3 stored but whose answer was lost is sent again by boto3: a versioned bucket
        then holds two versions of the key. Deleting the artifact deletes the version it records,
        so any other version of the key (unique to this artifact) would outlive the deletion: it is
        removed here, in the same listing call that names the latest version.
        """
        bucket, s3_key = self.backend.bucket_name, self._s3_key(key)
        calls["head"] += 1
        listed = self._client.list_object_versions(Bucket=bucket, Prefix=s3_key)
        mine = [v for v in listed.get("Versions", []) if v["Key"] == s3_key]
        latest = next((v["VersionId"] for v in mine if v.get("IsLatest")), None)
        if latest is None:
            raise StorageError(f"Storage {self.label} does not list {key} after writing it.")
        extra = [v["VersionId"] for v in mine if v["VersionId"] != latest]
        extra += [m["VersionId"] for m in listed.get("DeleteMarkers", []) if m["Key"] == s3_key]
        if extra:
            calls["delete"] += 1
            response = self._client.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": s3_key, "VersionId": v} for v in extra], "Quiet": True},
            )
            if response.get("Errors"):
                raise StorageError(f"Storage {self.label} kept duplicate versions of {key}: {response['Errors']}")
        return "" if latest == "null" else latest

    def iter_bytes(self, key, start=0, end=None, version=""):
        """Yield the object's bytes from ``start`` to ``end`` inclusive (``None``: to the end).

        The object is opened on the first ``next()``: a missing object raises :class:`ObjectMissing`
        there, a storage that cannot be read :class:`StorageError` (file system and S3 alike).
        """
        calls["read"] += 1
        if self.is_s3:
            params = {"Bucket": self.backend.bucket_name, "Key": self._s3_key(key)}
            if version:
                params["VersionId"] = version
            if start or end is not None:
                params["Range"] = f"bytes={start}-{'' if end is None else end}"
            try:
                body = self._client.get_object(**params)["Body"]
            except (ClientError, BotoCoreError) as exc:
                raise _read_error(exc, self.label, key, version) from exc
            try:
                yield from body.iter_chunks(CHUNK_SIZE)
            finally:
                body.close()
            return
        remaining = None if end is None else end - start + 1
        try:
            fh = self.backend.open(key, "rb")
        except OSError as exc:
            raise _read_error(exc, self.label, key, version) from exc
        with fh:
            fh.seek(start)
            while remaining is None or remaining > 0:
                data = fh.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
                if not data:
                    break
                if remaining is not None:
                    remaining -= len(data)
                yield data

    def sha256_of(self, key, version=""):
        """Read the object back and return ``(size, sha256)`` of what the storage holds."""
        digest, size = hashlib.sha256(), 0
        for chunk in self.iter_bytes(key, version=version):
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()

    def clone(self, source_key, key, version=""):
        """Make ``key`` hold the same bytes as ``source_key`` without sending them (benchmark data):
        a hard link on the file system, a server-side ``CopyObject`` on S3. Returns the new
        object's version ("" when unversioned)."""
        calls["write"] += 1
        if not self.is_s3:
            source, target = self.backend.path(source_key), self.backend.path(key)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
            return ""
        copy_source = {"Bucket": self.backend.bucket_name, "Key": self._s3_key(source_key)}
        if version:
            copy_source["VersionId"] = version
        response = self._client.copy_object(
            Bucket=self.backend.bucket_name, Key=self._s3_key(key), CopySource=copy_source
        )
        new_version = response.get("VersionId") or ""
        return "" if new_version == "null" else new_version

    def holds_object(self, key, version=""):
        """Whether the storage holds ``key`` (that version of it, where versions are used)."""
        if not self.is_s3 or not version:
            return self.exists(key)
        calls["head"] += 1
        try:
            self._client.head_object(Bucket=self.backend.bucket_name, Key=self._s3_key(key), VersionId=version)
        except Exception as exc:
            status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if status in (400, 404) or code in ("NoSuchKey", "NoSuchVersion", "404", "NotFound"):
                return False
            raise
        return True

    def exists(self, key):
        """Whether the storage holds ``key``."""
        calls["head"] += 1
        return self.backend.exists(key)

    def set_legal_hold(self, key, version, on):
        """Set (``on``) or clear an S3 Object Lock legal hold on one object version."""
        if not self.is_s3:
            raise StorageError(f"Storage {self.label} is not S3: it has no legal holds.")
        calls["legal_hold"] += 1
        params = {"Bucket": self.backend.bucket_name, "Key": self._s3_key(key)}
        if version:
            params["VersionId"] = version
        self._client.put_object_legal_hold(LegalHold={"Status": "ON" if on else "OFF"}, **params)

    def legal_hold_on(self, key, version):
        """Whether S3 says the object version carries a legal hold now (an object never held has none)."""
        if not self.is_s3:
            raise StorageError(f"Storage {self.name} is not S3: it has no legal holds.")
        calls["legal_hold"] += 1
        params = {"Bucket": self.backend.bucket_name, "Key": self._s3_key(key)}
        if version:
            params["VersionId"] = version
        try:
            answer = self._client.get_object_legal_hold(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchObjectLockConfiguration":
                return False
            raise
        return answer.get("LegalHold", {}).get("Status") == "ON"

    def remove_versions(self, key, keep=()):
        """Remove every version of ``key`` except those in ``keep`` (version ids; "" on the file system
        or an unversioned bucket). For bytes no artifact records (a failed or interrupted write).
        Returns how many were removed; raises when the storage refuses."""
        if not self.is_s3:
            if "" in keep or not self.backend.exists(key):
                return 0
            calls["delete"] += 1
            self.backend.delete(key)
            return 1
        bucket, s3_key = self.backend.bucket_name, self._s3_key(key)
        calls["head"] += 1
        listed = self._client.list_object_versions(Bucket=bucket, Prefix=s3_key)
        found = [v["VersionId"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])
                 if v["Key"] == s3_key]  # fmt: skip
        doomed = [v for v in found if ("" if v == "null" else v) not in keep]
        if doomed:
            calls["delete"] += 1
            response = self._client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": s3_key, "VersionId": v} for v in doomed], "Quiet": True}
            )
            if response.get("Errors"):
                raise StorageError(f"Storage {self.label} refused to remove versions of {key}: {response['Errors']}")
        return len(doomed)

    def delete_many(self, objects):
        """Delete ``objects`` — ``(key, version)`` pairs — in batches; missing keys count as gone.

        On S3 each batch of ≤ 1,000 is one ``DeleteObjects`` call; a key the storage refuses (for
        instance under an S3 legal hold) is reported in ``failed`` and stays where it is.
        """
        result = DeleteResult()
        objects = list(objects)
        if not self.is_s3:
            for key, _version in objects:
                calls["delete"] += 1
                try:
                    self.backend.delete(key)
                except OSError as exc:  # the file is still there: refused, like S3's per-key errors
                    result.failed[key] = f"{type(exc).__name__}: {exc}"
                else:
                    result.deleted.append(key)
            return result
        for i in range(0, len(objects), S3_DELETE_BATCH):
            batch = objects[i : i + S3_DELETE_BATCH]
            by_s3_key = {self._s3_key(key): key for key, _ in batch}
            calls["delete"] += 1
            response = self._client.delete_objects(
                Bucket=self.backend.bucket_name,
                Delete={
                    "Objects": [
                        {"Key": self._s3_key(key), **({"VersionId": version} if version else {})}
                        for key, version in batch
                    ],
                    "Quiet": True,
                },
            )
            for error in response.get("Errors", []):
                key = by_s3_key.get(error["Key"], error["Key"])
                result.failed[key] = f"{error.get('Code')}: {error.get('Message')}"
            result.deleted.extend(key for key, _ in batch if key not in result.failed)
        return result


#: ``exports`` holds export bundles (the ``exports`` app), not artifacts: it needs no Object Lock.
STORAGE_NAMES = ("active", "archive", "exports")

#: The S3 backends of the configured regions, one per (process, region, storage name): each keeps its
#: boto3 clients (one per thread), so a region's connections are made once, not per call. Keyed by
#: the process too: a forked RQ work horse must not share its parent's connections.
_region_backends = {}


@receiver(setting_changed)
def _forget_region_backends(setting, **kwargs):
    """Tests change ``STORAGE_REGIONS``; the backends of the old regions must not be used."""
    if setting in ("STORAGE_REGIONS", "STORAGES"):
        _region_backends.clear()


def _backend(name, region):
    """The Django storage behind storage ``name`` of ``region``: ``STORAGES[name]`` for the implicit
    region, else an S3 backend of the region's bucket (kept per process)."""
    configured = getattr(settings, "STORAGE_REGIONS", None) or {}
    if not configured:
        if region != IMPLICIT_REGION:
            raise StorageError(
                f"Storage region {region!r} is not configured: without STORAGE_REGIONS the only region is "
                f"{IMPLICIT_REGION!r}."
            )
        return storages[name]
    if region not in configured:
        raise StorageError(
            f"Storage region {region!r} is not configured in STORAGE_REGIONS (regions: {', '.join(configured)}); "
            "its content cannot be reached."
        )
    key = (os.getpid(), region, name)
    backend = _region_backends.get(key)
    if backend is None:
        backend = _region_backends.setdefault(key, S3Storage(**s3_options(configured[region], name)))
    return backend


def get_storage(name, region=None):
    """The :class:`ArtifactStorage` for ``"active"``, ``"archive"`` or ``"exports"`` of ``region`` (default: the
    first configured region). A tenant's content: :func:`tenant_storage` or :func:`storage_of`."""
    if name not in STORAGE_NAMES:
        raise ValueError(f"Unknown artifact storage {name!r}")
    return ArtifactStorage(name, region)


def tenant_regions(tenant_ids):
    """``{tenant id: storage region}`` for ``tenant_ids`` (one query)."""
    from accounts.models import Tenant

    return dict(Tenant.objects.filter(pk__in=set(tenant_ids)).values_list("pk", "storage_region"))


def tenant_region(tenant_id, *, for_upload=False):
    """The storage region of tenant ``tenant_id``: where all its content is.

    ``for_upload``: the region new bytes go to, read under a share lock of the tenant's row (call it in
    the transaction that records the upload's intent). ``update_tenant`` holds that row locked while it
    checks that the tenant holds no content and changes its region, so either the change commits first
    and this reads the new region, or this intent commits first and the change sees it and is refused.
    """
    from django.db import connection

    from accounts.models import Tenant

    if for_upload and connection.vendor == "postgresql":
        # FOR SHARE, which Django's ORM does not offer: KEY SHARE would not wait for a NO KEY UPDATE.
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT storage_region FROM {Tenant._meta.db_table} WHERE id = %s FOR SHARE", [tenant_id])
            row = cursor.fetchone()
        if row is None:
            raise Tenant.DoesNotExist(f"No tenant {tenant_id}.")
        return row[0]
    return Tenant.objects.values_list("storage_region", flat=True).get(pk=tenant_id)


def tenant_storage(name, tenant_id):
    """Storage ``name`` of the region of tenant ``tenant_id``."""
    return get_storage(name, tenant_region(tenant_id))


def storage_of(artifact, name=None):
    """The storage holding ``artifact``'s bytes (``name``: another storage of its tenant's region);
    no query when the artifact's tenant is loaded already."""
    name = name or artifact.storage_name
    if type(artifact).tenant.is_cached(artifact):
        return get_storage(name, artifact.tenant.storage_region)
    return tenant_storage(name, artifact.tenant_id)


def _regions(region):
    return region_names() if region is None else (region,)


def _s3_buckets(region=None):
    """The S3 buckets behind the storages of ``region`` (``None``: of every region), each once:
    ``{(region, bucket): [storage, ...]}``. Without a separate archive bucket the archive is a prefix
    of the active bucket, which is then asked once."""
    buckets = {}
    for each in _regions(region):
        for name in STORAGE_NAMES:
            storage = get_storage(name, each)
            if storage.is_s3:
                buckets.setdefault((each, storage.bucket), []).append(storage)
    return buckets


def _bucket_label(bucket, group):
    """``"archive bucket holdfast-archive"``, or ``"active and archive bucket holdfast"`` when shared;
    ``"... (region eu)"`` where the deployment configures regions."""
    region = group[0].region
    where = "" if region == IMPLICIT_REGION else f" (region {region})"
    return f"{' and '.join(storage.name for storage in group)} bucket {bucket}{where}"


def object_lock_problems(timeout=CHECK_TIMEOUT, region=None):
    """Every S3 bucket behind the storages of ``region`` (``None``: of every region; each bucket
    asked once) that cannot carry legal holds, with what it lacks, one entry per bucket:
    ``["archive bucket holdfast-archive: Object Lock is not enabled"]``; ``[]`` when all can, or
    when the storages are the file system (then S3 is not called at all).

    Raises :class:`StorageError` naming the bucket when one cannot be asked (unreachable, denied).
    """
    problems = []
    for (_region, bucket), group in _s3_buckets(region).items():
        if all(storage.name == "exports" for storage in group):
            continue  # a bucket of export bundles only: nothing in it is ever held
        label = _bucket_label(bucket, group)
        try:
            lacks = group[0].object_lock_problems(timeout)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"{label}: cannot read its versioning and Object Lock configuration: {exc}") from exc
        if lacks:
            problems.append(f"{label}: {' and '.join(lacks)}")
    return problems


def check_storages(object_lock=None, timeout=CHECK_TIMEOUT, region=None):
    """Check that the storages of ``region`` (default: the first, or only, region) are usable, each
    S3 bucket once; for ``/healthz`` (:func:`check_regions` checks every region).

    With ``object_lock`` (default: the ``S3_OBJECT_LOCK`` setting) every S3 bucket must also have
    versioning enabled and Object Lock configured, since locked artifacts carry legal holds in the
    active *and* the archive storage. Returns ``{"active": "s3" | "filesystem", "archive": ...}``,
    plus ``"object_lock": "verified"`` when buckets were checked for it; raises
    :class:`StorageError` naming each bucket and what it lacks (or why it is unusable).
    """
    if object_lock is None:
        object_lock = getattr(settings, "S3_OBJECT_LOCK", False)
    region = region or default_region()
    report = {}
    for name in STORAGE_NAMES:
        storage = get_storage(name, region)
        if not storage.is_s3:
            report[name] = storage.check()
    buckets = _s3_buckets(region)
    for (_region, bucket), group in buckets.items():
        try:
            kind = group[0].check(timeout)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"{_bucket_label(bucket, group)}: unusable: {exc}") from exc
        report.update((storage.name, kind) for storage in group)
    if object_lock and buckets:
        problems = object_lock_problems(timeout, region)
        if problems:
            raise StorageError("; ".join(problems))
        report["object_lock"] = "verified"
    return {name: report[name] for name in (*STORAGE_NAMES, "object_lock") if name in report}


def check_regions(object_lock=None, timeout=CHECK_TIMEOUT):
    """:func:`check_storages` for every configured region, each on its own: ``{region: {"ok": True,
    "active": "s3", ...}}`` or ``{region: {"ok": False, "error": "..."}}`` (one region failing does not
    hide the others)."""
    report = {}
    for region in region_names():
        try:
            report[region] = {"ok": True, **check_storages(object_lock, timeout, region)}
        except (StorageError, BotoCoreError, ClientError, OSError) as exc:
            report[region] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return report


class _IterStream:
    """A file-like ``read()`` over an iterator of byte chunks, for streaming copies."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, n=-1):
        while n < 0 or len(self._buffer) < n:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if n < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data


def copy(key, source, target, expected_sha256, version="", content_type="application/octet-stream", *, region=None):
    """Stream ``key`` from storage ``source`` to ``target`` of ``region`` and verify it there (copies
    never leave their region).

    The copy is read back from ``target`` and its SHA-256 compared with ``expected_sha256``; on a
    mismatch the bad copy is removed and :class:`ChecksumMismatch` raised, leaving the source
    untouched. Returns the target's :class:`StoredObject`.
    """
    src, dst = get_storage(source, region), get_storage(target, region)
    stored = dst.write(key, _IterStream(src.iter_bytes(key, version=version)), content_type)
    size, landed = dst.sha256_of(key, version=stored.version)
    if landed != expected_sha256 or size != stored.size:
        dst.delete_many([(key, stored.version)])
        raise ChecksumMismatch(
            f"Copy of {key} to {target} has SHA-256 {landed}, expected {expected_sha256}; source kept."
        )
    return stored
