"""``manage.py seed_demo``: demo tenants, users and interactions with real content (idempotent).

Every interaction is derived from ``(tenant slug, index)`` alone: its GUID is
``uuid5(SEED_NAMESPACE, "<slug>:<index>")`` and its fields and content come from
``random.Random("<slug>:<index>")``. A re-run therefore recreates exactly the interactions that
are missing and leaves the others (and their files) alone.

Up to ``--bulk-threshold`` interactions per tenant, interactions and artifacts are created
through the services (``create_interaction``, ``store_artifact``: audited, each artifact its own
file). Above it (benchmark data, millions of rows), rows are loaded in batches with ``COPY`` (no
audit events: this is data loading, not a product action) and each artifact's object is a cheap
clone of one template per kind (a hard link on the file system, a server-side copy on S3): every
artifact still has its own storage key, as the delete path requires.
"""

import hashlib
import io
import json
import random
import time
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.db.models import JSONField
from django.utils import timezone
from psycopg import sql

from accounts import services as account_services
from accounts.actors import operator
from accounts.models import Membership, Role, Tenant, User
from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from artifacts import media
from artifacts.models import Artifact
from artifacts.services import store_artifact
from artifacts.storage import StoredObject, get_storage, new_key
from core.regions import default_region, region_names
from core.vocabulary import ArtifactState, Channel, Origin
from interactions.models import Interaction
from interactions.services import EDITABLE_FIELDS, create_interaction
from workspace import demo_content

SEED_NAMESPACE = uuid.UUID("5b0f1e8e-3c1d-5a4e-9c61-6f1d2a7b9e40")
PASSWORD = "holdfast-demo"
ACTOR = operator("manage.py seed_demo")
BATCH = 5000
NORMAL_BATCH = 100  # interactions per transaction when every artifact gets its own file

PROFILES = {
    "acme": {
        "name": "Acme Contact Center", "time_zone": "America/New_York", "region": "us",
        "numbers": ("+18885550100", "+18885550123"), "domain": "acme.example",
        "languages": ("en-US", "en-US", "es-US"),
    },
    "globex": {
        "name": "Globex Support", "time_zone": "Europe/Berlin", "region": "eu",
        "numbers": ("+4930901820", "+498920911000"), "domain": "globex.example",
        "languages": ("de-DE", "de-DE", "en-GB", "fr-FR"),
    },
}  # fmt: skip
ROLE_USERS = (
    ("viewer", VIEWER),
    ("supervisor", SUPERVISOR),
    ("compliance", COMPLIANCE_OFFICER),
    ("admin", ADMINISTRATOR),
)
AGENTS = (
    ("4101", "Sandra Schmidt"), ("4102", "Marcus Lee"), ("4103", "Priya Nair"), ("4104", "Tomás García"),
    ("4105", "Aiko Tanaka"), ("4106", "Jonas Berg"), ("4107", "Fatima Zahra"), ("4108", "Liam O'Brien"),
)  # fmt: skip
FIRST = ("Jordan", "Maria", "Chen", "Olivia", "Noah", "Amara", "Lukas", "Sofia", "Mateo", "Hannah", "Emma")
LAST = ("Rivera", "Mueller", "Okafor", "Smith", "Rossi", "Kowalski", "Nguyen", "Dubois", "Haddad", "Jensen")
CAMPAIGNS = ("spring-renewals", "winback", "onboarding", "billing-support", "loyalty", "product-recall")
QUEUES = ("Billing", "Technical Support", "Sales", "Retention", "General")
CHANNEL_WEIGHTS = {
    Channel.VOICE: 55, Channel.EMAIL: 12, Channel.CHAT: 11, Channel.SMS: 8,
    Channel.WHATSAPP: 7, Channel.MESSENGER: 4, Channel.VIDEO: 3,
}  # fmt: skip
#: The first interactions of every tenant show each channel and each kind of content at least once:
#: (channel, direction, origin or None, flags).
SHOWCASE = (
    (Channel.VOICE, "inbound", Origin.QUEUE, {"agent", "qm", "script"}),
    (Channel.EMAIL, "inbound", None, set()),
    (Channel.CHAT, "inbound", None, {"attachment"}),
    (Channel.SMS, "outbound", None, set()),
    (Channel.WHATSAPP, "inbound", None, {"attachment"}),
    (Channel.MESSENGER, "inbound", None, set()),
    (Channel.VIDEO, "inbound", None, set()),
    (Channel.VOICE, "inbound", Origin.IVR, {"agent"}),
    (Channel.VOICE, "inbound", Origin.QUEUE, {"voicemail"}),
    (Channel.VOICE, "inbound", Origin.IVR, {"voicemail", "legacy"}),
    (Channel.VOICE, "outbound", Origin.DIALER, {"partial", "script"}),
    (Channel.EMAIL, "outbound", None, set()),
)


