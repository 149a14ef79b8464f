"""Daily archives pushed to the customer's own S3 bucket (a second moto server on loopback that checks
credentials, as AWS does): the pushed zip verifies and its artifacts' hashes match, nothing stays in
the exports storage, the secret is encrypted at rest and never shown or audited; wrong keys or a
missing bucket put the export in Error naming the bucket and the S3 error code, with nothing left in
the bucket; a failed day is made again by the schedule (bounded); buckets are validated per field."""

import datetime as dt
import io
import json
import os
import uuid
import zoneinfo
from pathlib import Path

import boto3
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from accounts.actors import user_actor
from accounts.models import AuditEvent
from accounts.permissions import SUPERVISOR
from api.scopes import EXPORTS_READ
from artifacts.models import Artifact
from config import jobs
from core import secrets
from core.vocabulary import ArtifactType
from exports import buckets, schedules, services, streams
from exports.models import Export, ExportBucket
from exports.verify import verify_bundle
from tests.api.conftest import integrator  # noqa: F401 - the fixture
from tests.factories import ArtifactFactory, InteractionFactory
from tests.loopback import start_moto
from tests.matrix import client_for

pytestmark = pytest.mark.django_db
PARIS = zoneinfo.ZoneInfo("Europe/Paris")  # acme's time zone
DAY = dt.date(2026, 11, 1)
#: Requests moto answers before it checks credentials: the IAM set-up of the customer's user.
SETUP_REQUESTS = 3


class Customer:
    """The customer's S3 service: an endpoint, an IAM user's keys allowed s3:*, and its client."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        anonymous = {"region_name": "us-east-1", "aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
        iam = boto3.client("iam", endpoint_url=endpoint, **anonymous)
        iam.create_user(UserName="archiver")
        key = iam.create_access_key(UserName="archiver")["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="archiver", PolicyName="archives", PolicyDocument=json.dumps(policy))
        self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
        )

    def new_bucket(self, versioned=False):
        name = f"their-archive-{uuid.uuid4().hex[:10]}"
        self.client.create_bucket(Bucket=name)
        if versioned:
            self.client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def objects(self, bucket):
        return [o["Key"] for o in self.client.list_objects_v2(Bucket=bucket).get("Contents", [])]

    def uploads(self, bucket):
        return self.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.fixture(scope="module")
def customer():
    proc, endpoint = start_moto(timeout=20, env={"INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_REQUESTS)})
    try:
        yield Customer(endpoint)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def loopback_endpoints(settings):
    """The customer's moto is on 127.0.0.1: allowed here (refused by default, see the last tests)."""
    settings.EXPORT_PUSH_PRIVATE_ENDPOINTS = True


@pytest.fixture
def actor(officer):
    return user_actor(officer)


@pytest.fixture
def their_bucket(customer):
    return customer.new_bucket(versioned=True)


@pytest.fixture
def bucket(acme, actor, customer, their_bucket):
    return buckets.create_bucket(
        acme.pk,
        actor,
        name="Our archive",
        endpoint_url=customer.endpoint,
        region_name="us-east-1",
        bucket=their_bucket,
        prefix="archives",
        access_key_id=customer.key_id,
        secret_access_key=customer.secret,
    )


@pytest.fixture
def schedule(acme, actor, bucket):
    return services.create_schedule(acme.pk, actor, name="Dialer recordings", starts_on=DAY, push_to=bucket)


def call_on(tenant, day, **fields):
    started = dt.datetime.combine(day, dt.time(10), tzinfo=PARIS)
    interaction = InteractionFactory(tenant=tenant, started_at=started, ended_at=started)
    return ArtifactFactory(interaction=interaction, content_type="audio/wav", **fields)


def the_morning_after(day=DAY, hour=4):
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(hour), tzinfo=PARIS)


def run_day(expected=1):
    made = schedules.run_schedules(now=the_morning_after())
    assert len(made) == expected
    for export in made:
        jobs.work("export", export.pk)
    return [Export.objects.get(pk=export.pk) for export in made]


