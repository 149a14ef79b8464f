"""The API when the storage fails (found by the soak, bench/soak.py, 20 minutes with 4 workers): a
DELETE whose storage call fails after the deletion was decided answered a bare 500. It answers a
problem (503, ``Retry-After``); the decision stands and the resume finishes it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from artifacts import disposal
from artifacts.models import Artifact
from core.vocabulary import ArtifactState
from tests.factories import ArtifactFactory, InteractionFactory
from tests.faultproxy import FaultProxy, route_storages_through

pytestmark = [pytest.mark.s3, pytest.mark.django_db(transaction=True)]


def test_a_delete_the_storage_fails_answers_503_and_the_resume_finishes_it(
    acme, integrator, s3_server, s3_storages, s3_client, settings
):
    settings.S3_OBJECT_LOCK = True
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call)
    client = integrator(["interaction-content:read", "interaction-content:delete"])
    with FaultProxy(s3_server) as proxy:
        route_storages_through(settings, proxy)
        for _ in range(6):  # more than boto3's attempts
            proxy.fail_next(lambda method, path: method == "POST" and "?delete" in path, "slowdown")
        response = client.delete(f"/api/v1/interactions/{call.guid}/content/{recording.pk}")
        proxy.scripted.clear()
        check_the_answer_and_the_resume(client, call, recording, response, s3_client, s3_storages)


def check_the_answer_and_the_resume(client, call, recording, response, s3_client, s3_storages):
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert int(response["Retry-After"]) >= 1
    assert "finished automatically" in response.json()["detail"]
    assert Artifact.objects.get(pk=recording.pk).state == ArtifactState.DELETING, "the decision stands"
    again = client.delete(f"/api/v1/interactions/{call.guid}/content/{recording.pk}")
    assert again.status_code == 410

    disposal.resume_interrupted(now=timezone.now() + disposal.RESUME_AFTER + timedelta(seconds=1))
    assert Artifact.objects.get(pk=recording.pk).state == ArtifactState.DELETED
    listed = s3_client.list_object_versions(Bucket=s3_storages[0], Prefix=recording.storage_key)
    assert not listed.get("Versions") and not listed.get("DeleteMarkers")
