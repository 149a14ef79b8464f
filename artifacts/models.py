"""Artifacts: stored pieces of an interaction's content, and their tombstones once deleted."""

from django.conf import settings
from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.managers import TenantScopedQuerySet
from accounts.models import Tenant
from config.jobs import FINISHED, Job, JobStatus
from core.vocabulary import (
    ARTIFACT_TYPE_SELECTION_CHOICES,
    GONE_STATES,
    PRESENT_STATES,
    ArtifactState,
    ArtifactType,
    AudioRecordingType,
    validate_content_key,
)
from interactions.models import Interaction


def audio_type_only_for_audio_recordings(name):
    """Check constraint: an audio recording type is given for Audio Recording and only for it."""
    return models.CheckConstraint(
        condition=(
            Q(artifact_type=ArtifactType.AUDIO_RECORDING) & ~Q(audio_recording_type="")
            | ~Q(artifact_type=ArtifactType.AUDIO_RECORDING) & Q(audio_recording_type="")
        ),
        name=name,
    )


def pairs_q(pairs):
    """Q matching rows whose (artifact_type, audio_recording_type) is one of ``pairs``."""
    condition = Q(pk__in=[])
    for artifact_type, audio_type in pairs:
        condition |= Q(artifact_type=artifact_type, audio_recording_type=audio_type)
    return condition


class LockQuerySet(TenantScopedQuerySet):
    """Locks; :meth:`active` is the one definition of a lock that protects now."""

    def active(self, now=None):
        """Locks neither released nor past their expiry at ``now`` (default: the current time)."""
        now = now or timezone.now()
        return self.filter(released_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))

    def covering(self, pairs):
        """Locks on any of the ``(artifact type, audio recording type)`` pairs."""
        return self.filter(pairs_q(pairs))


def active_lock_exists(now=None):
    """``EXISTS`` of an active lock covering the outer artifact row: the single source of truth for
    "locked now", used by every path that deletes or moves content."""
    return Exists(
        Lock.objects.active(now).filter(
            interaction_id=OuterRef("interaction_id"),
            artifact_type=OuterRef("artifact_type"),
            audio_recording_type=OuterRef("audio_recording_type"),
        )
    )


class ArtifactQuerySet(TenantScopedQuerySet):
    """Artifacts, scoped through :meth:`restrict` like every tenant query."""

    def present(self):
        """Artifacts whose bytes are there (stored or archived): not being deleted, not tombstones."""
        return self.filter(state__in=PRESENT_STATES)

    def deleting(self):
        """Artifacts whose deletion is decided and not finished yet (see ``delete_artifacts``)."""
        return self.filter(state=ArtifactState.DELETING)

    def locked(self, now=None):
        """Artifacts at least one active lock covers."""
        return self.filter(active_lock_exists(now))

    def not_locked(self, now=None):
        """Artifacts no active lock covers: the only ones that may be deleted or moved."""
        return self.filter(~active_lock_exists(now))

    def selected(self, pairs):
        """Artifacts of the given ``(artifact type, audio recording type)`` pairs."""
        return self.filter(pairs_q(pairs))