def exports_storage_files(settings):
    folder = Path(settings.STORAGES["exports"]["OPTIONS"]["location"])
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def test_a_daily_archive_is_pushed_to_their_bucket_verified_and_not_kept_here(
    acme,
    officer,
    schedule,
    bucket,
    customer,
    their_bucket,
    settings,
    integrator,  # noqa: F811
):
    artifacts = [call_on(acme, DAY, content=b"RIFF" + os.urandom(3000)) for _ in range(2)]
    (export,) = run_day()
    assert export.status == Export.Status.COMPLETE, export.error_message
    assert export.destination == Export.Destination.PUSH and export.push_bucket == bucket
    assert export.storage_key == "archives/holdfast/acme/dialer-recordings/2026-11-01.zip"
    assert export.storage_version, "the versioned bucket's version is recorded"
    assert export.pushed_to == f"s3://{their_bucket}/{export.storage_key} at {customer.endpoint}"
    assert not export.is_downloadable and export.expires_at is None
    body = customer.client.get_object(Bucket=their_bucket, Key=export.storage_key, VersionId=export.storage_version)
    data = body["Body"].read()
    assert len(data) == export.size
    manifest = verify_bundle(io.BytesIO(data))
    assert {entry["id"]: entry["sha256"] for entry in manifest["artifacts"]} == {
        artifact.pk: Artifact.objects.get(pk=artifact.pk).sha256 for artifact in artifacts
    }
    assert exports_storage_files(settings) == [], "nothing stays in the exports storage"
    assert customer.uploads(their_bucket) == []
    completed = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_COMPLETED)
    assert completed.details["pushed_to"] == export.pushed_to and completed.details["expires_at"] is None
    # Not downloadable from Holdfast; nothing for the hourly expiry to remove.
    with pytest.raises(ValidationError, match="cannot be downloaded"):
        services.record_download(export.pk, user_actor(officer))
    page = client_for(officer).get(f"/t/acme/configuration/exports/{export.pk}/").content.decode()
    assert export.pushed_to in page and "Download zip" not in page and "not kept in Holdfast" in page
    body = integrator([EXPORTS_READ]).get(f"/api/v1/exports/{export.pk}").json()
    assert body["pushedTo"] == export.pushed_to and body["downloadUrl"] is None and body["expiresAt"] is None


def test_a_pushed_archive_is_recorded_on_its_artifacts_and_counts_for_export_before_delete(acme, schedule, member):
    from artifacts.models import ManagementRequest
    from tests.factories import management_request

    artifacts = [call_on(acme, DAY, content=b"RIFF" + os.urandom(500)) for _ in range(2)]
    (export,) = run_day()
    assert export.status == Export.Status.COMPLETE and export.verified_at is not None
    rows = Artifact.objects.filter(pk__in=[a.pk for a in artifacts])
    assert {(row.exported_in, row.exported_at) for row in rows} == {(export.pk, export.verified_at)}
    admin = member(acme, "Administrator")
    interactions = [a.interaction for a in artifacts]
    req = management_request(acme, admin, "delete", interactions, process=True, require_export=True)
    assert req.status == ManagementRequest.Status.COMPLETE, req.error_message
    assert Export.objects.count() == 1, "the archive in their bucket is the export: none is made again"
    assert {row.state for row in rows.all()} == {"deleted"}


def test_a_multipart_push_verifies_and_a_failure_leaves_no_upload(
    acme, actor, bucket, customer, their_bucket, settings
):
    settings.EXPORT_PART_BYTES = 5 * 1024 * 1024
    schedule = services.create_schedule(acme.pk, actor, name="Big", starts_on=DAY, push_to=bucket)
    call_on(acme, DAY, content=os.urandom(6 * 1024 * 1024))
    bad = call_on(acme, DAY, content=os.urandom(5 * 1024 * 1024 + 3))
    Artifact.objects.filter(pk=bad.pk).update(sha256="0" * 64)  # found after the first part went up
    (export,) = run_day()
    assert export.status == Export.Status.ERROR and "SHA-256" in export.error_message
    assert customer.uploads(their_bucket) == [] and customer.objects(their_bucket) == []
    assert export.schedule == schedule


