"""The storage service behaves identically on the file system and on S3 (moto server on loopback)."""

import hashlib
import io
import os

import pytest

from artifacts import storage as storage_service
from artifacts.storage import ChecksumMismatch, copy, get_storage, new_key


def payload(n=700_000):
    """Bytes larger than one chunk, not a repeating pattern."""
    return os.urandom(n)


def test_write_streams_and_records_size_and_sha256(any_storage):
    data = payload()
    active = get_storage("active")
    stored = active.write(new_key(7, "call.wav"), io.BytesIO(data), "audio/wav")
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert b"".join(active.iter_bytes(stored.key, version=stored.version)) == data
    assert active.sha256_of(stored.key) == (len(data), stored.sha256)


def test_keys_are_tenant_prefixed_and_unguessable():
    a, b = new_key(42, "Recording.WAV"), new_key(42, "Recording.WAV")
    assert a.startswith("t42/") and b.startswith("t42/")
    assert a != b and a.endswith(".wav")
    assert len(a.rsplit("/", 1)[1]) >= 32  # 192 random bits, url-safe


def test_ranges_read_exact_bytes(any_storage):
    data = payload(300_000)
    active = get_storage("active")
    key = active.write(new_key(1, "a.bin"), io.BytesIO(data)).key
    assert b"".join(active.iter_bytes(key, 10, 19)) == data[10:20]
    assert b"".join(active.iter_bytes(key, 299_990)) == data[299_990:]
    assert b"".join(active.iter_bytes(key, 0, 0)) == data[:1]


def test_batched_delete_removes_every_key(any_storage):
    active = get_storage("active")
    objects = [active.write(new_key(1, f"{i}.txt"), io.BytesIO(b"x%d" % i)) for i in range(5)]
    result = active.delete_many([(o.key, o.version) for o in objects])
    assert sorted(result.deleted) == sorted(o.key for o in objects)
    assert not result.failed
    for o in objects:
        assert not active.exists(o.key)
    # Deleting what is already gone is not an error (idempotent retries).
    assert not active.delete_many([(objects[0].key, objects[0].version)]).failed


@pytest.mark.s3
def test_s3_delete_is_one_call_per_thousand_keys(s3_storages, s3_client, monkeypatch):
    active = get_storage("active")
    keys = [(f"t1/bulk/{i:05d}", "") for i in range(2500)]
    storage_service.calls.clear()
    result = active.delete_many(keys)  # absent keys: S3 answers "deleted" for them
    assert storage_service.calls["delete"] == 3
    assert len(result.deleted) == 2500


@pytest.mark.s3
def test_s3_versioned_delete_removes_the_bytes_not_just_a_marker(s3_storages, s3_client):
    active_bucket, _ = s3_storages
    active = get_storage("active")
    stored = active.write(new_key(1, "v.wav"), io.BytesIO(b"voice"), "audio/wav")
    assert stored.version, "object-lock buckets are versioned: the version id must be recorded"
    active.delete_many([(stored.key, stored.version)])
    versions = s3_client.list_object_versions(Bucket=active_bucket, Prefix=stored.key)
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")


@pytest.mark.s3
def test_s3_legal_hold_makes_the_storage_refuse_the_delete(s3_storages, s3_client):
    """Reported per key, and the bytes stay: the storage is the last line of defence."""
    active_bucket, _ = s3_storages
    active = get_storage("active")
    stored = active.write(new_key(1, "held.wav"), io.BytesIO(b"held"), "audio/wav")
    s3_client.put_object_legal_hold(
        Bucket=active_bucket, Key=stored.key, VersionId=stored.version, LegalHold={"Status": "ON"}
    )
    result = active.delete_many([(stored.key, stored.version)])
    assert stored.key in result.failed and not result.deleted
    assert b"".join(active.iter_bytes(stored.key)) == b"held"
    s3_client.put_object_legal_hold(
        Bucket=active_bucket, Key=stored.key, VersionId=stored.version, LegalHold={"Status": "OFF"}
    )


def test_copy_between_active_and_archive_verifies_sha256(any_storage):
    data = payload(400_000)
    active, archive = get_storage("active"), get_storage("archive")
    src = active.write(new_key(3, "c.wav"), io.BytesIO(data), "audio/wav")
    dst = copy(src.key, "active", "archive", src.sha256, version=src.version)
    assert dst.sha256 == src.sha256 and dst.size == len(data)
    assert b"".join(archive.iter_bytes(dst.key, version=dst.version)) == data
    assert active.exists(src.key), "copy never removes the source"


def test_copy_with_wrong_expected_checksum_leaves_no_copy_and_keeps_source(any_storage):
    active, archive = get_storage("active"), get_storage("archive")
    src = active.write(new_key(3, "c.wav"), io.BytesIO(b"original"), "audio/wav")
    with pytest.raises(ChecksumMismatch):
        copy(src.key, "active", "archive", "0" * 64, version=src.version)
    assert not archive.exists(src.key)
    assert active.exists(src.key)


def test_unknown_storage_name_is_refused():
    with pytest.raises(ValueError):
        get_storage("elsewhere")
