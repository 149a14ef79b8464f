"""Support-staff admin for tenants, users, roles, memberships and the audit trail.

Every state change of tenants, roles and memberships goes through :mod:`accounts.services`, with
the signed-in admin user as the actor, so grants stay in step and the audit trail is written.
Changes a service refuses are shown as form errors or admin messages, never as a 500. The audit
trail is read-only here. Django's ``Group`` admin is unregistered: each role owns its group and
its guardian grants, and editing them directly would bypass the services. Support staff see
failed and successful sign-ins (django-axes) and unlock locked-out sign-ins through a service.
"""

from axes.models import AccessAttempt, AccessLog
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Prefetch
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.regions import default_region, region_choices

from . import services
from .admin_paginator import (
    LargeTableAdminMixin,
    NoDeleteSelectedMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInlineMixin,
    ServiceDeleteSelectedMixin,
    ServiceFormMixin,
    add_service_errors,
    admin_actor,
    adopt_saved,
    service_refusal,
)
from .models import AuditEvent, Invitation, Membership, Role, Tenant, TenantGroupObjectPermission, User
from .permissions import TENANT_PERMISSION_CODENAMES, TENANT_PERMISSIONS

admin.site.unregister(Group)


def _codenames_in_order(codenames):
    return [codename for codename in TENANT_PERMISSION_CODENAMES if codename in set(codenames)]


class TenantForm(forms.ModelForm):
    """A tenant; its storage region is one the deployment configures (``STORAGE_REGIONS``), and a
    change of it is dry-run through ``update_tenant``, which refuses it while the tenant holds content."""

    # No Meta: the admin makes the form of every field of the tenant (new settings included).

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "storage_region" in self.fields:
            # The regions come from the settings, so they are read when the form is made.
            self.fields["storage_region"] = forms.ChoiceField(
                choices=region_choices(),
                initial=self.instance.storage_region if self.instance.pk else default_region(),
                label=self.fields["storage_region"].label,
                help_text=self.fields["storage_region"].help_text,
            )

    def clean(self):
        cleaned = super().clean()
        region = cleaned.get("storage_region")
        if self.instance.pk and region and "storage_region" in self.changed_data:
            pk = self.instance.pk
            refusal = service_refusal(lambda: services.update_tenant(pk, self.actor, storage_region=region))
            if refusal is not None:
                add_service_errors(self, refusal)
        return cleaned


@admin.register(Tenant)
class TenantAdmin(ServiceFormMixin, LargeTableAdminMixin, NoDeleteSelectedMixin, admin.ModelAdmin):
    """Tenants. Adding one goes through ``services.create_tenant`` (default roles and policies),
    changing one through ``services.update_tenant`` (audited); no deletion. The storage region is
    chosen at creation; it changes only while the tenant holds no content."""

    form = TenantForm
    list_display = ("name", "slug", "time_zone", "locked_interactions_limit", "storage_region", "created_at")
    search_fields = ("name", "slug")
    list_filter = ("time_zone", "storage_region")

    def get_readonly_fields(self, request, obj=None):
        # The slug is in every URL of the tenant; it is chosen once.
        return ("slug", "created_at") if obj else ("created_at",)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            fields = {name: getattr(obj, name) for name in services.TENANT_FIELDS if name in form.changed_data}
            adopt_saved(obj, services.update_tenant(obj.pk, admin_actor(request), **fields))
            return
        chosen = [name for name in services.TENANT_FIELDS if name not in ("name", "sweeps_start_on")]
        fields = {name: getattr(obj, name) for name in chosen}
        adopt_saved(obj, services.create_tenant(obj.name, obj.slug, actor=admin_actor(request), **fields))


class MembershipInline(ReadOnlyInlineMixin, admin.TabularInline):
    """A user's memberships, read-only: change them on the Memberships admin (through services)."""

    model = Membership
    fields = ("tenant", "role", "created_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tenant", "role__tenant")


@admin.register(User)
class UserAdmin(LargeTableAdminMixin, NoDeleteSelectedMixin, DjangoUserAdmin):
    """Users, with Django's user admin minus groups (memberships own them) and minus deletion.

    Deleting a user would cascade into their memberships past ``services.remove_member`` (no
    audit, no last-manager check); deactivate the user instead.
    """

    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    list_filter = ("is_staff", "is_superuser", "is_active")
    filter_horizontal = ("user_permissions",)
    inlines = (MembershipInline,)

    def has_delete_permission(self, request, obj=None):
        return False

    def user_change_password(self, request, id, form_url=""):
        """Django's "set password" page; a password set here is recorded in the user's tenants."""
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                services.record_password_change(unquote(id), admin_actor(request), how="set by support")
        return response