@pytest.mark.parametrize("problem", ["wrong secret", "missing bucket"])
def test_refused_pushes_are_errors_naming_the_bucket_and_the_s3_code(
    acme, actor, schedule, bucket, customer, their_bucket, problem, settings
):
    call_on(acme, DAY, content=b"RIFF" + os.urandom(2000))
    if problem == "wrong secret":
        buckets.update_bucket(bucket.pk, actor, secret_access_key="not-their-secret")
        code = "SignatureDoesNotMatch"
    else:
        buckets.update_bucket(bucket.pk, actor, bucket="nobody-made-this-bucket")
        code = "NoSuchBucket"
    (export,) = run_day()
    assert export.status == Export.Status.ERROR and export.retryable
    assert "your bucket “Our archive”" in export.error_message and code in export.error_message
    failed = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_FAILED)
    assert code in failed.reason and failed.details["export"] == export.pk
    assert customer.objects(their_bucket) == [] and customer.uploads(their_bucket) == []
    assert exports_storage_files(settings) == []


def test_a_failed_day_is_made_again_up_to_the_attempts(acme, actor, schedule, bucket, customer, settings):
    settings.EXPORT_SCHEDULE_ATTEMPTS = 3
    call_on(acme, DAY, content=b"RIFF" + os.urandom(2000))
    buckets.update_bucket(bucket.pk, actor, bucket="their-future-bucket")
    (export,) = run_day()
    assert export.status == Export.Status.ERROR and "NoSuchBucket" in export.error_message
    # The next hour: tried again (the bucket is still missing), then the customer creates it.
    (again,) = run_day()
    assert again.pk == export.pk and again.status == Export.Status.ERROR and again.attempts == 2
    customer.client.create_bucket(Bucket="their-future-bucket")
    (done,) = run_day()
    assert done.pk == export.pk and done.status == Export.Status.COMPLETE and done.attempts == 3
    assert customer.objects("their-future-bucket") == [done.storage_key]
    retried = AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_RETRIED).order_by("seq")
    assert [event.details["attempt"] for event in retried] == [2, 3]
    assert "NoSuchBucket" in retried[0].reason and retried[0].details["day"] == "2026-11-01"
    assert schedules.run_schedules(now=the_morning_after(hour=9)) == [], "a complete day is not made again"


def test_a_retry_goes_where_the_schedule_sends_archives_now(acme, actor, schedule, bucket, settings):
    buckets.update_bucket(bucket.pk, actor, bucket="never-there")
    call_on(acme, DAY, content=b"RIFF" + os.urandom(500))
    (failed,) = run_day()
    assert failed.status == Export.Status.ERROR
    services.update_schedule(schedule.pk, actor, push_to=None)  # kept here from now on
    (export,) = run_day()
    assert export.pk == failed.pk and export.status == Export.Status.COMPLETE, export.error_message
    assert export.destination == Export.Destination.STORAGE and export.is_downloadable and export.expires_at
    assert not export.pushed_to and exports_storage_files(settings)


def test_retries_stop_after_the_attempts(acme, actor, schedule, bucket, settings):
    settings.EXPORT_SCHEDULE_ATTEMPTS = 2
    buckets.update_bucket(bucket.pk, actor, bucket="never-there")
    run_day()
    (export,) = run_day()
    assert export.status == Export.Status.ERROR and export.attempts == 2
    assert schedules.run_schedules(now=the_morning_after(hour=6)) == []
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_RETRIED).count() == 1


