"""The soak's replay (what ``bench/soak.py`` prints as a regression test when it finds a violation):
a seed's first operations, carried out in order through the services against S3 with Object Lock,
satisfy every invariant the soak checks — and the checks do catch a broken promise."""

import pytest

from artifacts.models import Artifact
from core.vocabulary import ArtifactState
from tests import soak

pytestmark = [pytest.mark.s3, pytest.mark.django_db(transaction=True)]


def test_a_seeds_first_operations_replayed_in_order_keep_every_invariant(s3_storages, s3_client, settings):
    settings.S3_OBJECT_LOCK, settings.JOBS_INLINE = True, True
    world, watch = soak.replay(1, 40, interactions=8)
    assert [v.line() for v in soak.final_violations(world, watch, s3_client, s3_storages)] == []

    # A tombstone whose bytes are still there is found (the checks are not vacuous).
    survivor = Artifact.objects.filter(tenant_id=world.tenant_id).present().not_locked().first()
    Artifact.objects.filter(pk=survivor.pk).update(state=ArtifactState.DELETED, deleted_at=survivor.created_at)
    found = {v.kind for v in soak.final_violations(world, watch, s3_client, s3_storages)}
    assert {"tombstone_bytes_left", "tombstone_without_event"} <= found

    # Bytes whose write failed wait for their upload's intent to be resumed: not a violation while
    # work runs, one once quiescent (the resume has run by then and must have removed them).
    from artifacts.models import PendingUpload

    PendingUpload.objects.create(tenant_id=world.tenant_id, storage="active", storage_key=survivor.storage_key)
    running = {v.kind for v in soak.storage_truth(world, s3_client, s3_storages, quiescent=False)}
    assert "tombstone_bytes_left" not in running
    quiet = {v.kind for v in soak.storage_truth(world, s3_client, s3_storages)}
    assert "tombstone_bytes_left" in quiet
