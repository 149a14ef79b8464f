"""Shared building blocks of the support admin for large tables and service-only state changes.

Interactions, artifacts and audit events can hold millions of rows. Django's changelist would
count them twice per page view (``SELECT COUNT(*)`` of the filtered and of the whole table), and
facet counts would add one count per filter choice. :class:`LargeTableAdminMixin` removes all of
these: the filtered count is bounded by :class:`CappedCountPaginator`, the full count is switched
off and facets are never shown. Every Holdfast admin uses it, so no admin changelist runs an
unbounded count.

The other mixins keep support staff from bypassing locks and the audit trail: read-only admins,
no ``delete_selected`` action, and :func:`service_refusal` to validate a form by dry-running the
service that will perform the change.
"""

import uuid

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.utils.functional import cached_property

#: Most rows a large-table changelist ever counts (and so the most it pages through).
COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """A paginator whose ``count`` is ``min(real count, cap)``, never an unbounded ``COUNT(*)``.

    The count is computed as ``SELECT COUNT(*) FROM (SELECT ... LIMIT cap)`` (Django's
    ``queryset[:cap].count()``), with the ordering dropped from the inner query so that the
    database stops after ``cap`` matching rows instead of sorting the table. This holds for
    filtered and searched changelists too. The consequence: a changelist shows at most
    ``cap / per_page`` pages; rows further down are reached by filtering, searching or sorting,
    and the changelist says so (see :meth:`LargeTableAdminMixin.get_changelist_instance`).
    """

    cap = COUNT_CAP

    @cached_property
    def count(self):
        """``min(number of matching rows, cap)``, with one bounded query."""
        object_list = self.object_list
        if hasattr(object_list, "order_by") and hasattr(object_list, "count"):
            return object_list.order_by()[: self.cap].count()
        return min(len(object_list), self.cap)


def admin_actor(request):
    """The support user acting in the admin (audited with the source "admin")."""
    from .actors import Source, request_actor

    return request_actor(request, Source.ADMIN)


class ServiceFormMixin:
    """Admin forms validated by dry-running services: the form knows the admin's actor."""

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"actor": admin_actor(request)})


class NoDeleteSelectedMixin:
    """Drops the built-in ``delete_selected`` action (bulk deletes would skip the services)."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class ReadOnlyInlineMixin:
    """An inline (or, with :class:`ReadOnlyAdminMixin`, an admin) that only shows rows."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdminMixin(ReadOnlyInlineMixin, NoDeleteSelectedMixin):
    """View-only admin: no add, no change, no delete; every field is shown read-only.

    Django renders the change page of an object the user may view but not change as a
    read-only page without a save button; POSTs to the add, change or delete views answer 403.
    """

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]


class ServiceDeleteSelectedMixin:
    """Replaces ``delete_selected`` by :func:`delete_selected_through_services`.

    The admin's ``delete_queryset`` must delete through the services (see that function).
    """

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            description = actions["delete_selected"][2]
            actions["delete_selected"] = (delete_selected_through_services, "delete_selected", description)
        return actions


class LargeTableAdminMixin:
    """Changelist settings for tables with millions of rows (used by every admin here).

    - the filtered row count is bounded (:class:`CappedCountPaginator`) and the unfiltered total
      is never counted (``show_full_result_count = False``); filter facets are never counted;
      when the cap is reached, the changelist says so in a message;
    - ``uuid_search_fields``: a search term that is a UUID matches these fields exactly (an index
      lookup); any other term goes to ``search_fields`` as usual. UUID columns are deliberately
      left out of ``search_fields``, where Django would cast them to text and scan the table.
    """

    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    uuid_search_fields = ()

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().strip("\"'")
        if self.uuid_search_fields and term:
            try:
                value = uuid.UUID(term)
            except ValueError:
                pass
            else:
                match = Q.create([(field, value) for field in self.uuid_search_fields], connector=Q.OR)
                return queryset.filter(match), False
        return super().get_search_results(request, queryset, search_term)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        if changelist.result_count >= self.paginator.cap:
            messages.info(
                request,
                f"{self.paginator.cap:,} or more rows match: only the first {self.paginator.cap:,} are "
                "counted and paged. Filter or search to narrow the list.",
            )
        return changelist


class _DryRun(Exception):
    """Raised to roll back a dry run that succeeded."""


def service_refusal(call):
    """Run ``call()`` in a savepoint that is always rolled back; return its ValidationError or None.

    Used in admin forms' ``clean()`` so that a change a service would refuse (e.g. removing the
    tenant's last member manager) is shown as a form error, before anything is saved; the admin
    then calls the same service for real in ``save_model``.
    """
    try:
        with transaction.atomic():
            call()
            raise _DryRun
    except _DryRun:
        return None
    except PermissionDenied as exc:
        return ValidationError(str(exc))
    except ValidationError as exc:
        return exc


def add_service_errors(form, exc, field_map=None):
    """Attach a service's ValidationError to ``form``: to the field it names, else to the form."""
    field_map = field_map or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, errors in exc.error_dict.items():
        field = field_map.get(key, key)
        messages_ = [message for error in errors for message in error.messages]
        form.add_error(field if field in form.fields else None, messages_)


def adopt_saved(obj, saved):
    """Make the admin's unsaved ``obj`` stand for ``saved``, the row a service created.

    ``save_model`` of an addition calls the service instead of ``obj.save()``; the admin then
    logs, messages and redirects with ``obj``, which needs the new row's primary key.
    """
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


def delete_selected_through_services(modeladmin, request, queryset):
    """A ``delete_selected`` action: Django's confirmation page, then ``delete_queryset``.

    ``modeladmin.delete_queryset`` must delete through the services, log each deletion it makes
    and return the objects it deleted; refusals are its own messages. Unlike Django's action,
    the success message counts only what was actually deleted.
    """
    if not request.POST.get("post"):
        return delete_selected(modeladmin, request, queryset)
    if not modeladmin.has_delete_permission(request):
        raise PermissionDenied
    deleted = modeladmin.delete_queryset(request, queryset)
    if deleted:
        noun = modeladmin.opts.verbose_name if len(deleted) == 1 else modeladmin.opts.verbose_name_plural
        modeladmin.message_user(request, f"Deleted {len(deleted)} {noun}.", messages.SUCCESS)
    return None