class Artifact(models.Model):
    """One stored piece of an interaction's content (a recording, a transcript, an email ...).

    ``state`` says where the bytes are: *stored* in the active storage, *archived* in the archive
    storage, *being deleted* (the decision is committed: who, why and when are recorded, and the
    bytes are going), or *deleted* everywhere, in which case the row stays as a tombstone naming
    who or what deleted it, when and why.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="artifacts")
    interaction = models.ForeignKey(Interaction, on_delete=models.PROTECT, related_name="artifacts")
    artifact_type = models.CharField(max_length=30, choices=ArtifactType.choices)
    audio_recording_type = models.CharField(max_length=30, choices=AudioRecordingType.choices, blank=True)
    content_key = models.CharField(max_length=80, validators=[validate_content_key])
    state = models.CharField(max_length=10, choices=ArtifactState.choices, default=ArtifactState.STORED)
    # One object per artifact (unique among present artifacts, see Meta): deleting an artifact's
    # bytes can never take another's.
    storage_key = models.CharField(max_length=300, db_index=True, editable=False)
    storage_version = models.CharField(
        max_length=200, blank=True, editable=False, help_text="Object version id on versioned S3 buckets."
    )
    filename = models.CharField(max_length=255, help_text="Name offered when the file is downloaded.")
    content_type = models.CharField(max_length=120)
    size = models.BigIntegerField()
    sha256 = models.CharField("SHA-256", max_length=64)
    duration_seconds = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text="Length of an audio or video recording, read from its header when stored; empty when unknown.",
    )
    created_at = models.DateTimeField(db_index=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    deleted_by = models.CharField(max_length=200, blank=True, help_text="Who or what deleted it.")
    deletion_reason = models.CharField(
        max_length=300, blank=True, help_text="Why: the request, policy or API call that deleted it."
    )
    legal_hold = models.BooleanField(
        null=True,
        default=False,
        editable=False,
        help_text="Whether the object carries an S3 legal hold now (empty: unknown until the next sync).",
    )
    # The committed decision to delete (state "deleting" until the bytes are gone): the rest of the
    # actor that decided it, so that whoever finishes the deletion records it in its name.
    deletion_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    deletion_actor_kind = models.CharField(max_length=20, blank=True, editable=False)
    deletion_actor_key = models.CharField(max_length=100, blank=True, editable=False)
    deletion_source = models.CharField(max_length=10, blank=True, editable=False)
    deletion_remote_addr = models.GenericIPAddressField(null=True, blank=True, editable=False)
    deletion_request_id = models.BigIntegerField(null=True, blank=True, editable=False)
    deletion_job = models.CharField(
        max_length=60, blank=True, editable=False, help_text="The job (kind:id) that decided the deletion."
    )
    # Genesys's exportDate: the last verified export that took the bytes out (kept on the tombstone,
    # which then says the content was exported before it was destroyed).
    exported_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When a verified export last took its bytes out."
    )
    exported_in = models.BigIntegerField(
        null=True, blank=True, editable=False, help_text="The verified export (its id) that holds the bytes."
    )
    stale_active_copy = models.BooleanField(
        default=False,
        editable=False,
        help_text="Archived, but the copy in active storage is still to be removed.",
    )
    stale_active_version = models.CharField(max_length=200, blank=True, editable=False)
    idempotency_key = models.CharField(
        max_length=200,
        blank=True,
        editable=False,
        help_text="The source's id of this content (e.g. a recording SID): storing it again changes nothing.",
    )

    objects = ArtifactQuerySet.as_manager()

    class Meta:
        ordering = ["interaction_id", "created_at", "id"]
        indexes = [
            models.Index(fields=["interaction", "artifact_type"], name="artifact_interaction_type"),
            # Sweeps and lists walk one tenant's live artifacts by age.
            models.Index(fields=["tenant", "state", "created_at"], name="artifact_tenant_state_created"),
            # The resume reconciles held objects every minute; few are held.
            models.Index(
                fields=["interaction"], condition=Q(legal_hold=True) | Q(legal_hold__isnull=True), name="artifact_held"
            ),
        ]
        constraints = [
            audio_type_only_for_audio_recordings("artifact_audio_type_only_for_audio_recordings"),
            models.CheckConstraint(
                condition=Q(state=ArtifactState.DELETED, deleted_at__isnull=False)
                | (~Q(state=ArtifactState.DELETED) & Q(deleted_at__isnull=True)),
                name="artifact_tombstone_has_deletion_time",
            ),
            models.CheckConstraint(condition=Q(size__gte=0), name="artifact_size_not_negative"),
            models.CheckConstraint(
                condition=~Q(state=ArtifactState.DELETING) | Q(deletion_started_at__isnull=False),
                name="artifact_deleting_has_its_decision",
            ),
            models.UniqueConstraint(
                fields=["storage_key"],
                condition=~Q(state=ArtifactState.DELETED),
                name="artifact_storage_key_once",
            ),
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="artifact_idempotency_key_once_per_tenant",
            ),
        ]

    def __str__(self):
        return f"{self.get_artifact_type_display()} {self.content_key} of {self.interaction_id}"

    @property
    def storage_name(self):
        """The named storage that holds the bytes (for one being deleted: where they were), or None
        for a tombstone."""
        if self.state == ArtifactState.DELETING:
            return "archive" if self.archived_at else "active"
        return {ArtifactState.STORED: "active", ArtifactState.ARCHIVED: "archive"}.get(self.state)

    @property
    def is_gone(self):
        """Deleted, or its deletion decided: the content cannot be read any more."""
        return self.state in GONE_STATES

    @property
    def is_playable(self):
        """Audio or video that a browser can play in a media element."""
        return not self.is_gone and self.content_type.startswith(("audio/", "video/"))

    @property
    def type_label(self):
        """Artifact type, with the audio recording type where there is one."""
        if self.audio_recording_type:
            return f"{self.get_artifact_type_display()} · {self.get_audio_recording_type_display()}"
        return self.get_artifact_type_display()


class RequestStatus(models.TextChoices):
    """A request's status: the job statuses (:class:`config.jobs.JobStatus`, same values) plus the two
    of two-person approval. *Awaiting Approval* rows are never claimed (only Queued rows are)."""

    AWAITING_APPROVAL = "awaiting_approval", "Awaiting Approval"
    QUEUED = JobStatus.QUEUED.value, JobStatus.QUEUED.label
    IN_PROGRESS = JobStatus.IN_PROGRESS.value, JobStatus.IN_PROGRESS.label
    COMPLETE = JobStatus.COMPLETE.value, JobStatus.COMPLETE.label
    ERROR = JobStatus.ERROR.value, JobStatus.ERROR.label
    CANCELLED = JobStatus.CANCELLED.value, JobStatus.CANCELLED.label
    REJECTED = "rejected", "Rejected"


class MatterQuerySet(TenantScopedQuerySet):
    """Legal matters, with what they hold computed in SQL (:meth:`with_counts`)."""

    def with_counts(self, now=None):
        """Annotate ``held_interactions``, ``held_artifacts`` and ``held_bytes``: the interactions under
        an active lock of the matter, and the present artifacts those locks cover (an artifact that
        another lock covers too still counts). Three correlated subqueries: one statement per page."""
        now = now or timezone.now()
        mine = Lock.objects.active(now).filter(matter_id=OuterRef("pk"))
        interactions = mine.order_by().values("matter_id").annotate(n=Count("interaction_id", distinct=True))
        covered = Exists(
            Lock.objects.active(now).filter(
                matter_id=OuterRef(OuterRef("pk")),
                interaction_id=OuterRef("interaction_id"),
                artifact_type=OuterRef("artifact_type"),
                audio_recording_type=OuterRef("audio_recording_type"),
            )
        )
        held = (
            Artifact.objects.filter(tenant_id=OuterRef("tenant_id"), state__in=PRESENT_STATES)
            .filter(covered)
            .order_by()
            .annotate(g=Value(1))
            .values("g")
        )
        return self.annotate(
            held_interactions=Coalesce(Subquery(interactions.values("n")[:1]), 0),
            held_artifacts=Coalesce(Subquery(held.annotate(n=Count("id")).values("n")[:1]), 0),
            held_bytes=Coalesce(Subquery(held.annotate(b=Sum("size")).values("b")[:1]), 0),
        )


class Matter(models.Model):
    """A legal matter (a named hold): the case a set of locks is kept for.

    Add Lock requests may name one (a tenant setting can require it); the locks they create belong
    to it, so that the matter can be released as a whole without touching other matters' locks on
    the same content. Matters are never deleted: closing one releases its locks through a Remove
    Lock request and keeps the row (and its locks' history).
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="matters")
    case_id = models.CharField("case id", max_length=100, help_text="The case or docket reference, unique per tenant.")
    name = models.CharField(max_length=200)
    reason = models.TextField(help_text="Why content is held for this matter.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", help_text="A member of the tenant."
    )
    review_on = models.DateField("review date", null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.CharField(max_length=200)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_by = models.CharField(max_length=200, blank=True)

    objects = MatterQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "case_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "case_id"], name="matter_unique_case_id_per_tenant"),
            models.CheckConstraint(
                condition=Q(status="closed", closed_at__isnull=False) | Q(status="open", closed_at__isnull=True),
                name="matter_closed_has_closing_time",
            ),
        ]

    def __str__(self):
        return f"{self.case_id} · {self.name}"

    @property
    def is_open(self):
        return self.status == self.Status.OPEN


