"""Saved views of the interactions list: a user's named filters in one tenant.

Each function is one transaction. A saved view is private: only its owner lists, chooses or
deletes it. Saving under a name the user already has in that tenant *replaces* that view's
filters (the name is the handle the user knows it by; a second view of the same name would be
impossible to tell apart in the menu).
"""

from urllib.parse import parse_qsl, urlencode

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.permissions import VIEW_INTERACTIONS
from interactions.models import SavedView

from .filters import VIEW_PARAMS

#: The longest filters a saved view keeps; also the longest query string a redirect carries back to
#: the list (a longer address is refused by servers and proxies with a bare 400).
MAX_QUERY_STRING = SavedView._meta.get_field("query_string").max_length


def clean_query_string(query_string):
    """Only the parameters that describe a view (filters, sort, page size), non-empty, in a fixed
    order: no page position, no token, nothing a crafted URL slipped in."""
    # parse_qsl, not QueryDict: QueryDict refuses more than DATA_UPLOAD_MAX_NUMBER_FIELDS parameters
    # with a bare 400, where a query string too long to keep must be a message naming the field.
    values = {}
    for name, value in parse_qsl(query_string or "", keep_blank_values=True):
        if name in VIEW_PARAMS and value.strip():
            values.setdefault(name, []).append(value)
    return urlencode([(name, value) for name in VIEW_PARAMS for value in values.get(name, ())])


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
    errors = {}
    if not name:
        errors["name"] = "Name: enter a name for the view."
    elif "\x00" in name:
        errors["name"] = "Name: null characters are not allowed."
    elif len(name) > SavedView.NAME_MAX_LENGTH:
        errors["name"] = f"Name: at most {SavedView.NAME_MAX_LENGTH} characters (it has {len(name)})."
    query_string = clean_query_string(query_string)
    if len(query_string) > MAX_QUERY_STRING:
        errors["query_string"] = f"Filters: too long to save (over {MAX_QUERY_STRING:,} characters); narrow them down."
    if errors:  # every problem at once, each naming its field
        raise ValidationError(errors)
    with transaction.atomic():
        # select_for_update + the unique constraint: two saves of one name at once end as one row.
        view = (
            SavedView.objects.select_for_update(no_key=True).filter(user=user, tenant_id=tenant_id, name=name).first()
        )
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
        views = SavedView.objects.select_for_update(no_key=True).filter(pk=view_id, user=actor.user)
        if tenant_id is not None:
            views = views.filter(tenant_id=tenant_id)
        view = views.get()
        name = view.name
        view.delete()
        return name
