"""Data residency: each tenant's content stays in its storage region's buckets.

Two moto S3 servers on loopback are the regions "eu" and "us". Content of a tenant of each is stored,
archived by the sweep, locked (S3 legal holds), deleted through the API and the resume, read back through
the API and the ingestion's verification; then every object version in every bucket of both servers is
listed and read, proving that no byte of a tenant landed outside its region.
"""

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AuditEvent, Tenant
from accounts.signals import tenant_region_changing
from artifacts import disposal, holds
from artifacts.models import Artifact, PendingUpload
from artifacts.storage import StorageError, get_storage, storage_of
from config import jobs
from core.regions import parse_storage_regions
from core.vocabulary import ArtifactState, ContentKey
from ingestion.sources import verify_copy
from policies import services as policy_services
from policies.models import SweepRun
from tests.api.conftest import Integrator
from tests.conftest import S3_CREDENTIALS
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, TenantFactory, management_request
from tests.loopback import start_moto

pytestmark = [pytest.mark.django_db, pytest.mark.s3]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def endpoints():
    """Two S3 servers, one per region."""
    started = {region: start_moto(timeout=20) for region in ("eu", "us")}
    yield {region: endpoint for region, (_proc, endpoint) in started.items()}
    for proc, _endpoint in started.values():
        proc.terminate()
        proc.wait(timeout=10)


class Regions:
    """The two regions of a test: an S3 client per region, and each region's buckets."""

    def __init__(self, endpoints):
        self.clients = {
            region: boto3.client("s3", endpoint_url=url, **S3_CREDENTIALS) for region, url in endpoints.items()
        }
        suffix = uuid.uuid4().hex[:10]
        self.buckets = {region: (f"{region}-active-{suffix}", f"{region}-archive-{suffix}") for region in endpoints}
        for region, buckets in self.buckets.items():
            for bucket in buckets:
                self.clients[region].create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        self.config = {
            region: {
                "endpoint_url": endpoints[region],
                "active_bucket": self.buckets[region][0],
                "archive_bucket": self.buckets[region][1],
                "access_key_id": "testing",
                "secret_access_key": "testing",
                "region_name": "us-east-1",
            }
            for region in endpoints
        }

    def objects(self, region, everywhere=True):
        """Every object version (and its bytes) in every bucket of the region's server (or only in this
        test's buckets of the region): ``[(bucket, key, bytes)]``."""
        client, found = self.clients[region], []
        buckets = [b["Name"] for b in client.list_buckets()["Buckets"]] if everywhere else self.buckets[region]
        for bucket in buckets:
            for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
                for version in page.get("Versions", []):
                    body = client.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
                    found.append((bucket, version["Key"], body["Body"].read()))
        return found

    def hold(self, region, artifact):
        artifact.refresh_from_db()
        bucket = self.buckets[region][1 if artifact.state == ArtifactState.ARCHIVED else 0]
        answer = self.clients[region].get_object_legal_hold(
            Bucket=bucket, Key=artifact.storage_key, VersionId=artifact.storage_version
        )
        return answer["LegalHold"].get("Status", "OFF")


@pytest.fixture
def regions(settings, endpoints):
    regions = Regions(endpoints)
    settings.STORAGE_REGIONS = parse_storage_regions(json.dumps(regions.config))
    settings.S3_OBJECT_LOCK = True
    return regions


@pytest.fixture
def tenants(regions):
    return {
        region: TenantFactory(name=f"In {region}", slug=f"in-{region}", storage_region=region)
        for region in ("eu", "us")
    }


def marker(region, n):
    """Bytes that say whose they are, so any of them found elsewhere is recognised."""
    return f"<<content of the {region} tenant #{n}>>".encode() * 40


def run_sweep(tenant):
    run = policy_services.start_sweep(tenant.pk, SYSTEM, SweepRun.Trigger.COMMAND, enqueue=False)
    jobs.work("lifecycle_sweep", run.pk)
    run.refresh_from_db()
    return run


