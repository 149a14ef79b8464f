"""Legal matters (named holds): an Add Lock naming a matter makes its locks the matter's; releasing
or closing a matter releases exactly its locks (other matters' locks on the same content stay);
the tenant setting that makes a matter required; counts computed in SQL; everything audited."""

import datetime as dt
import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import services as account_services
from accounts.actors import user_actor
from accounts.models import AuditEvent
from accounts.permissions import COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from artifacts import matter_services
from artifacts.models import Artifact, Lock, ManagementRequest, Matter
from core.vocabulary import ANY, ArtifactType
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request, process_request

pytestmark = pytest.mark.django_db
RequestType = ManagementRequest.RequestType


@pytest.fixture
def officer(acme, member):
    return member(acme, COMPLIANCE_OFFICER)


def new_matter(tenant, actor, case_id="CASE-1", **fields):
    values = {"name": "Smith v. Acme", "reason": "Litigation hold ordered by counsel", "owner_id": actor.pk}
    values.update(fields)
    return matter_services.create_matter(tenant.pk, user_actor(actor), case_id=case_id, **values)


def lock_for(tenant, user, interactions, matter=None, **fields):
    return management_request(
        tenant,
        user,
        RequestType.ADD_LOCK,
        interactions,
        process=True,
        matter=matter.case_id if matter else "",
        **fields,
    )


def test_add_lock_naming_a_matter_gives_it_the_locks(acme, officer):
    matter = new_matter(acme, officer)
    interaction = InteractionFactory(tenant=acme)
    req = lock_for(acme, officer, [interaction], matter)
    assert req.status == ManagementRequest.Status.COMPLETE and req.matter_id == matter.pk
    locks = Lock.objects.filter(interaction=interaction)
    assert locks.exists() and set(locks.values_list("matter_id", flat=True)) == {matter.pk}
    event = AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCK_ADDED, interaction_guid=interaction.guid).get()
    assert event.details["matter"] == matter.pk


def test_releasing_a_matter_leaves_other_matters_locks_on_the_same_content(acme, officer):
    first, second = new_matter(acme, officer, "CASE-1"), new_matter(acme, officer, "CASE-2", name="Doe v. Acme")
    shared, only_first = InteractionFactory(tenant=acme), InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=shared)
    alone = ArtifactFactory(interaction=only_first)
    lock_for(acme, officer, [shared, only_first], first)
    lock_for(acme, officer, [shared], second)

    req = matter_services.release_matter(first.pk, user_actor(officer), confirmed=True)
    assert req.request_type == RequestType.REMOVE_LOCK and req.matter_id == first.pk and req.interaction_count == 2
    process_request(req.pk)

    assert not Lock.objects.active().filter(matter=first).exists()
    assert Lock.objects.active().filter(matter=second, interaction=shared).exists()
    assert Artifact.objects.filter(pk=recording.pk).locked().exists(), "the other matter still holds it"
    assert not Artifact.objects.filter(pk=alone.pk).locked().exists()
    items = {i.interaction_id: i for i in ManagementRequest.objects.get(pk=req.pk).items.all()}
    assert items[shared.pk].unlocked == 0 and items[only_first.pk].unlocked == 1


def test_closing_a_matter_releases_its_locks_through_a_request_and_keeps_it(acme, officer):
    matter = new_matter(acme, officer)
    interaction = InteractionFactory(tenant=acme)
    lock_for(acme, officer, [interaction], matter)
    closed, req = matter_services.close_matter(matter.pk, user_actor(officer), confirmed=True)
    assert closed.status == Matter.Status.CLOSED and closed.closed_by == officer.username
    process_request(req.pk)
    assert not Lock.objects.active().filter(matter=matter).exists()
    assert Matter.objects.filter(pk=matter.pk).exists()
    closing = AuditEvent.objects.get(kind=AuditEvent.Kind.MATTER_CLOSED)
    assert closing.request_id == req.pk and closing.details["matter"] == matter.pk
    with pytest.raises(ValidationError, match="closed"):
        lock_for(acme, officer, [interaction], matter)


def test_matter_required_by_the_tenant_setting(acme, officer):
    account_services.update_tenant(acme.pk, SYSTEM, matter_required_for_locks=True)
    interaction = InteractionFactory(tenant=acme)
    with pytest.raises(ValidationError) as refused:
        lock_for(acme, officer, [interaction])
    assert refused.value.message_dict["matter"][0].startswith("Matter: required")
    assert not ManagementRequest.objects.exists()
    lock_for(acme, officer, [interaction], new_matter(acme, officer))
    assert Lock.objects.active().filter(interaction=interaction).exists()


