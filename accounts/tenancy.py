"""Resolving ``/t/<slug>/`` to a tenant and checking the user's grants there.

A tenant the user holds no grant on answers 404 (its existence is not revealed); a tenant the user
can see but where a permission is missing answers 403.
"""

import zoneinfo

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from .models import Tenant, TenantGroupObjectPermission, TenantUserObjectPermission
from .permissions import TENANT_PERMISSION_CODENAMES


def tenant_perms(user, tenant):
    """The codenames ``user`` holds on ``tenant`` (one query; every codename for superusers)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(TENANT_PERMISSION_CODENAMES)
    through_roles = TenantGroupObjectPermission.objects.filter(group__user=user, content_object=tenant).values_list(
        "permission__codename", flat=True
    )
    direct = TenantUserObjectPermission.objects.filter(user=user, content_object=tenant).values_list(
        "permission__codename", flat=True
    )
    return frozenset(through_roles.union(direct))


class TenantViewMixin(LoginRequiredMixin):
    """For views under ``/t/<slug>/``: sets ``request.tenant`` and enforces ``permission_required``.

    ``permission_required`` is a codename from :mod:`accounts.permissions`.
    """

    permission_required = None

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        tenant = Tenant.objects.filter(slug=kwargs["tenant_slug"]).first()
        perms = tenant_perms(request.user, tenant) if tenant else frozenset()
        if not perms:
            raise Http404("No such tenant.")
        request.tenant, request.tenant_perms = tenant, perms
        self.tenant = tenant
        if self.permission_required and self.permission_required not in perms:
            raise PermissionDenied("You do not have permission to open this page.")
        # Times on tenant pages are the tenant's local times.
        timezone.activate(zoneinfo.ZoneInfo(tenant.time_zone))
        try:
            response = super().dispatch(request, *args, **kwargs)
            # A TemplateResponse renders after dispatch() returns: render it while the zone is active.
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
            return response
        finally:
            timezone.deactivate()
