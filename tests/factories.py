"""factory-boy factories for every model. Tenants come with their default roles (via services)."""

import io
import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from accounts import services as account_services
from accounts.actors import Actor, operator, user_actor
from accounts.models import Membership, Role, Tenant, User
from artifacts.models import Artifact, ManagementRequest
from artifacts.services import create_management_request, store_artifact
from config import jobs
from core.vocabulary import ANY, ArtifactType, AudioRecordingType, Channel, ContentKey, Direction, Origin
from interactions.models import Interaction

#: The tests' own operator: every grant on every tenant (like ``manage.py`` commands).
SYSTEM = operator("tests")


def as_actor(who):
    """An :class:`~accounts.actors.Actor` for ``who`` (a user or already an actor)."""
    return who if isinstance(who, Actor) else user_actor(who)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "holdfast-test")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class TenantFactory(factory.django.DjangoModelFactory):
    """A tenant created through the service, so it has Viewer ... Administrator roles."""

    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")
    time_zone = "Europe/Paris"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return account_services.create_tenant(actor=SYSTEM, **kwargs)


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Role {n}")
    permissions = ()

    @classmethod
    def _create(cls, model_class, tenant, name, permissions):
        return account_services.create_role(tenant.pk, name, permissions, SYSTEM)


class MembershipFactory(factory.django.DjangoModelFactory):
    """A user in a tenant with one of its roles (``role_name`` picks a default role)."""

    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role_name = "Viewer"

    @classmethod
    def _create(cls, model_class, user, tenant, role_name, role=None):
        role = role or Role.objects.get(tenant=tenant, name=role_name)
        return account_services.add_member(tenant.pk, username=user.username, role_id=role.pk, actor=SYSTEM)


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    tenant = factory.SubFactory(TenantFactory)
    guid = factory.LazyFunction(uuid.uuid4)
    channel = Channel.VOICE
    direction = Direction.INBOUND
    origin = Origin.QUEUE
    started_at = factory.Sequence(lambda n: timezone.now() - timedelta(minutes=n + 1))
    ended_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(seconds=90))
    duration_seconds = 90
    from_address = factory.Sequence(lambda n: f"+1555{n:07d}")
    to_address = "+15550000000"
    agent_name = "Sandra Schmidt"
    agent_id = "agent-1"
    source_system = "twilio-flex"
    source_call_id = factory.Sequence(lambda n: f"CA{n:032x}")
    source_task_id = factory.Sequence(lambda n: f"WT{n:032x}")
    metadata = factory.LazyFunction(lambda: {"campaign": "spring"})


class ArtifactFactory(factory.django.DjangoModelFactory):
    """An artifact with real bytes in the active storage, written through the storage service."""

    class Meta:
        model = Artifact

    interaction = factory.SubFactory(InteractionFactory)
    artifact_type = ArtifactType.AUDIO_RECORDING
    audio_recording_type = factory.LazyAttribute(
        lambda o: AudioRecordingType.CONFERENCE_CUSTOMER if o.artifact_type == ArtifactType.AUDIO_RECORDING else ""
    )
    content_key = ContentKey.CALL_RECORDING
    filename = "recording.wav"
    content = factory.Sequence(lambda n: f"RIFF-test-content-{n}-".encode() * 50)
    content_type = ""
    created_at = None

    @classmethod
    def _create(cls, model_class, interaction, content, **kwargs):
        return store_artifact(interaction.pk, actor=SYSTEM, stream=io.BytesIO(content), **kwargs)


def management_request(tenant, user, request_type, interactions, *, process=False, **fields):
    """An Artifacts Management Request saved through the service as ``user`` (a user, with the
    grants their roles give, or an actor), confirmed; with ``process=True`` also run as a worker
    runs it. Returns the row as the database has it now."""
    fields.setdefault("artifact_type", ANY)
    req = create_management_request(
        tenant.pk,
        as_actor(user),
        request_type=request_type,
        interaction_ids=",".join(str(i.guid) for i in interactions),
        confirmed=True,
        **fields,
    )
    if process:
        jobs.work("management_request", req.pk)
    return ManagementRequest.objects.get(pk=req.pk)


def demo_email_artifact(interaction, seed, content_key):
    """An Email artifact holding the demo generator's ``.eml`` (with an attachment); returns
    ``(artifact, attachment)`` as :func:`workspace.demo_content.email_message` describes it."""
    import random

    from workspace import demo_content

    message, attachment = demo_content.email_message(
        interaction, random.Random(seed), "Carla Customer", "help@acme.test"
    )
    artifact = ArtifactFactory(
        interaction=interaction,
        artifact_type=ArtifactType.EMAIL,
        content_key=content_key,
        content=message.data,
        filename=message.filename,
        content_type=message.content_type,
    )
    return artifact, attachment


def process_request(request_id):
    """Run a request as a worker does (claim, process, record a failure), in this process."""
    return jobs.work("management_request", request_id)


def fail_job(row, message="storage unreachable"):
    """Put a job row (request or sweep) in Error as the runner does when its work fails."""
    return jobs.fail(jobs.KINDS[row.job_kind], row.pk, message)


def row_values(obj):
    """Every column of ``obj``'s row as the database has it now (to prove nothing changed)."""
    row = type(obj).objects.get(pk=obj.pk)
    return {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}
