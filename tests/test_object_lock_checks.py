"""With ``S3_OBJECT_LOCK``, both buckets must have versioning and Object Lock: ``/healthz`` and the
start-up check (``manage.py check``) verify them on a real S3 server (moto) and name the bucket
and what it lacks; the file system is never asked; other commands never ask S3."""

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core import checks

from artifacts import storage as storage_service
from artifacts.checks import object_lock_messages

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = secrets.token_urlsafe(64)

pytestmark = pytest.mark.s3


@pytest.fixture
def bucket(s3_client):
    """``bucket("object_lock" | "versioned" | "plain")`` → the name of a fresh bucket of that kind."""

    def make(kind):
        name = f"hf-{kind.replace('_', '-')}-{uuid.uuid4().hex[:10]}"
        if kind == "object_lock":
            s3_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            s3_client.create_bucket(Bucket=name)
        if kind == "versioned":
            s3_client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    return make


def _s3(endpoint, bucket, location=""):
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": location,
            "endpoint_url": endpoint,
            "access_key": "testing",
            "secret_key": "testing",
            "region_name": "us-east-1",
            "default_acl": None,
            "file_overwrite": True,
        },
    }


def use_buckets(settings, endpoint, active, archive=None):
    """Point the storages at ``active`` and ``archive`` (``None``: the ``archive/`` prefix of
    ``active``, as settings do without ``S3_ARCHIVE_BUCKET``), with ``S3_OBJECT_LOCK`` on."""
    settings.S3_OBJECT_LOCK = True
    settings.STORAGES = {
        **settings.STORAGES,
        "default": _s3(endpoint, active),
        "active": _s3(endpoint, active),
        "archive": _s3(endpoint, archive) if archive else _s3(endpoint, active, location="archive"),
    }


# --- /healthz ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_names_the_archive_bucket_without_object_lock(client, settings, s3_server, bucket):
    active, archive = bucket("object_lock"), bucket("plain")
    use_buckets(settings, s3_server, active, archive)
    response = client.get("/healthz")
    assert response.status_code == 503
    storage = response.json()["storage"]
    assert storage["ok"] is False
    assert storage["error"] == (
        f"StorageError: archive bucket {archive}: versioning is not enabled and Object Lock is not enabled"
    )


@pytest.mark.django_db
def test_healthz_names_a_versioned_active_bucket_without_object_lock(client, settings, s3_server, bucket):
    active, archive = bucket("versioned"), bucket("object_lock")
    use_buckets(settings, s3_server, active, archive)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["storage"]["error"] == f"StorageError: active bucket {active}: Object Lock is not enabled"


@pytest.mark.django_db
def test_healthz_ok_when_both_buckets_have_object_lock(client, settings, s3_server, bucket):
    use_buckets(settings, s3_server, bucket("object_lock"), bucket("object_lock"))
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["storage"] == {
        "ok": True,
        "active": "s3",
        "archive": "s3",
        "exports": "filesystem",
        "object_lock": "verified",
    }


@pytest.mark.django_db
def test_healthz_asks_a_shared_bucket_once(client, settings, s3_server, bucket):
    shared = bucket("plain")
    use_buckets(settings, s3_server, shared)
    before = storage_service.calls.copy()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["storage"]["error"] == (
        f"StorageError: active and archive bucket {shared}: versioning is not enabled and Object Lock is not enabled"
    )
    asked = storage_service.calls - before
    assert asked == {"head": 1, "bucket_config": 2}  # one HeadBucket, one versioning and one Object Lock read


@pytest.mark.django_db
def test_healthz_without_s3_object_lock_does_not_require_it(client, settings, s3_server, bucket):
    use_buckets(settings, s3_server, bucket("plain"), bucket("plain"))
    settings.S3_OBJECT_LOCK = False
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["storage"] == {"ok": True, "active": "s3", "archive": "s3", "exports": "filesystem"}


@pytest.mark.django_db
def test_healthz_on_the_file_system_makes_no_s3_call(client, settings):
    settings.S3_OBJECT_LOCK = True  # set, but the storages are folders: nothing to ask S3
    before = storage_service.calls.copy()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["storage"] == {
        "ok": True,
        "active": "filesystem",
        "archive": "filesystem",
        "exports": "filesystem",
    }
    assert storage_service.calls == before