def test_the_secret_is_encrypted_at_rest_and_never_audited(acme, actor, bucket, customer):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM exports_exportbucket WHERE id = %s", [bucket.pk])
        row = " ".join(str(value) for value in cursor.fetchone())
    assert customer.secret not in row
    assert secrets.decrypt(ExportBucket.objects.get(pk=bucket.pk).secret_access_key_encrypted) == customer.secret
    buckets.update_bucket(bucket.pk, actor, secret_access_key="a-new-secret-value", prefix="other/")
    events = AuditEvent.objects.filter(kind__startswith="export_bucket").order_by("seq")
    trail = json.dumps([event.details for event in events])
    assert customer.secret not in trail and "a-new-secret-value" not in trail and customer.key_id not in trail
    created, changed = events
    assert created.details["access_key_id"] == f"…{customer.key_id[-4:]}" and created.details["secret_access_key"]
    assert changed.details["changed"] == {"prefix": ["archives/", "other/"], "secret_access_key": ["set", "replaced"]}


def test_rotate_secrets_re_encrypts_the_bucket_keys(acme, bucket, customer, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    before = ExportBucket.objects.get(pk=bucket.pk).secret_access_key_encrypted
    settings.HOLDFAST_SECRET_KEYS = [Fernet.generate_key().decode(), *settings.HOLDFAST_SECRET_KEYS]
    out = io.StringIO()
    call_command("twilio_flex", "rotate-secrets", stdout=out)
    assert "1 export buckets' secrets re-encrypted" in out.getvalue()
    after = ExportBucket.objects.get(pk=bucket.pk).secret_access_key_encrypted
    assert after != before and secrets.decrypt(after) == customer.secret
    settings.HOLDFAST_SECRET_KEYS = settings.HOLDFAST_SECRET_KEYS[:1]
    assert secrets.decrypt(after) == customer.secret, "readable with the new key alone"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("endpoint_url", "ftp://s3.example.com", "http:// or https://"),
        ("endpoint_url", "https://user:pw@s3.example.com", "no user name"),
        ("bucket", "Their_Bucket", "lowercase letters"),
        ("bucket", "ab", "3 to 63"),
        ("bucket", "192.168.1.1", "not an IP address"),
        ("bucket", "a..b", "no two dots"),
        ("prefix", "/archives", "does not start with “/”"),
        ("prefix", "a/../b", "“..”"),
        ("region_name", "EU Central", "region name"),
        ("access_key_id", "", "required"),
        ("secret_access_key", "", "required"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(acme, actor, field, value, message):
    fields = {
        "name": "Ours",
        "endpoint_url": "https://s3.example.com",
        "bucket": "their-bucket",
        "access_key_id": "AKIAEXAMPLE1234",
        "secret_access_key": "s3cr3t",
        field: value,
    }
    with pytest.raises(ValidationError) as raised:
        buckets.create_bucket(acme.pk, actor, **fields)
    assert message in " ".join(raised.value.message_dict[field])
    assert not ExportBucket.objects.exists() and not AuditEvent.objects.filter(kind__startswith="export_bucket")


def test_names_are_unique_and_prefixes_end_with_a_slash(acme, actor, bucket):
    assert bucket.prefix == "archives/"
    with pytest.raises(ValidationError) as raised:
        buckets.create_bucket(
            acme.pk, actor, name="our ARCHIVE", bucket="b-2", access_key_id="AKIA1", secret_access_key="x"
        )
    assert "already has a bucket named" in raised.value.message_dict["name"][0]


def test_removal_is_refused_while_a_schedule_pushes_to_it(acme, actor, bucket, schedule):
    with pytest.raises(ValidationError, match="“Dialer recordings” pushes to “Our archive”"):
        buckets.remove_bucket(bucket.pk, actor)
    services.update_schedule(schedule.pk, actor, push_to=None)
    changed = AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_SCHEDULE_CHANGED).latest("seq")
    assert changed.details["changed"] == {"push_to": ["Our archive", ""]}
    buckets.remove_bucket(bucket.pk, actor)
    assert not ExportBucket.objects.exists()
    removed = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_BUCKET_REMOVED)
    assert removed.details["bucket"] == bucket.bucket and removed.details["name"] == "Our archive"