@dataclass
class Planned:
    """An unsaved interaction, the artifacts it will get (kind, content key) and its generator."""

    interaction: Interaction
    customer: str
    rng: random.Random
    artifacts: list = field(default_factory=list)


def guid_for(slug, index):
    """The GUID of a tenant's ``index``-th demo interaction; the same on every run."""
    return uuid.uuid5(SEED_NAMESPACE, f"{slug}:{index}")


def _sid(rng, prefix):
    return f"{prefix}{rng.getrandbits(128):032x}"


def _phone(rng, slug):
    if slug == "globex":
        return f"+49{rng.choice(('30', '40', '89', '221'))}{rng.randrange(1_000_000, 9_999_999)}"
    return f"+1{rng.randrange(201, 990)}555{rng.randrange(100, 200):04d}"  # 555-01xx: fictional


def _started_at(rng, tz, now, seconds):
    """A time in business hours (tenant-local) within the last 90 days, ending before ``now``."""
    local_day = now.astimezone(tz).date() - timedelta(days=rng.randrange(90))
    hour = rng.choices(range(8, 20), weights=(3, 6, 8, 8, 6, 5, 7, 8, 7, 5, 3, 2))[0]
    start = datetime(
        local_day.year, local_day.month, local_day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=tz
    )
    if start + timedelta(seconds=seconds) > now:
        start -= timedelta(days=1)
    return start.astimezone(UTC)


def make_interaction(tenant, slug, index, now):
    """The ``index``-th demo interaction of a tenant (unsaved) and the artifacts it gets."""
    profile = PROFILES[slug]
    rng = random.Random(f"{slug}:{index}")
    showcase = SHOWCASE[index] if index < len(SHOWCASE) else None
    flags = showcase[3] if showcase else set()

    def chance(flag, p):
        return flag in flags if showcase else rng.random() < p

    if showcase:
        channel, direction, origin = showcase[:3]
    else:
        channel = rng.choices(list(CHANNEL_WEIGHTS), weights=CHANNEL_WEIGHTS.values())[0]
        direction = "inbound" if rng.random() < (0.7 if channel == Channel.VOICE else 0.8) else "outbound"
        origin = None
    voice = channel == Channel.VOICE
    if origin is None and voice:
        choices = ((Origin.QUEUE, 6), (Origin.IVR, 3), (Origin.CLICK_TO_CALL, 1))  # dialer: outbound only
        if direction == "outbound":
            choices = ((Origin.DIALER, 6), (Origin.CLICK_TO_CALL, 4))
        origin = rng.choices([o for o, _ in choices], weights=[w for _, w in choices])[0]
    elif origin is None:
        origin = Origin.QUEUE if direction == "inbound" else Origin.CLICK_TO_CALL
    voicemail = voice and direction == "inbound" and chance("voicemail", 0.08)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    agent_id, agent_name = rng.choice(AGENTS)
    if channel == Channel.EMAIL:
        customer = f"{first}.{last}{rng.randrange(10, 99)}@example.com".lower()
        ours = f"support@{profile['domain']}"
    elif channel in (Channel.CHAT, Channel.MESSENGER, Channel.VIDEO):
        prefix = {Channel.CHAT: "web", Channel.MESSENGER: "messenger", Channel.VIDEO: "video"}[channel]
        customer = f"{prefix}:{first.lower()}-{rng.randrange(1000, 9999)}"
        ours = f"{prefix}:{slug}-support"
    else:
        customer, ours = _phone(rng, slug), rng.choice(profile["numbers"])
    base = {Channel.VOICE: 240, Channel.EMAIL: 300, Channel.VIDEO: 600}.get(channel, 420)
    seconds = rng.randrange(15, 90) if voicemail else int(min(max(rng.lognormvariate(0, 0.6) * base, 20), 3600))
    started = _started_at(rng, zoneinfo.ZoneInfo(profile["time_zone"]), now, seconds)
    interaction = Interaction(
        guid=guid_for(slug, index),
        tenant=tenant,
        channel=channel,
        direction=direction,
        origin=origin,
        started_at=started,
        ended_at=started + timedelta(seconds=seconds),
        duration_seconds=seconds,
        from_address=customer if direction == "inbound" else ours,
        to_address=ours if direction == "inbound" else customer,
        agent_id=agent_id,
        agent_name=agent_name,
        source_system="twilio-flex",
        source_call_id=_sid(rng, {Channel.VOICE: "CA", Channel.VIDEO: "RM"}.get(channel, "CH")),
        source_task_id=_sid(rng, "WT"),
        created_at=now,
        metadata={
            "campaign": rng.choice(CAMPAIGNS),
            "language": rng.choice(profile["languages"]),
            "queue": rng.choice(QUEUES),
            "customer_id": f"C{rng.randrange(100_000, 999_999)}",
        },
    )
    planned = Planned(interaction, f"{first} {last}", rng)
    if voicemail:
        kinds = ["voicemail_legacy" if chance("legacy", 0.2) else "voicemail"]
    elif voice:
        kinds = ["call_customer"]
        kinds += ["call_agent"] if chance("agent", 0.6) else []
        kinds += ["transcript"] if showcase or rng.random() < 0.9 else []
        kinds += ["categorization"] if showcase or rng.random() < 0.8 else []
        kinds += ["partial"] if chance("partial", 0.05) else []
        kinds += ["qm_audio", "qm_screen"] if chance("qm", 0.15) else []
        kinds += ["script"] if chance("script", 0.5 if origin == Origin.DIALER else 0.05) else []
    elif channel == Channel.EMAIL:
        kinds = ["email", "email_attachment"]
    elif channel == Channel.VIDEO:
        kinds = ["qm_screen"]
    else:
        kinds = ["chat_transcript"] + (["chat_attachment"] if chance("attachment", 0.4) else [])
    if voice and origin == Origin.IVR:
        kinds.insert(0, "ivr")
    for kind in kinds:
        key = demo_content.KINDS[kind].content_key
        if key == "uuid":
            key = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        elif key == "legacy":
            key = f"voicemail-{agent_id}"
        planned.artifacts.append((kind, key))
    return planned


