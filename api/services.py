"""State changes of API clients: created and revoked by Administrators (page, command), audited.

A client's scopes can grant nothing its creator does not hold on the tenant (no escalation through
an API client). The secret is returned once, at creation, and stored hashed.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_id, generate_client_secret
from oauth2_provider.models import get_application_model

from accounts import audit
from accounts.actors import missing_names
from accounts.models import AuditEvent, Tenant
from accounts.permissions import MANAGE_MEMBERS

from .models import ApiClient
from .scopes import READ_AUDIT, grants_of, parse_scopes


@transaction.atomic
def create_api_client(tenant_id, actor, *, name, scopes):
    """Create an API client of the tenant with ``scopes`` (text or list); returns ``(client, secret)``.

    Raises ``ValidationError`` naming the field (name, scopes) or ``PermissionDenied``.
    """
    actor.require(tenant_id, MANAGE_MEMBERS, doing="create API clients")
    tenant = Tenant.objects.get(pk=tenant_id)
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Name: enter a name for the client."
    elif len(name) > 100:
        errors["name"] = f"Name: at most 100 characters ({len(name)} entered)."
    elif ApiClient.objects.filter(tenant=tenant, name__iexact=name, revoked_at__isnull=True).exists():
        errors["name"] = f"Name: an active API client named “{name}” exists already."
    try:
        scope_list = parse_scopes(" ".join(scopes) if isinstance(scopes, list | tuple) else scopes)
    except ValueError as exc:
        errors["scopes"] = f"Scopes: {exc}."
    if errors:
        raise ValidationError(errors)
    beyond = (grants_of(scope_list) - {READ_AUDIT}) - actor.perms_on(tenant_id)
    if beyond:
        raise PermissionDenied(
            f"{actor.label} may not create this client: its scopes would grant {missing_names(beyond)}, "
            "which they do not hold."
        )
    secret = generate_client_secret()
    application = get_application_model().objects.create(
        name=f"{tenant.slug}: {name}"[:255],
        client_id=generate_client_id(),
        client_secret=secret,
        client_type="confidential",
        authorization_grant_type="client-credentials",
        hash_client_secret=True,
    )
    client = ApiClient.objects.create(
        tenant=tenant,
        name=name,
        client_id=application.client_id,
        application=application,
        scopes=" ".join(scope_list),
        created_by=actor.label,
    )
    audit.record(
        tenant.pk, AuditEvent.Kind.API_CLIENT_CREATED, actor, reason=name, client_id=client.client_id, scopes=scope_list
    )
    return client, secret


@transaction.atomic
def revoke_api_client(client_pk, actor):
    """Revoke an API client at once: its application and every token go; the row stays for the trail."""
    client = ApiClient.objects.select_for_update(no_key=True).get(pk=client_pk)
    actor.require(client.tenant_id, MANAGE_MEMBERS, doing="revoke API clients")
    if client.revoked_at is not None:
        raise ValidationError(f"The API client “{client.name}” was revoked already.")
    application = client.application
    client.application, client.revoked_at, client.revoked_by = None, timezone.now(), actor.label
    client.save(update_fields=["application", "revoked_at", "revoked_by"])
    if application is not None:
        application.delete()  # its tokens go with it
    audit.record(
        client.tenant_id, AuditEvent.Kind.API_CLIENT_REVOKED, actor, reason=client.name, client_id=client.client_id
    )
    return client