class MembershipForm(forms.ModelForm):
    """A membership; validated by dry-running the service that will apply it."""

    class Meta:
        model = Membership
        fields = ("user", "tenant", "role")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "role" in self.fields:
            # Changing a role: a short list of this tenant's roles instead of a search box.
            field = self.fields["role"]
            field.widget = forms.Select()
            field.queryset = Role.objects.filter(tenant_id=self.instance.tenant_id).select_related("tenant")

    def clean(self):
        cleaned = super().clean()
        user, tenant, role = cleaned.get("user"), cleaned.get("tenant"), cleaned.get("role")
        refusal = None
        if self.instance.pk:
            if role is not None and "role" in self.changed_data:
                refusal = service_refusal(lambda: services.change_member_role(self.instance.pk, role.pk, self.actor))
        elif user is not None and tenant is not None and role is not None:
            refusal = service_refusal(
                lambda: services.add_member(tenant.pk, username=user.username, role_id=role.pk, actor=self.actor)
            )
        if refusal is not None:
            add_service_errors(self, refusal, {"username": "user"})
        return cleaned


@admin.register(Membership)
class MembershipAdmin(ServiceFormMixin, LargeTableAdminMixin, ServiceDeleteSelectedMixin, admin.ModelAdmin):
    """Memberships. Add, role change and removal call ``add_member``, ``change_member_role`` and
    ``remove_member``; a refusal (e.g. removing the last member manager) is a message, not a 500.
    """

    form = MembershipForm
    list_display = ("user", "tenant", "role_name", "created_at")
    list_filter = ("tenant", ("role__name", admin.AllValuesFieldListFilter))
    search_fields = ("user__username", "user__email", "tenant__name", "tenant__slug")
    list_select_related = ("user", "tenant", "role")
    autocomplete_fields = ("user", "tenant", "role")

    @admin.display(description="role", ordering="role__name")
    def role_name(self, obj):
        return obj.role.name

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "tenant", "role__tenant")

    def get_readonly_fields(self, request, obj=None):
        return ("user", "tenant", "created_at") if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            if "role" in form.changed_data:
                services.change_member_role(obj.pk, obj.role_id, admin_actor(request))
            return
        membership = services.add_member(
            obj.tenant_id, username=obj.user.username, role_id=obj.role_id, actor=admin_actor(request)
        )
        adopt_saved(obj, membership)

    def delete_view(self, request, object_id, extra_context=None):
        if request.method == "POST":
            obj = self.get_object(request, unquote(object_id))
            if obj is not None and self.has_delete_permission(request, obj):
                refusal = service_refusal(lambda: services.remove_member(obj.pk, admin_actor(request)))
                if refusal is not None:
                    messages.error(request, f"{obj} was not removed: {' '.join(refusal.messages)}")
                    return redirect(reverse("admin:accounts_membership_change", args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        services.remove_member(obj.pk, admin_actor(request))

    def delete_queryset(self, request, queryset):
        """Remove each membership through the service; refusals become error messages."""
        removed = []
        for membership in queryset.select_related("user", "tenant", "role__tenant"):
            try:
                with transaction.atomic():
                    self.log_deletions(request, [membership])
                    services.remove_member(membership.pk, admin_actor(request))
            except ValidationError as exc:
                messages.error(request, f"{membership} was not removed: {' '.join(exc.messages)}")
            else:
                removed.append(membership)
        return removed


class RoleForm(forms.ModelForm):
    """A role's tenant and name (on creation) and its permissions, applied through services."""

    permissions = forms.MultipleChoiceField(
        choices=TENANT_PERMISSIONS, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = Role
        fields = ("tenant", "name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["permissions"] = _codenames_in_order(self.instance.permission_codenames)

    def clean(self):
        cleaned = super().clean()
        codenames = cleaned.get("permissions") or []
        refusal = None
        if self.instance.pk:
            if "permissions" in self.changed_data:
                refusal = service_refusal(
                    lambda: services.set_role_permissions(self.instance.pk, codenames, self.actor)
                )
        elif cleaned.get("tenant") is not None and cleaned.get("name"):
            refusal = service_refusal(
                lambda: services.create_role(cleaned["tenant"].pk, cleaned["name"], codenames, self.actor)
            )
        if refusal is not None:
            add_service_errors(self, refusal)
        return cleaned


@admin.register(Role)
class RoleAdmin(ServiceFormMixin, LargeTableAdminMixin, NoDeleteSelectedMixin, admin.ModelAdmin):
    """Roles: created by ``services.create_role``, permissions set by ``set_role_permissions``.

    Name and tenant are fixed once created, and roles are not deleted here (no service does it:
    the role's group and grants would be left behind).
    """

    form = RoleForm
    list_display = ("name", "tenant", "member_count", "permission_list")
    ordering = ("tenant__name", "name")
    list_filter = ("tenant",)
    search_fields = ("name", "tenant__name", "tenant__slug")
    list_select_related = ("tenant",)
    autocomplete_fields = ("tenant",)

    def get_queryset(self, request):
        # One prefetch query for every role's grants (portable: PostgreSQL and SQLite alike).
        grants = Prefetch(
            "group__tenantgroupobjectpermission_set",
            queryset=TenantGroupObjectPermission.objects.select_related("permission"),
            to_attr="grant_rows",
        )
        return (
            super()
            .get_queryset(request)
            .select_related("tenant", "group")
            .prefetch_related(grants)
            .annotate(members=Count("memberships"))
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("tenant", "name", "permissions")
        return ("tenant", "name", "permission_list", "permissions")

    def get_readonly_fields(self, request, obj=None):
        return ("tenant", "name", "permission_list") if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="members", ordering="members")
    def member_count(self, obj):
        return obj.members

    @admin.display(description="permission codenames")
    def permission_list(self, obj):
        rows = getattr(obj.group, "grant_rows", None)
        if rows is None:
            codenames = obj.permission_codenames
        else:
            codenames = [row.permission.codename for row in rows if row.content_object_id == obj.tenant_id]
        return ", ".join(_codenames_in_order(codenames)) or "—"

    def save_model(self, request, obj, form, change):
        codenames = form.cleaned_data.get("permissions") or []
        if change:
            if "permissions" in form.changed_data:
                services.set_role_permissions(obj.pk, codenames, admin_actor(request))
            return
        role = services.create_role(obj.tenant_id, obj.name, codenames, admin_actor(request))
        adopt_saved(obj, role)


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Invitations, read-only. A pending one without an account was sent to an address that already
    had one elsewhere: once its owner confirms, link that account in Memberships (which answers it)."""

    list_display = ("email", "tenant", "role_name", "account", "invited_by", "sent_at", "accepted_at")
    list_filter = ("tenant", ("accepted_at", admin.EmptyFieldListFilter))
    search_fields = ("email",)
    list_select_related = ("tenant", "role", "user")

    @admin.display(description="role", ordering="role__name")
    def role_name(self, obj):
        return obj.role.name

    @admin.display(description="account")
    def account(self, obj):
        if obj.user_id:
            return obj.user.username
        return "existing account — link it in Memberships" if obj.accepted_at is None else "—"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """The audit trail, read-only (append-only everywhere); bounded counts on a large table."""

    list_display = (
        "occurred_at", "tenant", "kind", "actor_label",
        "interaction_guid", "artifact_id", "request_id", "reason",
    )  # fmt: skip
    list_filter = ("tenant", "kind")
    search_fields = ("actor_label",)
    uuid_search_fields = ("interaction_guid",)
    search_help_text = "An interaction GUID (exact), or part of the actor's name."
    list_select_related = ("tenant",)


# --- Sign-in throttling (django-axes; AXES_ENABLE_ADMIN is off, these replace axes' own admins) ---
@admin.register(AccessAttempt)
class AccessAttemptAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """Failed sign-ins per user name and address; support staff unlock them (an action, or the
    delete page) through ``services.unlock_sign_ins``, which records ``LOGIN_UNLOCKED``."""

    list_display = ("username", "ip_address", "failures_since_start", "attempt_time", "status", "path_info")
    search_fields = ("username", "ip_address")
    list_filter = ("path_info",)
    fields = ("username", "ip_address", "failures_since_start", "attempt_time", "status", "path_info", "user_agent")
    readonly_fields = fields
    actions = ("unlock_selected",)

    @admin.display(description="status")
    def status(self, obj):
        if obj.failures_since_start < settings.AXES_FAILURE_LIMIT:
            return f"{settings.AXES_FAILURE_LIMIT - obj.failures_since_start} attempt(s) left"
        until = obj.attempt_time + settings.AXES_COOLOFF_TIME
        if until <= timezone.now():
            return "Lockout over"
        return f"Locked out until {timezone.localtime(until):%Y-%m-%d %H:%M %Z}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # unlock_selected goes through the service
        return actions

    def _unlock(self, request, attempt_ids):
        try:
            pairs = services.unlock_sign_ins(attempt_ids, admin_actor(request))
        except PermissionDenied as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return []
        for username, address in pairs:
            self.message_user(request, f"Unlocked sign-ins of {username} from {address}.", messages.SUCCESS)
        return pairs

    @admin.action(description="Unlock: forget these failed sign-ins", permissions=["delete"])
    def unlock_selected(self, request, queryset):
        self._unlock(request, list(queryset.values_list("pk", flat=True)))

    def delete_model(self, request, obj):
        self._unlock(request, [obj.pk])

    def delete_queryset(self, request, queryset):
        self._unlock(request, list(queryset.values_list("pk", flat=True)))


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Successful sign-ins (user name, address, time, sign-out), read-only."""

    list_display = ("attempt_time", "username", "ip_address", "logout_time", "path_info")
    search_fields = ("username", "ip_address")
    list_filter = ("path_info",)
