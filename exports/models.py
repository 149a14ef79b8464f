"""Export bundles: one row per export (a :class:`config.jobs.Job`), the truth about its selection,
progress, the zip it wrote to the *exports* storage (or pushed to a customer's own bucket,
:class:`ExportBucket`) and when that zip goes away."""

from django.core.validators import MaxValueValidator
from django.db import models

from accounts.managers import TenantScopedQuerySet
from accounts.models import Tenant
from config.jobs import Job, JobStatus
from core.vocabulary import ArtifactType, Channel, Direction, Origin


class Export(Job):
    """A zip of the selected interactions' content with a signed manifest (see :mod:`exports.bundle`).

    The selection is resolved when the export is created (``interaction_ids``), so the bundle holds
    what the user saw, whatever arrives later. Counts are updated as the worker writes; the zip's
    size and SHA-256 are set only when it is complete, and ``expired_at`` when it was removed.
    """

    Status = JobStatus

    class Selection(models.TextChoices):
        FILTERS = "filters", "The interactions list's filters"
        INTERACTIONS = "interactions", "Chosen interactions"
        REQUEST = "request", "An Artifacts Management Request's interactions"
        DELETION = "deletion", "Content about to be deleted"

    class Destination(models.TextChoices):
        STORAGE = "storage", "Exports storage (download)"
        OUTPUT = "output", "Command output"
        PUSH = "push", "The customer's S3 bucket"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="exports")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)
    description = models.CharField(max_length=300, blank=True)
    selection = models.CharField(max_length=20, choices=Selection.choices)
    filters = models.JSONField(default=dict, blank=True, help_text="The list's filters (selection by filters).")
    artifact_type = models.CharField(
        max_length=30, blank=True, help_text="Only artifacts of this type (empty: every present artifact)."
    )
    request_id = models.BigIntegerField(null=True, blank=True, help_text="The Artifacts Management Request.")
    interaction_ids = models.JSONField(default=list, editable=False, help_text="Ids of the selected interactions.")
    interaction_count = models.PositiveIntegerField(default=0)
    destination = models.CharField(max_length=10, choices=Destination.choices, default=Destination.STORAGE)
    artifact_total = models.PositiveIntegerField(default=0)
    artifacts_done = models.PositiveIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    #: The zip's key and version: in the exports storage, or (destination push) in the customer's bucket.
    storage_key = models.CharField(max_length=300, blank=True, editable=False)
    storage_version = models.CharField(max_length=200, blank=True, editable=False)
    push_bucket = models.ForeignKey(
        "ExportBucket", null=True, blank=True, on_delete=models.SET_NULL, related_name="exports",
        help_text="The customer's bucket the zip is pushed to (destination push).",
    )  # fmt: skip
    pushed_to = models.CharField(
        max_length=700, blank=True, editable=False, help_text="Where the zip was pushed: s3://bucket/key (endpoint)."
    )
    filename = models.CharField(max_length=200, blank=True)
    size = models.BigIntegerField(null=True, blank=True, help_text="Bytes of the zip.")
    sha256 = models.CharField("SHA-256", max_length=64, blank=True, help_text="Of the whole zip.")
    manifest = models.TextField(blank=True, editable=False, help_text="manifest.json exactly as in the zip.")
    manifest_signature = models.TextField(blank=True, editable=False, help_text="manifest.sig as in the zip.")
    verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the stored zip was read back and matched its manifest and the artifacts."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    download_count = models.PositiveIntegerField(default=0)
    last_downloaded_at = models.DateTimeField(null=True, blank=True)
    schedule = models.ForeignKey(
        "ExportSchedule", null=True, blank=True, on_delete=models.PROTECT, related_name="exports"
    )
    scheduled_for = models.DateField(null=True, blank=True, help_text="The tenant-local day a daily archive holds.")

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="export_tenant_created"),
            models.Index(fields=["expires_at"], condition=models.Q(expired_at__isnull=True), name="export_expiring"),
        ]
        constraints = [
            # A schedule's archive of a day is made once, however often the schedule runs.
            models.UniqueConstraint(
                fields=["schedule", "scheduled_for"],
                condition=models.Q(schedule__isnull=False),
                name="export_once_per_schedule_and_day",
            ),
        ]

    def __str__(self):
        return f"Export {self.pk} of {self.tenant_id}"

    @property
    def is_downloadable(self):
        """Complete, kept in the exports storage, and not expired."""
        return (
            self.status == JobStatus.COMPLETE
            and self.destination == self.Destination.STORAGE
            and self.expired_at is None
            and bool(self.storage_key)
        )

    @property
    def percent(self):
        """Progress in per cent of the bytes (of the artifacts when they have none)."""
        if self.bytes_total:
            return min(100, int(100 * self.bytes_done / self.bytes_total))
        return 100 if self.artifact_total == 0 else int(100 * self.artifacts_done / self.artifact_total)


class ExportSchedule(models.Model):
    """A daily archive of a tenant's content (babelforce's dialer archives): every tenant-local day,
    from ``hour`` on, an export of the previous day's interactions its selectors pick (empty: any),
    kept for the tenant's export retention days. Missed days are caught up (at most
    :data:`exports.schedules.CATCH_UP_DAYS`); each day is exported once."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="export_schedules")
    name = models.CharField(max_length=100)
    channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    direction = models.CharField(max_length=10, choices=Direction.choices, blank=True)
    origin = models.CharField(max_length=20, choices=Origin.choices, blank=True)
    artifact_type = models.CharField(max_length=30, choices=ArtifactType.choices, blank=True)
    hour = models.PositiveSmallIntegerField(
        default=3, validators=[MaxValueValidator(23)], help_text="Tenant-local hour from which yesterday is exported."
    )
    starts_on = models.DateField(help_text="The first day archived.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)

    push_to = models.ForeignKey(
        "ExportBucket",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="schedules",
        help_text="Each archive goes to this bucket of yours instead of being kept here for download.",
    )

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="export_schedule_unique_name")]

    def __str__(self):
        return f"{self.name} ({self.tenant_id})"

    @property
    def filters(self):
        """The interactions list's filters the schedule selects with (the day is added per run)."""
        chosen = {"channel": self.channel, "direction": self.direction, "origin": self.origin}
        chosen["artifact_type"] = self.artifact_type
        return {name: value for name, value in chosen.items() if value}


class ExportBucket(models.Model):
    """A tenant's own S3 bucket (AWS or any S3-compatible endpoint) that daily archives are pushed to
    instead of being kept in Holdfast. The secret access key is stored encrypted
    (:mod:`core.secrets`) and never shown again; changes go through :mod:`exports.buckets`."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="export_buckets")
    name = models.CharField(max_length=100)
    endpoint_url = models.CharField(
        "endpoint URL", max_length=300, blank=True, help_text="Empty for AWS S3; e.g. https://s3.example.com."
    )
    region_name = models.CharField("region", max_length=40, blank=True, help_text="e.g. eu-central-1.")
    bucket = models.CharField(max_length=63)
    prefix = models.CharField(max_length=100, blank=True, help_text="Put before every key, e.g. archives/.")
    access_key_id = models.CharField("access key ID", max_length=128)
    secret_access_key_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="export_bucket_unique_name")]

    def __str__(self):
        return self.name

    @property
    def key_hint(self):
        """The access key ID's last four characters, all that is shown of it once saved."""
        return f"…{self.access_key_id[-4:]}"

    @property
    def location(self):
        """``s3://bucket/prefix`` and the endpoint when not AWS, in words."""
        where = f"s3://{self.bucket}/{self.prefix}"
        return f"{where} at {self.endpoint_url}" if self.endpoint_url else where
