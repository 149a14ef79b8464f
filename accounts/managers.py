"""The one tenant filter every list, detail and API query goes through."""

from django.db import models
from django.db.models import Q


def granted_tenant_ids(user, perm):
    """Q matching tenant ids on which ``user`` holds ``perm`` (a codename), as two subqueries.

    Grants are guardian object permissions on the tenant, held by the user's role groups (or,
    rarely, directly by the user). Nothing is evaluated here: callers embed the subqueries.
    """
    from .models import TenantGroupObjectPermission, TenantUserObjectPermission

    through_roles = TenantGroupObjectPermission.objects.filter(group__user=user, permission__codename=perm).values(
        "content_object_id"
    )
    direct = TenantUserObjectPermission.objects.filter(user=user, permission__codename=perm).values("content_object_id")
    return through_roles, direct


class TenantScopedQuerySet(models.QuerySet):
    """QuerySet of a model that belongs to a tenant (``tenant_field`` names the path to it)."""

    tenant_field = "tenant"

    @classmethod
    def as_manager(cls, tenant_field=None):
        """A manager whose querysets filter through ``tenant_field`` (default ``tenant``)."""
        if tenant_field is None:
            return super().as_manager()
        subclass = type(cls.__name__, (cls,), {"tenant_field": tenant_field})
        return models.Manager.from_queryset(subclass)()

    def restrict(self, actor, perm):
        """Only rows of tenants where ``actor`` holds ``perm``; none for anonymous or inactive users.

        ``actor`` is an :class:`accounts.actors.Actor` (or a user). A user's grants are guardian
        object permissions on the tenant; active superusers (support staff) see every tenant, as
        guardian's backend grants them every permission. The filter is two ``IN (SELECT ...)``
        subqueries: one SQL statement in all. Other actors hold explicit grants, on their own
        tenant only when they are bound to one (an API client, an ingestion source).
        """
        if getattr(actor, "kind", "user") != "user":
            if perm not in actor.grants:
                return self.none()
            if actor.tenant_id is None:
                return self
            return self.filter(**{self.tenant_field: actor.tenant_id})
        user = getattr(actor, "user", actor)
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        through_roles, direct = granted_tenant_ids(user, perm)
        lookup = f"{self.tenant_field}__in"
        return self.filter(Q(**{lookup: through_roles}) | Q(**{lookup: direct}))

    def restrict_to_tenant(self, actor, perm, tenant):
        """:meth:`restrict` limited to one tenant (a Tenant or its id): the same rows.

        An :class:`~accounts.actors.Actor` reads its grants on a tenant once
        (:meth:`~accounts.actors.Actor.perms_on`; tenant pages have read them before the view runs),
        so the rows are those of the tenant when the actor holds ``perm`` there and none otherwise:
        a plain ``tenant_id = …`` instead of the two grant subqueries in every statement. A bare
        user has no such cache and goes through :meth:`restrict`.
        """
        tenant_id = getattr(tenant, "pk", tenant)
        perms_on = getattr(actor, "perms_on", None)
        if perms_on is None:
            return self.restrict(actor, perm).filter(**{self.tenant_field: tenant_id})
        if perm not in perms_on(tenant_id):
            return self.none()
        return self.filter(**{self.tenant_field: tenant_id})


class AuditEventQuerySet(TenantScopedQuerySet):
    """Audit events can be added and read, never changed or removed in bulk."""

    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only; they cannot be changed.")

    def delete(self):
        raise PermissionError("Audit events are append-only; they cannot be deleted.")
