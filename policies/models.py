"""Artifacts Lifecycle Policies and the runs of the retention sweep that applies them."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.managers import TenantScopedQuerySet
from accounts.models import Tenant
from config.jobs import Job, JobStatus
from core.vocabulary import ArtifactType, AudioRecordingType, Channel, Direction, Origin


class LifecyclePolicy(models.Model):
    """What happens to the artifacts a policy selects, N days after each was created.

    Selectors left empty select everything. The action is: archive after N days and/or delete
    after M days (M > N), or keep forever (optionally archiving first). Where several enabled
    policies select an artifact, the longest retention wins and keep-forever beats any delete.

    Each tenant has one *default* policy ("Everything else"): it has no selectors and decides
    whatever no other enabled policy that selects an artifact decides (deletion, archiving or
    both), so "outbound dialer recordings 30 days, everything else 365 days" means what it says.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="lifecycle_policies")
    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    is_default = models.BooleanField(
        "default policy",
        default=False,
        editable=False,
        help_text="Applies to artifacts no other enabled policy decides for.",
    )
    artifact_type = models.CharField(max_length=30, choices=ArtifactType.choices, blank=True)
    audio_recording_type = models.CharField(max_length=30, choices=AudioRecordingType.choices, blank=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    direction = models.CharField(max_length=10, choices=Direction.choices, blank=True)
    origin = models.CharField(max_length=20, choices=Origin.choices, blank=True)
    archive_after_days = models.PositiveIntegerField(null=True, blank=True)
    delete_after_days = models.PositiveIntegerField(null=True, blank=True)
    keep_forever = models.BooleanField(default=False)
    require_export = models.BooleanField(
        "export before deleting",
        default=False,
        help_text="Content is deleted only once it is in a verified export; the sweep exports it first.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "is_default", "name"]
        verbose_name_plural = "lifecycle policies"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="policy_unique_name_per_tenant"),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(is_default=True), name="policy_one_default_per_tenant"
            ),
            models.CheckConstraint(
                condition=~Q(keep_forever=True, delete_after_days__isnull=False),
                name="policy_keep_forever_never_deletes",
            ),
            models.CheckConstraint(
                condition=Q(keep_forever=True)
                | Q(archive_after_days__isnull=False)
                | Q(delete_after_days__isnull=False),
                name="policy_has_an_action",
            ),
            models.CheckConstraint(
                condition=Q(archive_after_days__isnull=True)
                | Q(delete_after_days__isnull=True)
                | Q(delete_after_days__gt=models.F("archive_after_days")),
                name="policy_deletes_after_archiving",
            ),
            models.CheckConstraint(
                condition=Q(audio_recording_type="") | Q(artifact_type=ArtifactType.AUDIO_RECORDING),
                name="policy_audio_type_only_for_audio_recordings",
            ),
            models.CheckConstraint(
                condition=Q(is_default=False)
                | Q(artifact_type="", audio_recording_type="", channel="", direction="", origin=""),
                name="policy_default_selects_everything",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def selection_label(self):
        """The selectors in words (``All artifacts`` when none is set)."""
        parts = []
        if self.artifact_type:
            label = self.get_artifact_type_display()
            if self.audio_recording_type:
                label += f" · {self.get_audio_recording_type_display()}"
            parts.append(label)
        for field in ("channel", "direction", "origin"):
            if getattr(self, field):
                parts.append(getattr(self, f"get_{field}_display")())
        if self.is_default:
            return "Everything no other policy decides"
        return ", ".join(parts) or "All artifacts"

    @property
    def action_label(self):
        """The action in words, e.g. ``Archive after 90 days, delete after 365 days``."""
        parts = []
        if self.archive_after_days is not None:
            parts.append(f"archive after {self.archive_after_days} days")
        if self.delete_after_days is not None:
            export = " once in a verified export" if self.require_export else ""
            parts.append(f"delete after {self.delete_after_days} days{export}")
        if self.keep_forever:
            parts.append("keep forever")
        text = ", ".join(parts)
        return text[:1].upper() + text[1:]


class SweepRun(Job):
    """One run of the retention sweep over one tenant: the row is the truth about the work (a
    :class:`config.jobs.Job`).

    Counts are added in the same transaction as each batch's changes, so a run that was killed
    and started again still ends with exact totals.
    """

    Status = JobStatus

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Daily schedule"
        COMMAND = "command", "Command"
        PAGE = "page", "Run now (page)"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="sweep_runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    scheduled_for = models.DateField(
        null=True, blank=True, help_text="The tenant-local day a scheduled run is for (one per day)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)
    deleted = models.PositiveIntegerField(default=0)
    archived = models.PositiveIntegerField(default=0)
    skipped_locked = models.PositiveIntegerField("kept because locked", default=0)
    locks_expired = models.PositiveIntegerField("lock expiries recorded", default=0)
    errors = models.PositiveIntegerField(default=0)
    error_details = models.JSONField(default=list, blank=True, help_text="The first errors, one per artifact.")
    planned_delete = models.PositiveIntegerField(
        null=True, blank=True, help_text="Artifacts due for deletion when the run was started from the page."
    )
    planned_archive = models.PositiveIntegerField(
        null=True, blank=True, help_text="Artifacts due for the archive when the run was started from the page."
    )

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="sweep_tenant_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "scheduled_for"],
                condition=Q(trigger="schedule"),
                name="sweep_one_scheduled_run_per_day",
            ),
        ]

    def __str__(self):
        return f"Sweep {self.pk} of {self.tenant_id}"

    @property
    def running(self):
        """Queued or In Progress: its page keeps refreshing."""
        return self.status in (JobStatus.QUEUED, JobStatus.IN_PROGRESS)

    @property
    def planned(self):
        """Artifacts it planned to delete or archive at its start (None when not planned)."""
        if self.planned_delete is None and self.planned_archive is None:
            return None
        return (self.planned_delete or 0) + (self.planned_archive or 0)

    @property
    def handled(self):
        """Planned artifacts handled so far (deleted, archived or failed), at most :attr:`planned`."""
        return min(self.deleted + self.archived + self.errors, self.planned or 0)


class PolicyChange(models.Model):
    """A lifecycle policy change waiting for a second person (tenant setting
    ``require_policy_approval``): proposed because its impact preview would delete artifacts now;
    applied when another user who may manage policies approves it, or rejected with a reason."""

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Change"
        DELETE = "delete", "Delete"

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting Approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="policy_changes")
    policy = models.ForeignKey(
        LifecyclePolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="proposed_changes"
    )
    policy_name = models.CharField(max_length=120, help_text="The policy's name when the change was proposed.")
    action = models.CharField(max_length=10, choices=Action.choices)
    fields = models.JSONField(default=dict, blank=True, help_text="The proposed field values (create, change).")
    would_delete = models.PositiveIntegerField(help_text="Artifacts the preview said the change would delete.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.CharField(max_length=200)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.CharField(max_length=200, blank=True)
    rejection_reason = models.TextField(blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.get_action_display()} “{self.policy_name}” ({self.get_status_display()})"
