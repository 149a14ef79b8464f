"""Playing and downloading artifacts: permission-checked, streamed, with HTTP Range (206)."""

import os

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from artifacts.models import Artifact
from core.vocabulary import ArtifactState
from tests.factories import ArtifactFactory, InteractionFactory
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db

DATA = os.urandom(200_000)


@pytest.fixture
def recording(acme):
    return ArtifactFactory(interaction=InteractionFactory(tenant=acme), content=DATA, filename="call.wav")


def body(response):
    return b"".join(response.streaming_content)


def test_every_role_with_content_access_may_play_and_download(acme, recording):
    everyone = {VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}
    assert_role_matrix(reverse("artifact-play", args=["acme", recording.pk]), acme, everyone)
    assert_role_matrix(reverse("artifact-download", args=["acme", recording.pk]), acme, everyone)


def test_role_without_content_access_gets_403(acme, member, recording):
    from accounts import services
    from accounts.models import Role
    from tests.factories import SYSTEM

    viewer_role = Role.objects.get(tenant=acme, name=VIEWER)
    services.set_role_permissions(viewer_role.pk, ["view_interactions"], SYSTEM)
    client = client_for(member(acme, VIEWER))
    assert client.get(reverse("artifact-play", args=["acme", recording.pk])).status_code == 403
    detail = client.get(reverse("interaction-detail", args=["acme", recording.interaction.guid]))
    assert detail.status_code == 200
    assert b"Download" not in detail.content  # not offered either


def test_full_download(acme, member, recording):
    response = client_for(member(acme)).get(reverse("artifact-download", args=["acme", recording.pk]))
    assert response.status_code == 200
    assert body(response) == DATA
    assert response["Content-Length"] == str(len(DATA))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == 'attachment; filename="call.wav"'
    assert response["Content-Type"] == "audio/x-wav" or response["Content-Type"].startswith("audio/")
    assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    "header,start,end",
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, 199_999),
        ("bytes=-500", 199_500, 199_999),
        ("bytes=199990-300000", 199_990, 199_999),
    ],
)
def test_range_returns_the_right_bytes_with_206(acme, member, recording, header, start, end):
    response = client_for(member(acme)).get(
        reverse("artifact-play", args=["acme", recording.pk]), headers={"range": header}
    )
    assert response.status_code == 206
    assert body(response) == DATA[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response["Content-Length"] == str(end - start + 1)
    assert response["Content-Disposition"].startswith("inline")


def test_unsatisfiable_range_is_416(acme, member, recording):
    response = client_for(member(acme)).get(
        reverse("artifact-play", args=["acme", recording.pk]), headers={"range": "bytes=500000-"}
    )
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(DATA)}"


def test_multiple_ranges_fall_back_to_the_whole_file(acme, member, recording):
    response = client_for(member(acme)).get(
        reverse("artifact-play", args=["acme", recording.pk]), headers={"range": "bytes=0-1,5-6"}
    )
    assert response.status_code == 200 and body(response) == DATA


@pytest.mark.s3
def test_range_on_s3(acme, member, s3_storages):
    artifact = ArtifactFactory(interaction=InteractionFactory(tenant=acme), content=DATA)
    response = client_for(member(acme)).get(
        reverse("artifact-play", args=["acme", artifact.pk]), headers={"range": "bytes=100-199"}
    )
    assert response.status_code == 206 and body(response) == DATA[100:200]


def test_deleted_artifact_is_gone_with_its_tombstone_shown(acme, member, recording):
    # A tombstone as later deletion services leave it (written directly: no delete service yet).
    Artifact.objects.filter(pk=recording.pk).update(
        state=ArtifactState.DELETED,
        deleted_at=timezone.now(),
        deleted_by="policy: Default",
        deletion_reason="365 days",
    )
    response = client_for(member(acme)).get(reverse("artifact-download", args=["acme", recording.pk]))
    assert response.status_code == 410
    assert b"cannot be retrieved" in response.content
