"""The statements of a lock change (bench/management_requests.py measures them against hand-written
SQL): what the lock_added events count, that the audit statement reads no artifact again, that the
statements do not grow with the interactions, and the two expressions of core/sql.py behind them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.actors import user_actor
from accounts.models import AuditEvent
from artifacts import services
from artifacts.models import Artifact, Lock
from core.sql import AnyOf, LookUp
from core.vocabulary import ANY, ArtifactState
from interactions.models import Interaction
from tests.factories import ArtifactFactory, InteractionFactory, management_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(acme, member):
    return user_actor(member(acme, "Administrator"))


def test_lock_added_events_count_the_present_artifacts_of_each_interaction(acme, admin):
    empty, two, three = (InteractionFactory(tenant=acme) for _ in range(3))
    ArtifactFactory.create_batch(2, interaction=two)
    kept = ArtifactFactory.create_batch(3, interaction=three)
    Artifact.objects.filter(pk=kept[0].pk).update(state=ArtifactState.DELETED, deleted_at=timezone.now())

    change = services.add_locks(acme.pk, [empty.pk, two.pk, three.pk], admin, selection=ANY)

    assert dict(change.matched) == {two.pk: 2, three.pk: 2}
    counted = dict(
        AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCK_ADDED).values_list(
            "interaction_guid", "details__artifacts_locked"
        )
    )
    assert counted == {empty.guid: 0, two.guid: 2, three.guid: 2}


def test_the_lock_change_statements_do_not_grow_and_the_audit_reads_no_artifact(acme, admin):
    """The audit statement once counted each interaction's artifacts with a correlated subquery:
    with the tenant's state index chosen it read every present artifact per interaction (1.2 s of
    a 1.4 s Add Lock of 200 interactions)."""
    calls = [InteractionFactory(tenant=acme) for _ in range(12)]
    for call in calls:
        ArtifactFactory(interaction=call)
    admin.perms_on(acme.pk)  # the actor's grants are read once, before either is counted

    def statements(interactions, change):
        with CaptureQueriesContext(connection) as queries:
            change(acme.pk, [i.pk for i in interactions], admin, selection=ANY)
        return [q["sql"] for q in queries.captured_queries]

    few, many = statements(calls[:2], services.add_locks), statements(calls[2:], services.add_locks)
    assert len(few) == len(many)
    (audit,) = [sql for sql in many if "accounts_auditevent" in sql]
    assert "artifacts_artifact" not in audit
    assert len(statements(calls[:2], services.release_locks)) == len(statements(calls[2:], services.release_locks))
    assert Lock.objects.active().count() == 0
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCK_REMOVED).count() == 12 * 10  # Any: 10 per interaction


def test_request_items_record_the_results_of_the_batch(acme, member):
    user = member(acme, "Administrator")
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    for n, call in enumerate(calls):
        ArtifactFactory.create_batch(n, interaction=call)
    req = management_request(acme, user, "add_lock", calls, process=True)
    assert [(i.status, i.matched, i.locked) for i in req.items.order_by("position")] == [
        ("done", 0, 0),
        ("done", 1, 1),
        ("done", 2, 2),
    ]
    assert all(i.finished_at for i in req.items.all())


def test_any_of_filters_by_the_ids_and_asks_nothing_for_none(acme):
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    chosen = {calls[0].pk, calls[2].pk}
    assert set(Interaction.objects.filter(AnyOf("id", chosen)).values_list("pk", flat=True)) == chosen
    with CaptureQueriesContext(connection) as queries:
        assert list(Interaction.objects.filter(AnyOf("id", []))) == []
        assert Interaction.objects.filter(AnyOf("id", [])).update(direction="outbound") == 0
    assert queries.captured_queries == []


def test_look_up_gives_each_row_its_value_or_the_default(acme):
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    values = dict(
        Interaction.objects.filter(tenant=acme)
        .annotate(n=LookUp({calls[0].pk: 7, calls[1].pk: 0}))
        .values_list("pk", "n")
    )
    assert values == {calls[0].pk: 7, calls[1].pk: 0, calls[2].pk: 0}


def test_remove_lock_counts_as_unlocked_only_the_artifacts_a_lock_covered(acme, admin):
    """``changed`` of a release is worked out from the released locks and the row-locked artifacts
    (no EXISTS per artifact): an artifact no lock covered is matched, not unlocked."""
    from core.vocabulary import ArtifactType, AudioRecordingType

    call, other = InteractionFactory(tenant=acme), InteractionFactory(tenant=acme)
    ArtifactFactory.create_batch(2, interaction=call)  # audio, conference customer
    ArtifactFactory(interaction=call, audio_recording_type=AudioRecordingType.CONFERENCE_AGENT)
    ArtifactFactory(interaction=other)
    services.add_locks(
        acme.pk,
        [call.pk],
        admin,
        selection=ArtifactType.AUDIO_RECORDING,
        audio_recording_type=AudioRecordingType.CONFERENCE_CUSTOMER,
    )
    expired = services.add_locks(acme.pk, [other.pk], admin, selection=ANY)
    Lock.objects.filter(interaction=other).update(expires_at=timezone.now())  # no longer protects
    assert dict(expired.matched) == {other.pk: 1}

    change = services.release_locks(acme.pk, [call.pk, other.pk], admin, selection=ANY)

    assert dict(change.matched) == {call.pk: 3, other.pk: 1}
    assert dict(change.changed) == {call.pk: 2}
    assert not Artifact.objects.locked().exists()


@pytest.mark.parametrize("request_type", ["add_lock", "remove_lock"])
def test_the_outcome_commits_with_the_last_batch_or_not_at_all(acme, member, monkeypatch, request_type):
    """Without storage holds to follow, a lock request's last batch, its items' results and the
    request's outcome (status, audit event) are one transaction: a failure while finishing leaves
    no lock change behind a request that says Error, and Retry then does the work once."""
    from artifacts import processing
    from artifacts.models import ManagementRequest, ManagementRequestItem
    from config import jobs

    user = member(acme, "Administrator")
    calls = [InteractionFactory(tenant=acme) for _ in range(3)]
    for call in calls:
        ArtifactFactory.create_batch(2, interaction=call)
    if request_type == "remove_lock":
        management_request(acme, user, "add_lock", calls, process=True)

    def locked_interactions():
        return Lock.objects.active().values("interaction_id").distinct().count()

    locked_before = locked_interactions()
    real_record = processing.audit.record

    def failing_record(tenant_id, kind, *args, **kwargs):
        if kind == AuditEvent.Kind.REQUEST_COMPLETED:
            raise RuntimeError("the audit trail refused the outcome")
        return real_record(tenant_id, kind, *args, **kwargs)

    monkeypatch.setattr(processing.audit, "record", failing_record)
    req = management_request(acme, user, request_type, calls, process=True)
    assert req.status == ManagementRequest.Status.ERROR and req.retryable
    assert locked_interactions() == locked_before, "the lock change rolled back with the outcome"
    assert set(req.items.values_list("status", flat=True)) == {ManagementRequestItem.Status.PENDING}

    monkeypatch.setattr(processing.audit, "record", real_record)
    services.retry_management_request(req.pk, user_actor(user))
    jobs.work("management_request", req.pk)
    req.refresh_from_db()
    assert req.status == ManagementRequest.Status.COMPLETE
    assert locked_interactions() == (3 if request_type == "add_lock" else 0)
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.REQUEST_COMPLETED, request_id=req.pk).count() == 1