def test_no_byte_of_a_tenant_lands_outside_its_region(regions, tenants, file_storages):
    kept = {}
    for region, tenant in tenants.items():
        policy_services.create_policy(tenant.pk, SYSTEM, name="Archive voice", channel="voice", archive_after_days=10)
        call, locked_call, doomed_call, resumed_call = (InteractionFactory(tenant=tenant) for _ in range(4))
        old = timezone.now() - timedelta(days=11)
        archived = ArtifactFactory(interaction=call, content=marker(region, 1), created_at=old)
        locked = ArtifactFactory(interaction=locked_call, content=marker(region, 2))
        doomed = ArtifactFactory(interaction=doomed_call, content=marker(region, 3))
        resumed = ArtifactFactory(interaction=resumed_call, content=marker(region, 4))
        assert storage_of(locked).region == region

        # Archive (the sweep), lock (an S3 legal hold), delete (the API), then a deletion the resume finishes.
        assert (run_sweep(tenant).archived, Artifact.objects.get(pk=archived.pk).state) == (1, ArtifactState.ARCHIVED)
        management_request(tenant, SYSTEM, "add_lock", [locked_call], process=True)
        assert regions.hold(region, locked) == "ON"
        client = Integrator(tenant)
        gone = client.delete(f"/api/v1/interactions/{doomed_call.guid}/content/{ContentKey.CALL_RECORDING}")
        assert gone.status_code in (200, 204), gone.content
        Artifact.objects.filter(pk=resumed.pk).update(
            state=ArtifactState.DELETING, deletion_started_at=timezone.now() - timedelta(hours=1)
        )
        # Read back through the API (archived and locked content) and the ingestion's verification.
        for artifact, call_of in ((archived, call), (locked, locked_call)):
            url = f"/api/v1/interactions/{call_of.guid}/content/{ContentKey.CALL_RECORDING}"
            response = client.get(url)
            assert response.status_code == 200 and b"".join(response.streaming_content) == artifact_bytes(artifact)
            assert verify_copy(Artifact.objects.get(pk=artifact.pk)) is None
        kept[region] = {"tenant": tenant, "archived": archived, "locked": locked, "gone": [doomed, resumed]}

    # One resume for both tenants: its batch mixes regions, and each object is deleted in its own.
    assert disposal.resume_interrupted()["deleted"] == 2
    assert holds.reconcile_legal_holds() == (0, 0)

    for region, other in (("eu", "us"), ("us", "eu")):
        mine, theirs = kept[region]["tenant"], kept[other]["tenant"]
        objects = regions.objects(region)
        # (Objects of other tests' tenants may be there too: the servers serve the whole module.)
        ours = {tenant_of(key) for _bucket, key, _data in objects} & {mine.pk, theirs.pk}
        assert ours == {mine.pk}, f"{region} holds objects of tenants {ours}"
        assert not any(marker(other, n)[:30] in data for _b, _k, data in objects for n in range(1, 5))
        # What the tenant keeps is there (in the bucket it belongs in); what it deleted is not.
        where = {(bucket, key) for bucket, key, _data in objects}
        active, archive = regions.buckets[region]
        assert (archive, kept[region]["archived"].storage_key) in where
        assert (active, kept[region]["archived"].storage_key) not in where, "the active copy is removed"
        assert (active, kept[region]["locked"].storage_key) in where
        assert not any(key == gone.storage_key for gone in kept[region]["gone"] for _b, key, _d in objects)
        assert {Artifact.objects.get(pk=a.pk).state for a in kept[region]["gone"]} == {ArtifactState.DELETED}
        assert kept[region]["locked"].legal_hold
    # Nothing went to the file-system storages either.
    assert not any(path.is_file() for folder in file_storages for path in folder.rglob("*"))


def artifact_bytes(artifact):
    return b"".join(storage_of(Artifact.objects.get(pk=artifact.pk)).iter_bytes(artifact.storage_key))


def tenant_of(key):
    """The tenant id of an object key (``t<id>/...``, maybe under a storage's prefix)."""
    return int(re.search(r"(?:^|/)t(\d+)/", key).group(1))


