"""Template context shared by every page: the current tenant and the user's other tenants."""

from django.utils.functional import SimpleLazyObject

from .actors import Source
from .models import Tenant
from .permissions import VIEW_INTERACTIONS


def tenant_navigation(request):
    """``tenant`` (set by tenant views), ``tenant_perms`` and ``my_tenants`` for the switcher."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Tenant pages have read the user's grants on every tenant already (Actor.perms_on): the
    # switcher's tenants come from them. Elsewhere, lazily: only pages that show the switcher (not
    # the admin) run the query.
    actor = request.__dict__.get("_holdfast_actors", {}).get(Source.WEB)
    known = actor.tenants_with(VIEW_INTERACTIONS) if actor is not None else None
    tenants = (
        known
        if known is not None
        else SimpleLazyObject(lambda: list(Tenant.objects.restrict(user, VIEW_INTERACTIONS).only("name", "slug")))
    )
    return {
        "tenant": getattr(request, "tenant", None),
        "tenant_perms": getattr(request, "tenant_perms", frozenset()),
        "my_tenants": tenants,
    }
