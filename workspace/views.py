"""The interactions list, its CSV export and saved views, scoped to the URL's tenant and the user's
grants there. Query building lives in :mod:`workspace.filters` (shared by list and export),
saved views in :mod:`workspace.services`, the CSV in :mod:`workspace.export`.
"""

import json
from dataclasses import fields as dataclass_fields

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import IntegerField
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView, View

from accounts.permissions import (
    ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS,
    ARTIFACTS_MANAGEMENT_REQUESTS_CREATE,
    VIEW_INTERACTIONS,
)
from accounts.tenancy import TenantViewMixin
from artifacts.validation import locked_interaction_count, locked_interaction_count_expression
from core.sql import NOW_STAND_INS, CompiledExpression
from interactions.models import Interaction, SavedView

from . import services
from .export import csv_response
from .filters import MAX_PER_PAGE, list_query
from .rows import row_html

#: Most interactions one Protect / Release request takes (the request form refuses more too).
MAX_SELECTED = 200
#: Distinct sets of filter values whose rendered fields are kept (per process).
FILTER_FIELDS_CACHE_SIZE = 512
_filter_fields = {}


def filter_fields_html(query, data):
    """The filter and page fields of ``query`` rendered (``_filter_fields.html``), kept per distinct
    set of values in ``data`` (the query parameters).

    Django renders each widget, and each option of a select, through a template: a tenth of the
    list page's server time for markup that depends on nothing but the values (the choices are the
    product's vocabulary, errors follow from the values), and most requests repeat a few sets.
    """
    names = (*query.filterset.form.fields, *query.page_form.fields)
    key = tuple((name, tuple(data.getlist(name))) for name in names)
    html = _filter_fields.get(key)
    if html is None:
        html = render_to_string(
            "interactions/_filter_fields.html", {"filter_form": query.filterset.form, "page_form": query.page_form}
        )
        if len(_filter_fields) >= FILTER_FIELDS_CACHE_SIZE:
            _filter_fields.pop(next(iter(_filter_fields)))  # the oldest
        _filter_fields[key] = html
    return html


#: The tenant's count of locked interactions, compiled once (see :class:`core.sql.CompiledExpression`).
LOCKED_COUNT = CompiledExpression(
    locked_interaction_count_expression, Interaction, IntegerField(), tenant_id=(1, 2), now=NOW_STAND_INS
)


def rules_and_saved_views(user, tenant_id):
    """The tenant's enabled policy rules (as :func:`policies.retention.rules_for` gives them) and
    ``user``'s saved views there (as :func:`workspace.services.saved_views_for`), in one statement
    on PostgreSQL: both are read on every list page, and a round trip with its ORM query cost as
    much as the rows' formatting."""
    from policies.models import LifecyclePolicy
    from policies.retention import Rule, rules_for

    if connection.vendor != "postgresql":
        return tuple(rules_for(tenant_id)), list(services.saved_views_for(user, tenant_id))
    rule_fields = [f.name for f in dataclass_fields(Rule) if f.name != "policy_id"]
    rule_json = ", ".join(f"'{name}', p.{name}" for name in rule_fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 'rule', p.id, row_number() OVER (ORDER BY p.id), jsonb_build_object({rule_json}) "
            f"FROM {LifecyclePolicy._meta.db_table} p WHERE p.tenant_id = %s AND p.enabled "
            "UNION ALL "
            "SELECT 'view', v.id, row_number() OVER (ORDER BY v.name, v.id), "
            "jsonb_build_object('name', v.name, 'query_string', v.query_string) "
            f"FROM {SavedView._meta.db_table} v WHERE v.user_id = %s AND v.tenant_id = %s",
            [tenant_id, user.pk, tenant_id],
        )
        # Django reads JSON as text (its JSONField decodes it): decoded here.
        rows = [(kind, pk, n, json.loads(values)) for kind, pk, n, values in cursor.fetchall()]
    rows.sort(key=lambda row: (row[0], row[2]))
    rules = tuple(Rule(policy_id=pk, **values) for kind, pk, _, values in rows if kind == "rule")
    views = [SavedView(pk=pk, user_id=user.pk, tenant_id=tenant_id, **values) for kind, pk, _, values in rows
             if kind == "view"]  # fmt: skip
    return rules, views


