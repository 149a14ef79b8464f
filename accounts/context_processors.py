"""Template context shared by every page: the current tenant and the user's other tenants."""

from django.utils.functional import SimpleLazyObject

from .models import Tenant
from .permissions import VIEW_INTERACTIONS


def tenant_navigation(request):
    """``tenant`` (set by tenant views), ``tenant_perms`` and ``my_tenants`` for the switcher."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy: only pages that show the switcher (not the admin) run the query.
    tenants = SimpleLazyObject(lambda: list(Tenant.objects.restrict(user, VIEW_INTERACTIONS).only("name", "slug")))
    return {
        "tenant": getattr(request, "tenant", None),
        "tenant_perms": getattr(request, "tenant_perms", frozenset()),
        "my_tenants": tenants,
    }
