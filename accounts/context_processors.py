"""Template context shared by every page: the current tenant and the user's other tenants."""

from .models import Tenant
from .permissions import VIEW_INTERACTIONS


def tenant_navigation(request):
    """``tenant`` (set by tenant views), ``tenant_perms`` and ``my_tenants`` for the switcher."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    tenants = getattr(request, "_holdfast_my_tenants", None)
    if tenants is None:
        tenants = list(Tenant.objects.restrict(user, VIEW_INTERACTIONS).only("name", "slug"))
        request._holdfast_my_tenants = tenants
    return {
        "tenant": getattr(request, "tenant", None),
        "tenant_perms": getattr(request, "tenant_perms", frozenset()),
        "my_tenants": tenants,
    }
