"""API clients: one OAuth2 client-credentials application per tenant integration."""

from django.conf import settings
from django.db import models

from accounts.managers import TenantScopedQuerySet
from accounts.models import Tenant


class ApiClient(models.Model):
    """An integrator's access to one tenant through the REST API, limited to its scopes.

    Backed by a django-oauth-toolkit confidential application (client credentials; the secret is
    stored hashed and shown once). Revoking deletes the application and its tokens; the row stays,
    so the audit trail keeps naming who acted.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="api_clients")
    name = models.CharField(max_length=100)
    client_id = models.CharField(max_length=100, unique=True)
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="api_client",
    )
    scopes = models.CharField(max_length=300, help_text="Space-separated scopes.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=200, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], condition=models.Q(revoked_at__isnull=True), name="api_client_name_once"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.client_id})"

    @property
    def scope_list(self):
        return self.scopes.split()

    @property
    def is_active(self):
        return self.revoked_at is None