def test_only_export_content_may_change_buckets_and_not_another_tenants(acme, globex, member, actor, bucket):
    supervisor = user_actor(member(acme, SUPERVISOR))
    with pytest.raises(PermissionDenied):
        buckets.create_bucket(acme.pk, supervisor, name="x", bucket="abc", access_key_id="k", secret_access_key="s")
    with pytest.raises(PermissionDenied):
        buckets.update_bucket(bucket.pk, supervisor, name="y")
    with pytest.raises(PermissionDenied):
        buckets.remove_bucket(bucket.pk, supervisor)
    with pytest.raises(ValidationError) as raised:
        services.create_schedule(globex.pk, user_actor(member(globex, "Administrator")), name="x", push_to=bucket)
    assert raised.value.message_dict["push_to"] == ["not a bucket of this tenant."]


def test_a_pushed_archive_does_not_hold_the_tenant_in_its_region(acme, schedule, their_bucket):
    from exports.runner import bundles_held

    call_on(acme, DAY, artifact_type=ArtifactType.AUDIO_RECORDING, content=b"RIFF" + os.urandom(100))
    (export,) = run_day()
    assert export.status == Export.Status.COMPLETE
    assert bundles_held(None, tenant=acme, region="other") is None


def test_an_archive_that_does_not_verify_in_their_bucket_is_an_error_and_removed(
    acme, actor, customer, monkeypatch, settings
):
    plain = customer.new_bucket(versioned=False)
    target = buckets.create_bucket(
        acme.pk, actor, name="Plain", endpoint_url=customer.endpoint, bucket=plain,
        access_key_id=customer.key_id, secret_access_key=customer.secret,
    )  # fmt: skip
    services.create_schedule(acme.pk, actor, name="Calls", starts_on=DAY, push_to=target)
    call_on(acme, DAY, content=b"RIFF" + os.urandom(4000))
    original = streams.S3MultipartWriter.close

    def close_then_garble(self):
        version = original(self)
        stored = self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        at = stored.index(b"RIFF")  # the artifact's bytes in the zip (stored, not compressed)
        self.client.put_object(Bucket=self.bucket, Key=self.key, Body=stored[:at] + b"FFIR" + stored[at + 4 :])
        return version

    monkeypatch.setattr(streams.S3MultipartWriter, "close", close_then_garble)
    (export,) = run_day()
    assert export.status == Export.Status.ERROR
    assert "read back from your bucket “Plain” does not verify" in export.error_message
    assert "callRecording.wav" in export.error_message, "the damaged file is named"
    assert customer.objects(plain) == [], "the archive that does not verify is removed"
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_FAILED).count() == 1


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:9000", "http://localhost:9000", "http://169.254.169.254", "https://10.1.2.3"]
)
def test_endpoints_inside_this_network_are_refused_by_default(acme, actor, endpoint, settings):
    settings.EXPORT_PUSH_PRIVATE_ENDPOINTS = False
    with pytest.raises(ValidationError) as raised:
        buckets.create_bucket(
            acme.pk, actor, name="Inside", endpoint_url=endpoint, bucket="abc", access_key_id="k", secret_access_key="s"
        )
    assert "loopback, private or link-local address is refused" in raised.value.message_dict["endpoint_url"][0]
    assert not ExportBucket.objects.exists()


def test_a_push_to_an_endpoint_that_now_resolves_inside_is_refused(acme, schedule, bucket, customer, settings):
    call_on(acme, DAY, content=b"RIFF" + os.urandom(100))
    settings.EXPORT_PUSH_PRIVATE_ENDPOINTS = False  # e.g. a name saved earlier that resolves to 127.0.0.1 now
    (export,) = run_day()
    assert export.status == Export.Status.ERROR
    assert "Not pushed to your bucket “Our archive”" in export.error_message
    assert "127.0.0.1 is on a loopback, private or link-local address" in export.error_message