class ManagementRequest(Job):
    """An Artifacts Management Request: Add Lock, Remove Lock or Delete for up to 200 interactions.

    The row is the truth about the work (a :class:`config.jobs.Job`): its status moves Queued →
    In Progress → Complete or Error (or Cancelled while Queued), and each interaction has an item
    with its own result. The work runs with the grants its actor (the creator, or whoever retried
    it) holds when it runs.
    """

    class RequestType(models.TextChoices):
        ADD_LOCK = "add_lock", "Add Lock"
        REMOVE_LOCK = "remove_lock", "Remove Lock"
        DELETE = "delete", "Delete"

    Status = RequestStatus

    status = models.CharField(max_length=20, choices=RequestStatus.choices, default=RequestStatus.QUEUED)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="management_requests")
    created_at = models.DateTimeField("request date", auto_now_add=True)
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.CharField("creator", max_length=200)
    description = models.CharField(max_length=500, blank=True)
    request_type = models.CharField(max_length=20, choices=RequestType.choices)
    artifact_type = models.CharField(max_length=30, choices=ARTIFACT_TYPE_SELECTION_CHOICES)
    audio_recording_type = models.CharField(max_length=30, choices=AudioRecordingType.choices, blank=True)
    lock_expires_on = models.DateField("lock expires on", null=True, blank=True)
    lock_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="End of the expiry date in the tenant's time zone."
    )
    remove_locks = models.BooleanField("remove locks to process request", default=False)
    require_export = models.BooleanField(
        "export before deleting",
        default=False,
        help_text="Delete: only content in a verified export is deleted; what has none is exported first.",
    )
    confirmation = models.TextField(help_text="The confirmation text the creator ticked.")
    interaction_count = models.PositiveSmallIntegerField(default=0)
    matter = models.ForeignKey(
        Matter,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="requests",
        help_text="Add Lock: the matter its locks belong to. Remove Lock: only that matter's locks are released.",
    )
    # Two-person approval (tenant setting ``require_approval``): who approved or rejected it, and why not.
    decided_at = models.DateTimeField("approved or rejected at", null=True, blank=True)
    decided_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.CharField("approved or rejected by", max_length=200, blank=True)
    rejection_reason = models.TextField(blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="request_tenant_created"),
            models.Index(fields=["status"], name="request_status"),
        ]
        constraints = [
            audio_type_only_for_audio_recordings("request_audio_type_only_for_audio_recordings"),
        ]

    def __str__(self):
        return f"Request {self.pk} ({self.get_request_type_display()})"

    @property
    def is_finished(self):
        return self.status in (*FINISHED, RequestStatus.REJECTED)

    @property
    def is_running(self):
        return self.status in (RequestStatus.QUEUED, RequestStatus.IN_PROGRESS)

    @property
    def awaits_approval(self):
        return self.status == RequestStatus.AWAITING_APPROVAL

    @property
    def artifact_type_label(self):
        """Artifact type as the list shows it (``Any`` or the type's name)."""
        return dict(ARTIFACT_TYPE_SELECTION_CHOICES).get(self.artifact_type, self.artifact_type)