@pytest.mark.django_db
def test_healthz_names_a_missing_bucket(client, settings, s3_server, bucket):
    active = bucket("object_lock")
    use_buckets(settings, s3_server, active, f"missing-{uuid.uuid4().hex[:8]}")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["storage"]["error"].startswith("StorageError: archive bucket missing-")


# --- the start-up check (manage.py check, a real process) -----------------------------------


def manage(tmp_path, *args, **env):
    """Run ``manage.py *args`` with the production settings module and ``env``; returns the result
    and the seconds it took."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATA_DIR": str(tmp_path),
            "SECRET_KEY": SECRET_KEY,
            **env,
        },
    )
    return result, time.monotonic() - started


def s3_env(endpoint, active, archive=None, object_lock="true"):
    env = {
        "S3_BUCKET": active,
        "S3_ENDPOINT_URL": endpoint,
        "S3_ACCESS_KEY_ID": "testing",
        "S3_SECRET_ACCESS_KEY": "testing",
        "S3_OBJECT_LOCK": object_lock,
    }
    return {**env, "S3_ARCHIVE_BUCKET": archive} if archive else env


def test_check_fails_naming_the_bucket_without_object_lock(tmp_path, s3_server, bucket):
    active, archive = bucket("object_lock"), bucket("plain")
    result, _ = manage(tmp_path, "check", **s3_env(s3_server, active, archive))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert output.count("artifacts.E001") == 1
    assert f"archive bucket {archive}: versioning is not enabled and Object Lock is not enabled" in output
    assert active not in output


def test_check_messages_name_each_bucket_once(settings, s3_server, bucket):
    versioned, locked = bucket("versioned"), bucket("object_lock")
    use_buckets(settings, s3_server, versioned, locked)
    [error] = object_lock_messages()
    assert error.level == checks.ERROR and error.id == "artifacts.E001"
    assert error.msg == f"S3_OBJECT_LOCK is on, but the active bucket {versioned}: Object Lock is not enabled."

    use_buckets(settings, s3_server, versioned)  # the archive is a prefix of the same bucket: asked once
    before = storage_service.calls.copy()
    [error] = object_lock_messages()
    assert error.msg == (
        f"S3_OBJECT_LOCK is on, but the active and archive bucket {versioned}: Object Lock is not enabled."
    )
    assert storage_service.calls - before == {"bucket_config": 2}

    use_buckets(settings, s3_server, locked, bucket("object_lock"))
    assert object_lock_messages() == []


def test_check_asks_nothing_when_s3_object_lock_is_off(settings, s3_server, bucket):
    use_buckets(settings, s3_server, bucket("plain"), bucket("plain"))
    settings.S3_OBJECT_LOCK = False
    before = storage_service.calls.copy()
    assert object_lock_messages() == []
    assert storage_service.calls == before


def test_check_asks_nothing_when_the_storages_are_the_file_system(settings):
    settings.S3_OBJECT_LOCK = True
    before = storage_service.calls.copy()
    assert object_lock_messages() == []
    assert storage_service.calls == before


@pytest.fixture
def silent_endpoint():
    """An S3 endpoint that accepts connections and never answers (a black-holed server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.settimeout(0)
        yield sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _connections_made(sock):
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_an_unanswering_s3_is_a_quick_warning_for_check_and_never_asked_by_other_commands(tmp_path, silent_endpoint):
    sock, endpoint = silent_endpoint
    env = s3_env(endpoint, "holdfast-active", "holdfast-archive")

    # Every management command runs the system checks; this one must not ask S3.
    result, _ = manage(tmp_path, "findstatic", "css/holdfast.css", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "artifacts." not in result.stdout + result.stderr
    assert _connections_made(sock) == 0

    # `check` asks, gives up after CHECK_TIMEOUT seconds and one attempt, and warns (not an error:
    # a blip of the storage must not stop a start; /healthz reports it).
    result, seconds = manage(tmp_path, "check", **env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "artifacts.W001" in output and "could not be verified" in output and "holdfast-active" in output
    assert _connections_made(sock) == 1
    assert seconds < storage_service.CHECK_TIMEOUT + 15