class Command(BaseCommand):
    """Seed (or top up) the demo tenants; see the module docstring for how re-runs stay idempotent."""

    help = "Create the demo tenants acme and globex, their users, and interactions with real content."

    def add_arguments(self, parser):
        parser.add_argument("--interactions", type=int, default=2000, metavar="N", help="Per tenant.")
        parser.add_argument("--tenant", choices=sorted(PROFILES), help="Seed only this demo tenant.")
        parser.add_argument(
            "--bulk-threshold", type=int, default=5000, metavar="N",
            help="Above N interactions per tenant: bulk inserts, one shared blob per artifact kind.",
        )  # fmt: skip

    def handle(self, *args, interactions, tenant, bulk_threshold, **options):
        begun, self.now, self._pool = time.monotonic(), timezone.now(), None
        self.verbose = options["verbosity"] >= 1
        if not User.objects.filter(username="support").exists():
            User.objects.create_superuser("support", "support@holdfast.example", PASSWORD)
        slugs = [tenant] if tenant else list(PROFILES)
        for slug in slugs:
            started, bulk = time.monotonic(), interactions > bulk_threshold
            seed = self._seed_bulk if bulk else self._seed_files
            created, present, artifacts, files = seed(self._ensure_tenant(slug), slug, max(interactions, 0))
            self.stdout.write(
                f"{slug}: {created:,} interactions created, {present:,} already present; {artifacts:,} "
                f"artifacts, {files:,} files written{' (bulk, shared blobs)' if bulk else ''} "
                f"in {time.monotonic() - started:.1f} s"
            )
        self.stdout.write(f"Done in {time.monotonic() - begun:.1f} s. Demo logins (password {PASSWORD}):")
        for slug in slugs:
            self.stdout.write("  " + "  ".join(f"{prefix}-{slug}" for prefix, _ in ROLE_USERS))
        self.stdout.write("  support (superuser, /admin/)")

    def _ensure_tenant(self, slug):
        """The demo tenant (created with its default roles if missing) and one member per role."""
        profile = PROFILES[slug]
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            # Scheduled sweeps start tomorrow: the demo's old outbound dialer recordings are due at
            # once under the default policies, and should not be gone before anyone looked at them.
            tomorrow = timezone.localdate(timezone.now(), zoneinfo.ZoneInfo(profile["time_zone"])) + timedelta(days=1)
            tenant = account_services.create_tenant(
                profile["name"],
                slug,
                time_zone=profile["time_zone"],
                actor=ACTOR,
                # The demo's region where the deployment has one of that name, else its default region.
                storage_region=profile["region"] if profile["region"] in region_names() else default_region(),
                sweeps_start_on=tomorrow,
            )
        for prefix, role_name in ROLE_USERS:
            username = f"{prefix}-{slug}"
            if not Membership.objects.filter(tenant=tenant, user__username=username).exists():
                role = Role.objects.get(tenant=tenant, name=role_name)
                account_services.add_member(
                    tenant.pk, username=username, email=f"{prefix}@{profile['domain']}", password=PASSWORD,
                    role_id=role.pk, actor=ACTOR,
                )  # fmt: skip
        return tenant

    def _missing(self, tenant, slug, indexes):
        """The indexes whose GUID the tenant does not have yet (one query per batch)."""
        guids = {guid_for(slug, i): i for i in indexes}
        have = set(Interaction.objects.filter(tenant=tenant, guid__in=list(guids)).values_list("guid", flat=True))
        return [i for guid, i in guids.items() if guid not in have]

    def _progress(self, slug, done, total, started):
        if self.verbose:
            rate = done / max(time.monotonic() - started, 1e-6)
            self.stdout.write(f"  {slug}: {done:,}/{total:,} interactions ({rate:,.0f}/s)")

    def _audio(self, purpose, rng):
        if self._pool is None:  # only runs that write audio pay for speech synthesis
            self._pool = demo_content.build_audio_pool()
        return self._pool[purpose][rng.randrange(len(self._pool[purpose]))]

    def _seed_files(self, tenant, slug, total):
        """Create the missing interactions; every artifact through ``store_artifact``, its own file."""
        created = present = artifacts = 0
        started = time.monotonic()
        for start in range(0, total, NORMAL_BATCH):
            indexes = range(start, min(total, start + NORMAL_BATCH))
            missing = self._missing(tenant, slug, indexes)
            present += len(indexes) - len(missing)
            written = []
            try:
                with transaction.atomic():
                    planned = [make_interaction(tenant, slug, i, self.now) for i in missing]
                    for p in planned:
                        p.interaction, _ = create_interaction(tenant.pk, ACTOR, **_fields(p.interaction))
                        self._store(p, written)
            except BaseException:
                # The batch's rows are rolled back: remove its files too, so none is left unrecorded.
                get_storage("active", tenant.storage_region).delete_many(written)
                raise
            created, artifacts = created + len(missing), artifacts + len(written)
            if missing and indexes.stop % 500 == 0:
                self._progress(slug, indexes.stop, total, started)
        return created, present, artifacts, artifacts

    def _store(self, planned, written):
        """Write one interaction's artifacts, adding the (key, version) of each file to ``written``."""
        cache, interaction = {}, planned.interaction
        for kind, key in planned.artifacts:
            content = demo_content.content_for(kind, interaction, planned.rng, planned.customer, self._audio, cache)
            artifact = store_artifact(
                interaction.pk,
                actor=ACTOR,
                artifact_type=demo_content.KINDS[kind].artifact_type,
                audio_recording_type=demo_content.KINDS[kind].audio_recording_type,
                content_key=key,
                filename=content.filename,
                stream=io.BytesIO(content.data),
                content_type=content.content_type,
                created_at=interaction.ended_at,
            )
            written.append((artifact.storage_key, artifact.storage_version))

    def _seed_bulk(self, tenant, slug, total):
        """Benchmark mode: batches of rows inserted at once; each artifact's object is a clone of
        its kind's template object (its own key, no bytes written)."""
        created = present = artifacts = 0
        blobs, cache, self._files, self._templates = {}, {}, 0, []
        # Every column, with the model's defaults for those seeding has no value for.
        fields = [f for f in Artifact._meta.concrete_fields if not f.primary_key]
        template = {f.attname: f.get_default() for f in fields}
        started = time.monotonic()
        try:
            for start in range(0, total, BATCH):
                indexes = range(start, min(total, start + BATCH))
                missing = self._missing(tenant, slug, indexes)
                present += len(indexes) - len(missing)
                if not missing:
                    self._progress(slug, indexes.stop, total, started)
                    continue
                self._fresh = []  # blobs written for this batch
                try:
                    with transaction.atomic():
                        planned = [make_interaction(tenant, slug, i, self.now) for i in missing]
                        _insert(Interaction, INTERACTION_FIELDS, [_values(p.interaction) for p in planned])
                        guids = [p.interaction.guid for p in planned]
                        ids = dict(Interaction.objects.filter(tenant=tenant, guid__in=guids).values_list("guid", "id"))
                        rows = []
                        for p in planned:
                            for kind, key in p.artifacts:
                                if kind not in blobs:
                                    blobs[kind] = self._blob(tenant, slug, kind, cache)
                                k, (template_obj, content) = demo_content.KINDS[kind], blobs[kind]
                                stored = self._clone(template_obj, tenant, content.filename)
                                row = dict(
                                    template, tenant_id=tenant.pk, interaction_id=ids[p.interaction.guid],
                                    artifact_type=k.artifact_type, audio_recording_type=k.audio_recording_type,
                                    content_key=key, state=ArtifactState.STORED, storage_key=stored.key,
                                    storage_version=stored.version, filename=content.filename,
                                    content_type=content.content_type, size=stored.size, sha256=stored.sha256,
                                    duration_seconds=media.duration_of(content.data[: media.HEAD_BYTES], stored.size),
                                    created_at=p.interaction.ended_at,
                                )  # fmt: skip
                                rows.append(list(row.values()))
                        _insert(Artifact, list(template), rows)
                except BaseException:
                    # Rolled back: objects no committed row uses would stay in storage unrecorded.
                    get_storage("active", tenant.storage_region).delete_many(self._fresh)
                    raise
                created, artifacts = created + len(missing), artifacts + len(rows)
                self._progress(slug, indexes.stop, total, started)
        finally:
            # Templates are no artifact's object: each artifact has its own clone.
            get_storage("active", tenant.storage_region).delete_many(self._templates)
        return created, present, artifacts, self._files

    def _clone(self, template, tenant, filename):
        """An artifact's own object: a clone of ``template`` (a :class:`StoredObject`) under a new key."""
        key = new_key(tenant.pk, filename)
        version = get_storage("active", tenant.storage_region).clone(template.key, key, version=template.version)
        self._fresh.append((key, version))
        return StoredObject(key, template.size, template.sha256, version)

    def _blob(self, tenant, slug, kind, cache):
        """The template object of ``kind``: an earlier run's artifact of the same bytes while it still
        exists, else written now (and then removed once the batch's clones are made)."""
        # Fixed inputs (no clock), so the blob's bytes and SHA-256 are the same on every run.
        sample_index = {"email": 1, "email_attachment": 1, "chat_transcript": 2, "chat_attachment": 2}
        sample = make_interaction(tenant, slug, sample_index.get(kind, 0), datetime(2025, 1, 6, 12, tzinfo=UTC))
        rng = random.Random(f"bulk:{slug}:{kind}")
        content = demo_content.content_for(
            kind, sample.interaction, rng, sample.customer, lambda _, rng: self._audio("bulk", rng), cache
        )
        sha256, size = hashlib.sha256(content.data).hexdigest(), len(content.data)
        storage = get_storage("active", tenant.storage_region)
        earlier = Artifact.objects.filter(tenant=tenant, state=ArtifactState.STORED, sha256=sha256, size=size)
        for key, version in earlier.order_by().values_list("storage_key", "storage_version")[:1]:
            if storage.exists(key):
                return StoredObject(key, size, sha256, version), content
        self._files += 1
        stored = storage.write(new_key(tenant.pk, content.filename), io.BytesIO(content.data), content.content_type)
        self._templates.append((stored.key, stored.version))
        return stored, content


INTERACTION_FIELDS = [f.attname for f in Interaction._meta.concrete_fields if not f.primary_key]


def _fields(interaction):
    """A planned interaction's fields, as :func:`interactions.services.create_interaction` takes them."""
    return {"guid": interaction.guid, **{name: getattr(interaction, name) for name in EDITABLE_FIELDS}}


def _values(instance):
    return [getattr(instance, name) for name in INTERACTION_FIELDS]


def _insert(model, names, rows):
    """Insert rows of values for the fields ``names``: COPY on PostgreSQL, bulk_create elsewhere."""
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip(names, row, strict=True))) for row in rows]
        model.objects.bulk_create(objs, batch_size=500)
        return
    fields = [model._meta.get_field(name) for name in names]
    as_json = {i for i, f in enumerate(fields) if isinstance(f, JSONField)}
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(sql.Identifier(f.column) for f in fields)
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([json.dumps(v) if i in as_json else v for i, v in enumerate(row)])