class _InteractionsView(TenantViewMixin):
    """Views of the tenant's interactions list."""

    model = Interaction
    rows_permission = VIEW_INTERACTIONS


class InteractionListView(_InteractionsView, TemplateView):
    """The tenant's interactions, filtered by query parameters, paged by keyset (no OFFSET, no COUNT)."""

    permission_required = VIEW_INTERACTIONS
    template_name = "interactions/interaction_list.html"

    def get_context_data(self, **kwargs):
        # A deletion date already passed is shown as due at the next sweep.
        now = timezone.now()
        # The tenant's lock usage comes with the page's rows (one statement, no extra query).
        scoped = self.tenant_rows()
        scoped = scoped.annotate(tenant_locked=LOCKED_COUNT(scoped.db, tenant_id=self.tenant.pk, now=now))
        rules, saved_views = rules_and_saved_views(self.request.user, self.tenant.pk)
        query = list_query(scoped, self.tenant, self.request.GET, now=now, rules=rules)
        rows, next_cursor = query.page() if not query.errors else ([], "")
        perms = self.perms
        can_protect = ARTIFACTS_MANAGEMENT_REQUESTS_CREATE in perms
        can_release = can_protect and ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS in perms
        # Detail URLs are <list>/<guid>/: built from this prefix, not reversed once per row.
        list_url = reverse("interaction-list", args=[self.tenant.slug])
        return super().get_context_data(
            query=query,
            list_url=list_url,
            filter_fields=filter_fields_html(query, self.request.GET),
            interactions=rows,
            rows_html=[row_html(r, list_url=list_url, now=now, selectable=can_protect or can_release) for r in rows],
            next_cursor=next_cursor,
            is_first_page=query.after is None,
            saved_views=saved_views,
            view_query=services.clean_query_string(self.request.GET.urlencode()),
            can_protect=can_protect,
            can_release=can_release,
            max_selected=MAX_SELECTED,
            max_per_page=MAX_PER_PAGE,
            now=now,
            locked_count=rows[0].tenant_locked if rows else locked_interaction_count(self.tenant.pk),
            **kwargs,
        )


class InteractionExportView(_InteractionsView, View):
    """``export.csv``: the list's rows for the same query parameters, streamed (every page, no limit)."""

    permission_required = VIEW_INTERACTIONS

    def get(self, request, tenant_slug):
        query = list_query(self.tenant_rows(), self.tenant, request.GET)
        if query.errors:
            return HttpResponse(
                "Nothing exported; fix the filters:\n" + "\n".join(query.errors) + "\n",
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        return csv_response(self.tenant, query)


def _back_to_list(request, tenant, query_string=""):
    """Redirect to the list with ``query_string`` (cleaned), or without it when it is longer than
    a saved view may keep: the address stays bounded, and the user is told why the filters went."""
    url = reverse("interaction-list", args=[tenant.slug])
    if len(query_string) > services.MAX_QUERY_STRING:
        messages.info(
            request,
            f"Filters: over {services.MAX_QUERY_STRING:,} characters, too long to keep in the page address; "
            "the list is shown without them.",
        )
        query_string = ""
    return redirect(f"{url}?{query_string}" if query_string else url)


class SavedViewCreateView(TenantViewMixin, View):
    """POST: save the current filters under a name (replacing the user's view of that name)."""

    permission_required = VIEW_INTERACTIONS

    def post(self, request, tenant_slug):
        query_string = request.POST.get("query_string", "")
        try:
            view, created = services.save_view(self.tenant.pk, self.actor, request.POST.get("name"), query_string)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            return _back_to_list(request, self.tenant, services.clean_query_string(query_string))
        verb = "saved" if created else "replaced with the current filters"
        messages.success(request, f"View “{view.name}” {verb}.")
        return _back_to_list(request, self.tenant, view.query_string)


class SavedViewDeleteView(TenantViewMixin, View):
    """POST: delete one of the user's saved views (another user's answers 404, like a missing one)."""

    permission_required = VIEW_INTERACTIONS

    def post(self, request, tenant_slug, view_id):
        try:
            name = services.delete_saved_view(view_id, self.actor, tenant_id=self.tenant.pk)
        except SavedView.DoesNotExist:
            raise Http404("No such saved view.") from None
        messages.success(request, f"View “{name}” deleted.")
        return _back_to_list(request, self.tenant, services.clean_query_string(request.POST.get("query_string", "")))
