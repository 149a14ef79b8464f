"""Views under ``/t/<slug>/``: the tenant of the URL, the actor and its grants there, and the one
place where a view's rows are restricted to that tenant.

A tenant the user holds no grant on answers 404 (its existence is not revealed); a tenant the user
can see but where a permission is missing answers 403, naming the permission.
"""

import zoneinfo

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone
from django.utils.html import format_html

from .actors import plain_names, request_actor
from .models import Tenant


class TenantViewMixin(LoginRequiredMixin):
    """For views under ``/t/<slug>/``: sets ``self.tenant``, ``self.actor`` (and ``request.tenant``,
    ``request.tenant_perms`` for templates), enforces ``permission_required``, and declares the
    view's rows once.

    - ``permission_required``: a codename from :mod:`accounts.permissions`;
    - ``model``: the rows the view shows; :meth:`tenant_rows` is ``model.objects.restrict(actor,
      perm)`` limited to the URL's tenant (``restrict_to_tenant``: with the grants read once per
      request), and :meth:`get_object` one of them by ``lookup`` (model
      field, URL keyword) or 404 (another tenant's row is not revealed);
    - ``rows_permission``: the permission the rows are restricted with (default: the view's).
    """

    permission_required = None
    model = None
    rows_permission = None
    lookup = ("pk", "pk")
    not_found = "Not found."

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.actor = request_actor(request)
        # A user's tenants come with their grants (one statement for both); others ask for it.
        tenant = self.actor.granted_tenant(kwargs["tenant_slug"])
        if tenant is None:
            tenant = Tenant.objects.filter(slug=kwargs["tenant_slug"]).first()
        perms = self.actor.perms_on(tenant) if tenant else frozenset()
        if not perms:
            raise Http404("No such tenant.")
        request.tenant, request.tenant_perms = tenant, perms
        self.tenant = tenant
        if self.permission_required and self.permission_required not in perms:
            raise PermissionDenied(
                f"You do not have permission to open this page: it needs the permission "
                f"{plain_names({self.permission_required})}."
            )
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

    @property
    def perms(self):
        """The actor's permissions on the URL's tenant."""
        return self.request.tenant_perms

    def tenant_rows(self, model=None, perm=None):
        """``model``'s rows of the URL's tenant that the actor may see with ``perm``."""
        model = model or self.model
        perm = perm or self.rows_permission or self.permission_required
        return model.objects.restrict_to_tenant(self.actor, perm, self.tenant)

    def get_object(self, queryset=None, perm=None):
        """The row the URL names (``lookup``), among :meth:`tenant_rows`, or 404."""
        field, kwarg = self.lookup
        rows = queryset if queryset is not None else self.tenant_rows(perm=perm)
        obj = rows.filter(**{field: self.kwargs[kwarg]}).first()
        if obj is None:
            raise Http404(self.not_found)
        return obj


#: Said when work was saved but the background workers cannot be reached (the row stays Queued).
WORKERS_UNREACHABLE = "the background workers are unreachable; it will start when they are back"


def report_queued(request, row, text):
    """Tell the user that ``row``'s work was queued (``text``), or that it is queued but waits for the
    background workers, which cannot be reached now: never an error, since nothing was lost."""
    if getattr(row, "workers_unreachable", False):
        messages.warning(request, format_html("{} It is queued — {}.", text, WORKERS_UNREACHABLE))
    else:
        messages.success(request, text)