def test_unknown_matter_and_matter_on_delete_are_refused_naming_the_field(acme, officer):
    interaction = InteractionFactory(tenant=acme)
    with pytest.raises(ValidationError) as unknown:
        management_request(acme, officer, RequestType.ADD_LOCK, [interaction], matter="NOPE")
    assert "Matter: no legal matter" in unknown.value.message_dict["matter"][0]
    new_matter(acme, officer)
    with pytest.raises(ValidationError) as on_delete:
        management_request(acme, officer, RequestType.DELETE, [interaction], matter="CASE-1")
    assert on_delete.value.message_dict["matter"][0].startswith("Matter: only applies")


def test_counts_of_what_a_matter_holds(acme, officer, django_assert_max_num_queries):
    matter = new_matter(acme, officer)
    a, b = InteractionFactory(tenant=acme), InteractionFactory(tenant=acme)
    sizes = [ArtifactFactory(interaction=a).size, ArtifactFactory(interaction=b).size]
    ArtifactFactory(interaction=b, artifact_type=ArtifactType.SCRIPT, content_key=str(uuid.uuid4()))  # outside Any
    lock_for(acme, officer, [a, b], matter, artifact_type=ANY)
    with django_assert_max_num_queries(1):
        row = Matter.objects.with_counts().get(pk=matter.pk)
    assert (row.held_interactions, row.held_artifacts, row.held_bytes) == (2, 2, sum(sizes))


def test_case_ids_are_unique_per_tenant_and_fields_are_required(acme, globex, officer, member):
    new_matter(acme, officer)
    with pytest.raises(ValidationError) as twice:
        new_matter(acme, officer)
    assert "case_id" in twice.value.message_dict
    other = member(globex, COMPLIANCE_OFFICER)
    new_matter(globex, other)  # the same case id in another tenant is another matter
    with pytest.raises(ValidationError) as empty:
        new_matter(acme, officer, "CASE-9", name=" ", reason="", owner_id=other.pk)
    assert set(empty.value.message_dict) == {"name", "reason", "owner"}
    assert Matter.objects.filter(tenant=acme).count() == 1


def test_permissions_are_the_lock_permissions(acme, member, officer):
    viewer, supervisor = member(acme, VIEWER), member(acme, SUPERVISOR)
    with pytest.raises(PermissionDenied):
        new_matter(acme, viewer)
    matter = new_matter(acme, supervisor, owner_id=officer.pk)  # Add Lock permission: may create
    InteractionFactory(tenant=acme)
    with pytest.raises(PermissionDenied):
        matter_services.close_matter(matter.pk, user_actor(supervisor), confirmed=True)


def test_edit_is_audited_with_before_and_after(acme, officer, member):
    matter = new_matter(acme, officer)
    other = member(acme, COMPLIANCE_OFFICER)
    matter_services.update_matter(matter.pk, user_actor(officer), owner_id=other.pk, review_on=dt.date(2031, 1, 31))
    matter.refresh_from_db()
    assert matter.owner == other and matter.review_on == dt.date(2031, 1, 31)
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.MATTER_CHANGED)
    assert event.details["changed"] == {"owner_id": [officer.pk, other.pk], "review_on": [None, "2031-01-31"]}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    case_id=st.text(max_size=120),
    name=st.text(max_size=220),
    reason=st.text(max_size=50),
)
def test_any_text_is_saved_or_refused_by_field(acme, officer, case_id, name, reason):
    before = Matter.objects.count()
    try:
        new_matter(acme, officer, case_id, name=name, reason=reason)
    except ValidationError as exc:
        assert set(exc.message_dict) <= {"case_id", "name", "reason"}
        assert Matter.objects.count() == before
    else:
        assert Matter.objects.count() == before + 1


def test_commands_name_the_matter(acme, officer, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    matter = new_matter(acme, officer, "2024-CV-118")
    interaction = InteractionFactory(tenant=acme)
    ids = ["--ids", str(interaction.guid), "--user", officer.username]
    base = ["artifacts_requests", "create", "--tenant", "acme", "--type", "add_lock", "--artifact-type", "any"]
    with pytest.raises(CommandError, match="--matter: Matter: no legal matter"):
        call_command(*base, "--matter", "NOPE", *ids)
    call_command(*base, "--matter", "2024-CV-118", *ids)
    process_request(ManagementRequest.objects.get().pk)
    assert set(Lock.objects.values_list("matter_id", flat=True)) == {matter.pk}
    call_command("locks", "--tenant", "acme")
    out = capsys.readouterr().out
    assert "Matter" in out and "2024-CV-118" in out