def test_a_tenants_region_cannot_change_while_it_holds_content(regions, tenants, admin_client):
    eu = tenants["eu"]
    artifact = ArtifactFactory(interaction=InteractionFactory(tenant=eu), content=marker("eu", 9))
    with pytest.raises(ValidationError) as refused:
        account_services.update_tenant(eu.pk, SYSTEM, storage_region="us")
    message = refused.value.message_dict["storage_region"][0]
    assert "cannot change from eu to us" in message and "holds content in region eu (artifacts)" in message
    # The admin shows the same refusal on the field, and saves nothing.
    url = reverse("admin:accounts_tenant_change", args=[eu.pk])
    data = {
        "name": eu.name,
        "time_zone": eu.time_zone,
        "locked_interactions_limit": eu.locked_interactions_limit,
        "storage_region": "us",
        "lock_expiry_notice_days": eu.lock_expiry_notice_days,
        "export_retention_days": eu.export_retention_days,
    }
    page = admin_client.post(url, data)
    assert page.status_code == 200 and "holds content in region eu" in page.content.decode()
    assert Tenant.objects.get(pk=eu.pk).storage_region == "eu"

    # A deletion decided but whose bytes are still there holds content too; an upload in progress too.
    Artifact.objects.filter(pk=artifact.pk).update(state=ArtifactState.DELETING, deletion_started_at=timezone.now())
    with pytest.raises(ValidationError, match="artifacts"):
        account_services.update_tenant(eu.pk, SYSTEM, storage_region="us")
    disposal.finish_deletions([artifact.pk])
    pending = PendingUpload.objects.create(tenant=eu, storage="active", storage_key=f"t{eu.pk}/x")
    with pytest.raises(ValidationError, match="uploads in progress"):
        account_services.update_tenant(eu.pk, SYSTEM, storage_region="us")
    pending.delete()

    # Holding nothing (a tombstone has no bytes), the region changes, audited; new content goes there.
    assert admin_client.post(url, data).status_code == 302
    eu.refresh_from_db()
    assert eu.storage_region == "us"
    event = AuditEvent.objects.filter(tenant=eu, kind=AuditEvent.Kind.TENANT_CHANGED).latest("pk")
    assert event.details["changed"]["storage_region"] == ["eu", "us"] and event.source == "admin"
    moved = ArtifactFactory(interaction=InteractionFactory(tenant=eu), content=marker("eu", 10))
    assert {tenant_of(key) for _b, key, _d in regions.objects("us", everywhere=False)} == {eu.pk}
    assert storage_of(moved).bucket == regions.buckets["us"][0]


@pytest.mark.django_db(transaction=True)
def test_an_upload_during_a_region_change_waits_and_goes_to_the_new_region(regions):
    tenant = TenantFactory(storage_region="eu")
    call = InteractionFactory(tenant=tenant)
    checking, release, done = threading.Event(), threading.Event(), {}

    def pause(sender, **kwargs):  # the region change, its "holds no content" check done, not committed yet
        checking.set()
        release.wait(20)

    def in_thread(name, work):
        def run():
            try:
                done[name] = work()
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    tenant_region_changing.connect(pause, dispatch_uid="test.pause")
    try:
        changer = in_thread("change", lambda: account_services.update_tenant(tenant.pk, SYSTEM, storage_region="us"))
        assert checking.wait(20)
        uploader = in_thread("upload", lambda: ArtifactFactory(interaction=call, content=marker("eu", 20)))
        uploader.join(1.5)
        assert uploader.is_alive(), "the upload waits for the region change to commit"
    finally:
        release.set()
        tenant_region_changing.disconnect(dispatch_uid="test.pause")
    changer.join(20)
    uploader.join(30)
    assert done["change"].storage_region == "us"
    assert storage_of(Artifact.objects.get(pk=done["upload"].pk)).region == "us"
    assert {tenant_of(key) for _b, key, _d in regions.objects("us", everywhere=False)} == {tenant.pk}
    assert regions.objects("eu", everywhere=False) == []