class ManagementRequestItem(models.Model):
    """One interaction of a request, with its own result."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        ERROR = "error", "Error"

    request = models.ForeignKey(ManagementRequest, on_delete=models.CASCADE, related_name="items")
    interaction = models.ForeignKey(Interaction, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    matched = models.PositiveIntegerField(default=0)
    locked = models.PositiveIntegerField(default=0)
    unlocked = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    skipped_locked = models.PositiveIntegerField("skipped because locked", default=0)
    not_exported = models.PositiveIntegerField(
        "kept: not exported",
        default=0,
        help_text="Delete with Export Before Deleting: artifacts kept because no verified export holds them.",
    )
    already_deleting = models.PositiveIntegerField(
        "already being deleted", default=0, help_text="Add Lock: artifacts whose deletion was decided before."
    )
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["request", "position"]
        constraints = [
            models.UniqueConstraint(fields=["request", "interaction"], name="request_item_unique_interaction"),
        ]

    def __str__(self):
        return f"{self.request_id}/{self.interaction_id}"


class Lock(models.Model):
    """A legal hold on one (interaction, artifact type, audio recording type).

    It covers the matching artifacts that exist now and those that arrive later, until it is
    released or its expiry passes. A request for *Any* creates one row per type it covers, so
    that releasing some types leaves the others locked. Rows are never deleted: a release is
    recorded on the row (and in the audit trail).
    """

    # Indexes are kept to what queries use (lock writes come in thousands): the tenant is served by
    # lock_tenant_released, the request by the unique constraint, users are never looked up here.
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="locks", db_index=False)
    interaction = models.ForeignKey(Interaction, on_delete=models.PROTECT, related_name="locks")
    artifact_type = models.CharField(max_length=30, choices=ArtifactType.choices)
    audio_recording_type = models.CharField(max_length=30, choices=AudioRecordingType.choices, blank=True)
    selection = models.CharField(
        max_length=30, choices=ARTIFACT_TYPE_SELECTION_CHOICES, help_text="What the creator selected."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_by = models.CharField(max_length=200)
    request = models.ForeignKey(
        ManagementRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="locks", db_index=False
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    released_by = models.CharField(max_length=200, blank=True)
    release_request = models.ForeignKey(
        ManagementRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="released_locks"
    )
    expiry_recorded_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the sweep recorded that the lock's expiry passed."
    )
    matter = models.ForeignKey(
        Matter, null=True, blank=True, on_delete=models.PROTECT, related_name="locks", help_text="The legal matter."
    )

    objects = LockQuerySet.as_manager()

    class Meta:
        ordering = ["interaction_id", "created_at", "id"]
        indexes = [
            models.Index(
                fields=["interaction", "artifact_type", "audio_recording_type"],
                name="lock_unreleased_cover",
                condition=Q(released_at__isnull=True),
            ),
            models.Index(fields=["tenant", "released_at"], name="lock_tenant_released"),
        ]
        constraints = [
            # Running the same request item twice creates nothing more.
            models.UniqueConstraint(
                fields=["request", "interaction", "artifact_type", "audio_recording_type"],
                name="lock_once_per_request_item",
            ),
        ]

    def __str__(self):
        return f"Lock {self.pk} on {self.interaction_id} ({self.artifact_type})"

    @property
    def type_label(self):
        """Artifact type, with the audio recording type where there is one."""
        label = ArtifactType(self.artifact_type).label
        if self.audio_recording_type:
            return f"{label} · {AudioRecordingType(self.audio_recording_type).label}"
        return label


class LockExpiryNotice(models.Model):
    """That the expiry notice of a lock was sent for a threshold (the tenant's notice days then):
    the daily job sends each lock's notice once per threshold, however often it runs."""

    lock = models.ForeignKey(Lock, on_delete=models.PROTECT, related_name="expiry_notices")
    threshold_days = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField()
    recipients = models.TextField(help_text="Addresses the notice went to, comma-separated.")

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["lock", "threshold_days"], name="expiry_notice_once_per_lock_and_threshold")
        ]

    def __str__(self):
        return f"Lock {self.lock_id}: {self.threshold_days} days"


class PendingUpload(models.Model):
    """Bytes going to a storage that no artifact records yet: the intent, committed before the first
    byte is sent. The writer removes the row in the transaction that records the bytes (a new
    artifact, an archived one), or after removing them again when it fails. A row left behind — a
    writer killed, or a storage that failed the write *and* the clean-up — tells
    :func:`artifacts.disposal.resume_interrupted` which key may hold bytes nobody records; it removes
    every version of that key no artifact records. Without it such bytes would outlive everything
    (an upload whose answer was lost, an archive copy whose transaction rolled back)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    storage = models.CharField(max_length=10, help_text="active or archive")
    storage_key = models.CharField(max_length=300)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return f"{self.storage}:{self.storage_key}"
