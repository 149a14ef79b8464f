"""Storage faults the soak (bench/soak.py) met, each replayed exactly: a fault proxy in front of the
S3 server (moto, Object Lock) fails one chosen call the way S3 and networks do, and the content's
promises still hold — a deleted artifact leaves no bytes behind, a stored one has exactly its bytes."""

import io

import pytest

from artifacts.models import Artifact
from core.vocabulary import ArtifactState
from tests.factories import SYSTEM, InteractionFactory, management_request
from tests.faultproxy import FaultProxy

pytestmark = [pytest.mark.s3, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def proxy(s3_server, s3_storages, settings):
    """The storages reach S3 through a fault proxy (with no faults until a test scripts one)."""
    with FaultProxy(s3_server) as proxy:
        settings.STORAGES = {
            **settings.STORAGES,
            **{
                name: {
                    **settings.STORAGES[name],
                    "OPTIONS": {**settings.STORAGES[name]["OPTIONS"], "endpoint_url": proxy.url},
                }
                for name in ("default", "active", "archive")
            },
        }
        settings.S3_OBJECT_LOCK = True
        yield proxy


def put_object(method, path):
    return method == "PUT" and "?" not in path


def versions(s3_client, bucket, key):
    listed = s3_client.list_object_versions(Bucket=bucket, Prefix=key)
    return [v["VersionId"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]


def store(call, content=b"RIFF recording " * 64):
    from artifacts.services import store_artifact

    return store_artifact(
        call.pk,
        actor=SYSTEM,
        artifact_type="audio_recording",
        audio_recording_type="conference_customer",
        content_key="callRecording",
        filename="recording.wav",
        stream=io.BytesIO(content),
    )


def test_an_upload_whose_answer_was_lost_leaves_one_version_and_deleting_it_leaves_no_bytes(
    acme, member, proxy, s3_storages, s3_client, settings
):
    """The soak's seed 1: S3 stored the upload, the answer was lost, boto sent it again — two
    versions of the key, the artifact recorded the second, and its Delete left the first behind."""
    settings.JOBS_INLINE = True
    active_bucket = s3_storages[0]
    call = InteractionFactory(tenant=acme)
    proxy.fail_next(put_object, "lost_answer")
    artifact = store(call)
    assert proxy.faults["lost_answer"] == 1, "the upload's answer was lost and boto retried it"
    assert versions(s3_client, active_bucket, artifact.storage_key) == [artifact.storage_version]

    officer = member(acme, "Compliance Officer", username="officer")
    management_request(acme, officer, "delete", [call])
    assert Artifact.objects.get(pk=artifact.pk).state == ArtifactState.DELETED
    assert versions(s3_client, active_bucket, artifact.storage_key) == [], "no byte of deleted content is left"