def test_a_region_must_be_configured(regions, tenants, admin_client):
    with pytest.raises(ValidationError, match="not a storage region of this deployment"):
        TenantFactory(storage_region="mars")
    page = admin_client.post(
        reverse("admin:accounts_tenant_add"),
        {"name": "Mars", "slug": "mars", "time_zone": "UTC", "locked_interactions_limit": 5,
         "storage_region": "mars", "lock_expiry_notice_days": 14},
    )  # fmt: skip
    assert page.status_code == 200 and "storage_region" in page.context["adminform"].form.errors
    assert TenantFactory().storage_region == "eu", "the first configured region is the default"
    # A tenant left in a region the deployment dropped cannot reach storage, and says why.
    Tenant.objects.filter(pk=tenants["us"].pk).update(storage_region="gone")
    with pytest.raises(StorageError, match="'gone' is not configured in STORAGE_REGIONS"):
        ArtifactFactory(interaction=InteractionFactory(tenant=tenants["us"]))


def test_healthz_reports_each_region(regions, tenants, client):
    body = client.get("/healthz").json()
    assert body["storage"]["ok"] is True
    assert body["storage"]["regions"] == {
        region: {"ok": True, "active": "s3", "archive": "s3", "exports": "s3", "object_lock": "verified"}
        for region in ("eu", "us")
    }
    # A bucket of one region gone: that region is named, the other still reported usable.
    us_archive = regions.buckets["us"][1]
    regions.clients["us"].delete_bucket(Bucket=us_archive)
    response = client.get("/healthz")
    assert response.status_code == 503
    storage = response.json()["storage"]
    assert storage["ok"] is False and storage["regions"]["eu"]["ok"] is True
    assert storage["regions"]["us"]["ok"] is False and us_archive in storage["regions"]["us"]["error"]
    # A tenant in a region the deployment does not configure is reported.
    regions.clients["us"].create_bucket(Bucket=us_archive, ObjectLockEnabledForBucket=True)
    Tenant.objects.filter(pk=tenants["us"].pk).update(storage_region="gone")
    storage = client.get("/healthz").json()["storage"]
    assert storage["ok"] is False and "gone: 1" in storage["error"]


def test_each_bucket_is_asked_once_and_the_object_lock_check_names_the_region(regions, tenants, settings):
    from artifacts import storage as storage_service
    from artifacts.storage import object_lock_problems

    before = storage_service.calls.copy()
    assert object_lock_problems() == []
    assert storage_service.calls - before == {"bucket_config": 8}, "4 buckets, 2 questions each"
    plain = f"plain-{uuid.uuid4().hex[:8]}"
    regions.clients["us"].create_bucket(Bucket=plain)
    settings.STORAGE_REGIONS = parse_storage_regions(
        json.dumps({**regions.config, "us": {**regions.config["us"], "archive_bucket": plain}})
    )
    assert object_lock_problems() == [
        f"archive bucket {plain} (region us): versioning is not enabled and Object Lock is not enabled"
    ]
    assert get_storage("archive", "us").bucket == plain


def test_each_region_keeps_its_connections(regions):
    eu, us = get_storage("active", "eu"), get_storage("active", "us")
    assert eu.backend is get_storage("active", "eu").backend, "one backend (and boto3 client) per region"
    assert eu._client is get_storage("active", "eu")._client
    assert us.backend is not eu.backend and us._client.meta.endpoint_url != eu._client.meta.endpoint_url
    assert get_storage("archive", "us").bucket == regions.buckets["us"][1]
    assert get_storage("active").region == "eu", "no region named: the first one"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "STORAGE_REGIONS is not valid JSON"),
        ("[]", "must be a JSON object mapping region names"),
        ('{"EU!": {}}', "STORAGE_REGIONS['EU!']: a region name is"),
        ('{"eu": "bucket"}', "STORAGE_REGIONS['eu'] must be a JSON object"),
        ('{"eu": {"active_bucket": "a"}}', "STORAGE_REGIONS['eu'] lacks 'archive_bucket'"),
        ('{"eu": {"active_bucket": "a", "archive_bucket": "b", "archive_buket": "c"}}', "unknown key 'archive_buket'"),
        ('{"eu": {"active_bucket": "a", "archive_bucket": ""}}', "STORAGE_REGIONS['eu']['archive_bucket'] must be"),
        (
            '{"eu": {"active_bucket": "a", "archive_bucket": "b"}, '
            '"us": {"active_bucket": "b", "archive_bucket": "c"}}',
            "STORAGE_REGIONS['us']['active_bucket']: bucket 'b' is a bucket of region 'eu' too",
        ),
    ],
)
def test_a_bad_storage_regions_setting_names_the_problem(text, problem):
    with pytest.raises(ImproperlyConfigured) as error:
        parse_storage_regions(text)
    assert problem in str(error.value)


