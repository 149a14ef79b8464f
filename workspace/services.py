"""Saved views of the interactions list: a user's named filters in one tenant.

Each function is one transaction. A saved view is private: only its owner lists, chooses or
deletes it. Saving under a name the user already has in that tenant *replaces* that view's
filters (the name is the handle the user knows it by; a second view of the same name would be
impossible to tell apart in the menu).
"""

from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import QueryDict

from accounts.permissions import VIEW_INTERACTIONS
from interactions.models import SavedView

from .filters import VIEW_PARAMS


def clean_query_string(query_string):
    """Only the parameters that describe a view (filters, sort, page size), non-empty, in a fixed
    order: no page position, no token, nothing a crafted URL slipped in."""
    data = QueryDict(query_string or "")
    pairs = [(name, value) for name in VIEW_PARAMS for value in data.getlist(name) if value.strip()]
    return urlencode(pairs)


def saved_views_for(user, tenant_id):
    """The user's saved views in the tenant, by name."""
    return SavedView.objects.filter(user=user, tenant_id=tenant_id).order_by("name", "id")


def save_view(tenant_id, actor, name, query_string):
    """Save the list filters ``query_string`` as ``name``; returns ``(view, created)``.

    Raises ``ValidationError`` naming the field when the name is empty or too long, or when the
    query string is too long to keep. Saved views are a user's own: the actor is a user who may
    see the tenant's interactions.
    """
    actor.require(tenant_id, VIEW_INTERACTIONS, doing="save views of the interactions list")
    user = actor.user
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name: enter a name for the view."})
    if "\x00" in name:
        raise ValidationError({"name": "Name: null characters are not allowed."})
    if len(name) > SavedView.NAME_MAX_LENGTH:
        raise ValidationError({"name": f"Name: at most {SavedView.NAME_MAX_LENGTH} characters (it has {len(name)})."})
    query_string = clean_query_string(query_string)
    max_length = SavedView._meta.get_field("query_string").max_length
    if len(query_string) > max_length:
        raise ValidationError({"query_string": f"Filters: too long to save (over {max_length} characters)."})
    with transaction.atomic():
        # select_for_update + the unique constraint: two saves of one name at once end as one row.
        view = SavedView.objects.select_for_update().filter(user=user, tenant_id=tenant_id, name=name).first()
        if view is not None:
            view.query_string = query_string
            view.save(update_fields=["query_string"])
            return view, False
        return SavedView.objects.create(user=user, tenant_id=tenant_id, name=name, query_string=query_string), True


def delete_saved_view(view_id, actor, tenant_id=None):
    """Delete the user's saved view ``view_id``; returns its name.

    Raises ``SavedView.DoesNotExist`` when there is no such view of this user (in ``tenant_id`` when
    given): another user's view is indistinguishable from a missing one.
    """
    with transaction.atomic():
        views = SavedView.objects.select_for_update().filter(pk=view_id, user=actor.user)
        if tenant_id is not None:
            views = views.filter(tenant_id=tenant_id)
        view = views.get()
        name = view.name
        view.delete()
        return name
