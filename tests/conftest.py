"""Test fixtures: PostgreSQL only, storage in a temporary folder, S3 on a moto server on loopback."""

import os
import uuid

import boto3
import pytest

from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.loopback import start_moto
from tests.smtp import smtp_server  # noqa: F401  (a fixture: a real SMTP server on loopback)


def pytest_collection_modifyitems(config, items):
    """Everything here is written for PostgreSQL; refuse to pass quietly on another database."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine and not os.environ.get("HOLDFAST_ALLOW_SQLITE"):
        raise pytest.UsageError(
            f"The test suite runs on PostgreSQL (DATABASE_URL); got {engine}. Use bin/test, which sets it up."
        )


@pytest.fixture(autouse=True)
def file_storages(settings, tmp_path):
    """Each test gets its own empty active and archive folders."""
    active, archive, exports = tmp_path / "active", tmp_path / "archive", tmp_path / "exports"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(active)},
        },
        "active": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(active)},
        },
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(archive), "allow_overwrite": True},
        },
        "exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(exports)},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return active, archive


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 API server in its own process on 127.0.0.1 (enforces Object Lock legal holds)."""
    proc, endpoint = start_moto(timeout=20)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


S3_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}


@pytest.fixture
def s3_client(s3_server):
    return boto3.client("s3", endpoint_url=s3_server, **S3_CREDENTIALS)


@pytest.fixture
def s3_storages(settings, s3_server, s3_client):
    """Point *active* and *archive* at fresh buckets (Object Lock enabled) on the moto server."""
    active_bucket, archive_bucket = f"active-{uuid.uuid4().hex[:12]}", f"archive-{uuid.uuid4().hex[:12]}"
    for bucket in (active_bucket, archive_bucket):
        s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)

    def s3(bucket, location=""):
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "location": location,
                "endpoint_url": s3_server,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "default_acl": None,
                "file_overwrite": True,
            },
        }

    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3(active_bucket),
        "active": s3(active_bucket),
        "archive": s3(archive_bucket),
        # Export bundles: the prefix "exports/" of the active bucket, as the settings' default.
        "exports": s3(active_bucket, location="exports"),
    }
    return active_bucket, archive_bucket


@pytest.fixture(params=["filesystem", "s3"])
def any_storage(request):
    """Run a test on both storage backends."""
    if request.param == "s3":
        return ("s3", request.getfixturevalue("s3_storages"))
    return ("filesystem", request.getfixturevalue("file_storages"))


@pytest.fixture
def acme(db):
    return TenantFactory(name="Acme", slug="acme")


@pytest.fixture
def globex(db):
    return TenantFactory(name="Globex", slug="globex")


@pytest.fixture
def member(db):
    """``member(tenant, "Supervisor")`` → a user with that role in that tenant."""

    def make(tenant, role_name="Viewer", **user_fields):
        user = UserFactory(**user_fields)
        MembershipFactory(user=user, tenant=tenant, role_name=role_name)
        return user

    return make


@pytest.fixture
def rq_queue(settings):
    """The RQ queue jobs go to (Redis at ``REDIS_URL``), empty before and after the test."""
    import django_rq

    settings.JOBS_INLINE = False
    queue = django_rq.get_queue(settings.RQ_QUEUE)
    queue.empty()
    yield queue
    queue.empty()