def test_regions_fill_in_the_s3_settings_and_share_a_bucket_by_prefix():
    regions = parse_storage_regions(
        '{"eu": {"active_bucket": "eu-a", "archive_bucket": "eu-a", "endpoint_url": "https://s3.eu.example"}, '
        '"us": {"active_bucket": "us-a", "archive_bucket": "us-b", "exports_bucket": "us-x"}}',
        defaults={"region_name": "us-east-1", "endpoint_url": "http://s3.local", "access_key_id": "k"},
    )
    assert list(regions) == ["eu", "us"]
    assert (
        regions["eu"]["endpoint_url"] == "https://s3.eu.example" and regions["us"]["endpoint_url"] == "http://s3.local"
    )
    assert regions["eu"]["access_key_id"] == "k" and regions["eu"]["exports_bucket"] is None
    from core.regions import bucket_and_prefix

    assert bucket_and_prefix(regions["eu"], "archive") == ("eu-a", "archive")
    assert bucket_and_prefix(regions["eu"], "exports") == ("eu-a", "exports")
    assert bucket_and_prefix(regions["us"], "exports") == ("us-x", "")


def test_the_app_refuses_to_start_on_a_bad_setting():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "true",
            "STORAGE_REGIONS": '{"eu": {"active_bucket": "eu-active"}}',
        },
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: STORAGE_REGIONS['eu'] lacks 'archive_bucket'" in result.stderr


def test_an_export_bundle_is_written_in_its_tenants_region_and_holds_the_tenant_there(regions, tenants):
    from exports import services as export_services
    from exports.models import Export

    eu = tenants["eu"]
    ArtifactFactory(interaction=InteractionFactory(tenant=eu), content=marker("eu", 7))
    export = export_services.create_export(eu.pk, SYSTEM, filters={})
    jobs.work("export", export.pk)
    export = Export.objects.get(pk=export.pk)
    assert export.status == Export.Status.COMPLETE, export.error_message
    # The bundle (which holds the tenant's bytes) is in the eu region's active bucket under exports/.
    eu_keys = {(bucket, key) for bucket, key, _data in regions.objects("eu", everywhere=False)}
    assert (regions.buckets["eu"][0], f"exports/{export.storage_key}") in eu_keys
    assert not any(export.storage_key in key for _b, key, _d in regions.objects("us"))
    with pytest.raises(ValidationError) as refused:
        account_services.update_tenant(eu.pk, SYSTEM, storage_region="us")
    assert "1 export bundle in region eu" in refused.value.message_dict["storage_region"][0]


def test_the_duration_backfill_reads_each_recording_in_its_tenants_region(regions, tenants):
    from django.core.management import call_command

    from tests.artifacts.test_media_duration import pcm_wav

    recordings = {
        region: ArtifactFactory(interaction=InteractionFactory(tenant=tenant), content=pcm_wav(30), filename="a.wav")
        for region, tenant in tenants.items()
    }
    Artifact.objects.update(duration_seconds=None)
    call_command("artifact_durations")
    assert {Artifact.objects.get(pk=a.pk).duration_seconds for a in recordings.values()} == {30.0}
