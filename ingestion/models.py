"""Twilio Flex connections (an ACD of a tenant), the tenant's metadata labels, ingestion runs (a job
kind), the recordings ingested from Twilio, and the contact-status webhook's deliveries."""

import uuid

from django.db import models

from accounts.managers import TenantScopedQuerySet
from accounts.models import Tenant
from artifacts.models import Artifact
from config.jobs import Job, JobStatus
from interactions.models import Interaction


class MetadataLabel(models.Model):
    """A custom metadata label of the tenant (the seed's "Metadata Manager"); Text labels can be the
    target of a connection's metadata mapping."""

    class Type(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="metadata_labels")
    name = models.CharField(max_length=60)
    metadata_type = models.CharField("metadata type", max_length=10, choices=Type.choices, default=Type.TEXT)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="metadata_label_once_per_tenant")]

    def __str__(self):
        return self.name


class TwilioFlexConnection(models.Model):
    """One Twilio Flex ACD of a tenant: credentials (secrets encrypted, never shown back), what is
    ingested and how, and the cursor the ingestion has read TaskRouter events up to."""

    class AgentNameFormat(models.TextChoices):
        FIRST_LAST = "first_last", "First Last"
        LAST_FIRST = "last_first", "Last, First"
        FRIENDLY_NAME = "friendly_name", "Twilio worker name"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="twilio_flex_connections")
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True, help_text="Ingested by the schedule.")
    account_sid = models.CharField("Twilio Account SID", max_length=34)
    auth_token_encrypted = models.TextField(editable=False)
    workspace_sid = models.CharField("Twilio Flex Workspace SID", max_length=34)
    time_zone = models.CharField(max_length=64)
    agent_name_format = models.CharField(max_length=20, choices=AgentNameFormat.choices, default="first_last")
    voice_enabled = models.BooleanField("Voice", default=True)
    digital_enabled = models.BooleanField("Digital (Chat, SMS)", default=False)
    metadata_mapping = models.JSONField(
        default=list, blank=True, help_text="[[task attribute, metadata label], …]; object.attribute at most."
    )
    rte_screen_recording = models.BooleanField("Enable RTE Messaging for Screen Recording", default=False)
    encryption_name = models.CharField(max_length=100, blank=True)
    public_key_sid = models.CharField("Public Key SID", max_length=34, blank=True)
    private_key_encrypted = models.TextField(blank=True, editable=False)
    webhook_url = models.CharField("Event Webhook URL", max_length=500, blank=True)
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    delete_source = models.BooleanField("Delete source recordings after they are secured", default=False)
    cursor = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="TaskRouter events up to this time are ingested."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="twilio_connection_name_once")]

    def __str__(self):
        return self.name

    @property
    def source_system(self):
        """The interactions' ``source_system``: one per Twilio account (task SIDs are unique there)."""
        return f"twilio-flex:{self.account_sid}"

    @property
    def has_encryption(self):
        return bool(self.private_key_encrypted)

    @property
    def mapping_pairs(self):
        return [tuple(pair) for pair in self.metadata_mapping]

    @property
    def products_label(self):
        products = [label for flag, label in ((self.voice_enabled, "Voice"), (self.digital_enabled, "Digital")) if flag]
        return ", ".join(products) or "None"


class IngestionRun(Job):
    """One ingestion of a connection: TaskRouter events since the cursor → interactions and content.

    Counts are added as each task is finished (in the same transaction as the cursor), so a run
    that dies and is resumed ends with exact totals; per-item errors are kept on the row.
    """

    Status = JobStatus
    MAX_ERROR_DETAILS = 200

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "Command"
        PAGE = "page", "Page"
        CALLBACK = "callback", "Recording status callback"

    connection = models.ForeignKey(TwilioFlexConnection, on_delete=models.CASCADE, related_name="runs")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="ingestion_runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    since = models.DateTimeField(null=True, blank=True, help_text="Events from this time (default: the cursor).")
    until = models.DateTimeField(null=True, blank=True, help_text="Events up to this time (set when it starts).")
    call_sid = models.CharField(
        max_length=34, blank=True, help_text="A recording status callback's call: only its recordings."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)
    tasks = models.PositiveIntegerField("tasks read", default=0)
    interactions_created = models.PositiveIntegerField(default=0)
    artifacts_stored = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Recordings absent, deleted or not completed.")
    errors = models.PositiveIntegerField(default=0)
    error_details = models.JSONField(default=list, blank=True, help_text="Per item: what failed and why.")
    twilio_calls = models.PositiveIntegerField(default=0)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connection", "-created_at"], name="ingestion_run_connection")]

    def __str__(self):
        return f"Ingestion {self.pk} of {self.connection_id}"


class IngestedRecording(models.Model):
    """A Twilio recording Holdfast stored: the artifact that holds it, and whether (and when) the
    source at Twilio was deleted after the stored copy was verified."""

    connection = models.ForeignKey(TwilioFlexConnection, on_delete=models.CASCADE, related_name="recordings")
    recording_sid = models.CharField(max_length=34)
    call_sid = models.CharField(max_length=34, blank=True)
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="+")
    encrypted = models.BooleanField(default=False)
    source_deleted_at = models.DateTimeField(null=True, blank=True)
    delete_attempts = models.PositiveSmallIntegerField(default=0)
    delete_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "recording_sid"], name="ingested_recording_once"),
        ]

    def __str__(self):
        return self.recording_sid


class WebhookDelivery(models.Model):
    """One contact-status event for a connection's Event Webhook URL and its delivery attempts."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    connection = models.ForeignKey(TwilioFlexConnection, on_delete=models.CASCADE, related_name="deliveries")
    interaction = models.ForeignKey(Interaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    leg_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="HTTP status of the last try.")
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "interaction"],
                condition=models.Q(interaction__isnull=False),
                name="webhook_delivery_once_per_interaction",
            ),
        ]

    def __str__(self):
        return f"{self.payload.get('status', '')} for {self.leg_id or self.interaction_id}"
