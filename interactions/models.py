"""Interactions: one contact (call, email, chat, ...) of a tenant, with its public GUID."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from accounts.managers import TenantScopedQuerySet
from accounts.models import Tenant
from core.vocabulary import Channel, Direction, Origin


def validate_metadata(value):
    """Custom metadata is a flat mapping of text keys to text values."""
    if not isinstance(value, dict):
        raise ValidationError("Custom metadata must be a mapping of names to text.")
    for key, text in value.items():
        if not isinstance(key, str) or not key.strip() or not isinstance(text, str):
            raise ValidationError(f"Custom metadata “{key}” must be a non-empty name with a text value.")


class Interaction(models.Model):
    """One contact between a customer and the contact center."""

    guid = models.UUIDField("GUID", default=uuid.uuid4, unique=True, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="interactions")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    origin = models.CharField(max_length=20, choices=Origin.choices, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(default=0, help_text="Handle time as the source reports it.")
    from_address = models.CharField("from", max_length=320, blank=True)
    to_address = models.CharField("to", max_length=320, blank=True)
    agent_id = models.CharField(max_length=120, blank=True)
    agent_name = models.CharField("agent", max_length=200, blank=True)
    source_system = models.CharField(max_length=60, blank=True, help_text="e.g. twilio-flex")
    source_call_id = models.CharField(max_length=64, blank=True, help_text="e.g. Twilio call SID")
    source_task_id = models.CharField(max_length=64, blank=True, help_text="e.g. Twilio task SID")
    metadata = models.JSONField("custom metadata", default=dict, blank=True, validators=[validate_metadata])
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # Newest-first lists per tenant, paged by (started_at, id).
            models.Index(fields=["tenant", "-started_at", "-id"], name="interaction_tenant_started"),
            # Support staff's cross-tenant admin list, newest first.
            models.Index(fields=["-started_at", "-id"], name="interaction_started"),
            models.Index(fields=["source_call_id"], name="interaction_source_call"),
            models.Index(fields=["source_task_id"], name="interaction_source_task"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True) | models.Q(ended_at__gte=models.F("started_at")),
                name="interaction_ends_after_start",
            ),
            # Ingestion is idempotent: a source's call or task is one interaction of the tenant.
            models.UniqueConstraint(
                fields=["tenant", "source_system", "source_call_id"],
                condition=~models.Q(source_call_id=""),
                name="interaction_source_call_once_per_tenant",
            ),
            models.UniqueConstraint(
                fields=["tenant", "source_system", "source_task_id"],
                condition=~models.Q(source_task_id=""),
                name="interaction_source_task_once_per_tenant",
            ),
        ]

    def __str__(self):
        return str(self.guid)


class SavedView(models.Model):
    """A user's named set of list filters in one tenant: the list's query string, chosen from a menu.

    Private to its owner; a name is unique per user and tenant (saving under a taken name replaces
    the filters, see :func:`workspace.services.save_view`).
    """

    NAME_MAX_LENGTH = 100

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    query_string = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant", "name"], name="saved_view_unique_name"),
        ]

    def __str__(self):
        return self.name
