"""Home, tenant chooser, Configuration > Users & Roles, and password change / reset. Views are
thin: services change state."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView, TemplateView, View

from . import services
from .actors import Source, client_address, request_actor, user_actor
from .forms import ChangeRoleForm, InviteMemberForm, RoleForm
from .invitations import invitation_tokens
from .models import Invitation, Membership, Role, Tenant
from .permissions import MANAGE_MEMBERS, PERMISSION_NAMES, PERMISSION_PLAIN, TENANT_PERMISSIONS, VIEW_INTERACTIONS
from .tenancy import TenantViewMixin


@login_required
def home(request):
    """Send the user to their tenant, or to the chooser when they have several (or none)."""
    tenants = list(Tenant.objects.restrict(request.user, VIEW_INTERACTIONS).values_list("slug", flat=True)[:2])
    if len(tenants) == 1:
        return redirect("interaction-list", tenant_slug=tenants[0])
    return redirect("tenant-chooser")


def tenant_home(request, tenant_slug):
    """``/t/<slug>/`` opens the tenant's interactions."""
    return redirect("interaction-list", tenant_slug=tenant_slug)


class TenantChooserView(LoginRequiredMixin, TemplateView):
    """The tenants the user can open."""

    template_name = "accounts/tenant_chooser.html"


def apply_service_errors(form, exc):
    """Show a service's refusal on the form: per field where a ValidationError names one."""
    if isinstance(exc, PermissionDenied):
        form.add_error(None, str(exc))
    elif hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class UsersAndRolesView(TenantViewMixin, TemplateView):
    """Configuration > Users & Roles: members with their roles, pending invitations, the roles'
    permissions, and the form that invites a person by email (it posts back here so that errors
    show in place).

    Only this tenant's members and invitations are shown. Whether an invited address has an
    account elsewhere is never shown: both cases answer alike (see ``services.invite_member``).
    """

    permission_required = MANAGE_MEMBERS
    template_name = "accounts/users_and_roles.html"
    model = Membership

    def get_context_data(self, invite_form=None, **kwargs):
        roles = list(self.tenant_rows(Role))
        grants = self.tenant_rows(Role).values_list("pk", "group__tenantgroupobjectpermission__permission__codename")
        by_role = {}
        for role_id, codename in grants:
            by_role.setdefault(role_id, set()).add(codename)
        return super().get_context_data(
            # People invited who have not joined yet are listed with the invitations, not here.
            members=self.tenant_rows()
            .exclude(user_id__in=services.pending_invitees(self.tenant.pk))
            .select_related("user", "role"),
            invitations=self.tenant_rows(Invitation).pending().select_related("role"),
            roles=roles,
            # Plain words first, the product's codename as secondary text.
            permission_rows=[
                (
                    PERMISSION_PLAIN[codename],
                    PERMISSION_NAMES[codename],
                    [codename in by_role.get(role.pk, ()) for role in roles],
                )
                for codename, _name in TENANT_PERMISSIONS
            ],
            invite_form=invite_form or InviteMemberForm(tenant=self.tenant),
            **kwargs,
        )

    def post(self, request, tenant_slug):
        """Invite a person by email with a role; the answer never depends on what exists elsewhere."""
        form = InviteMemberForm(request.POST, tenant=self.tenant)
        if form.is_valid():
            try:
                invitation = services.invite_member(
                    self.tenant.pk,
                    email=form.cleaned_data["email"],
                    role_id=form.cleaned_data["role"].pk,
                    actor=self.actor,
                    site_url=request.build_absolute_uri("/"),
                )
            except (ValidationError, PermissionDenied) as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect(request.path)
        return self.render_to_response(self.get_context_data(invite_form=form), status=400)


def _refusal(exc):
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


class _UsersAndRolesAction(TenantViewMixin, View):
    """Base for the page's member actions: they come back to the page with a message."""

    permission_required = MANAGE_MEMBERS
    http_method_names = ["post"]
    model = Membership
    lookup = ("pk", "membership_id")
    not_found = "No such member of this tenant."

    def back(self):
        return redirect(reverse("users-and-roles", kwargs={"tenant_slug": self.tenant.slug}))


class ChangeMemberRoleView(_UsersAndRolesAction):
    """Give a member another role."""

    def post(self, request, tenant_slug, membership_id):
        membership = self.get_object()
        form = ChangeRoleForm(request.POST, tenant=self.tenant)
        if not form.is_valid():
            messages.error(request, "Role: choose a role of this tenant.")
            return self.back()
        try:
            services.change_member_role(membership.pk, form.cleaned_data["role"].pk, self.actor)
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _refusal(exc))
        else:
            messages.success(request, f"{membership.user.username} is now {form.cleaned_data['role'].name}.")
        return self.back()


class RemoveMemberView(_UsersAndRolesAction):
    """Remove a member from the tenant."""

    def post(self, request, tenant_slug, membership_id):
        membership = self.get_object(self.tenant_rows().select_related("user"))
        try:
            services.remove_member(membership.pk, self.actor)
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _refusal(exc))
        else:
            messages.success(request, f"{membership.user.username} was removed from {self.tenant.name}.")
        return self.back()


class _RoleFormView(TenantViewMixin, FormView):
    permission_required = MANAGE_MEMBERS
    model = Role
    lookup = ("pk", "role_id")
    not_found = "No such role in this tenant."
    template_name = "accounts/role_form.html"
    form_class = RoleForm

    def get_success_url(self):
        return reverse("users-and-roles", kwargs={"tenant_slug": self.tenant.slug})

    def form_valid(self, form):
        try:
            role = self.save(form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            apply_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Role {role.name} saved.")
        return super().form_valid(form)


class RoleCreateView(_RoleFormView):
    """Create a role with a set of permissions."""

    def save(self, data):
        return services.create_role(self.tenant.pk, data["name"], data["permissions"], self.actor)


class RoleEditView(_RoleFormView):
    """Edit a role's permissions (its name is fixed once members rely on it)."""

    def get_role(self):
        return self.get_object()

    def get_initial(self):
        role = self.get_role()
        return {"name": role.name, "permissions": sorted(role.permission_codenames)}

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.fields["name"].disabled = True
        return form

    def get_context_data(self, **kwargs):
        return super().get_context_data(role=self.get_role(), **kwargs)

    def save(self, data):
        return services.set_role_permissions(self.get_role().pk, data["permissions"], self.actor)


# --- Passwords: Django's own views; each change is recorded in the user's tenants ---------------
class PasswordChangeView(auth_views.PasswordChangeView):
    """Change one's password (signed in; the old one is asked for). ``/password_change/``."""

    def form_valid(self, form):
        # The new password and its audit events commit together, or neither does.
        with transaction.atomic():
            response = super().form_valid(form)
            services.record_password_change(self.request.user.pk, request_actor(self.request))
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Set a new password from an emailed reset link (``/reset/<uid>/<token>/``)."""

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            # Whoever holds the link acts as the user: they proved they read the user's mail.
            actor = user_actor(form.user, Source.WEB, client_address(self.request))
            services.record_password_change(form.user.pk, actor, how="reset")
        return response


class InvitationAcceptView(auth_views.PasswordResetConfirmView):
    """The set-password link of an invitation email: the invited person chooses a password, joins
    the tenants that invited them (``services.accept_invitation``) and is sent to the login page.

    Django's password-reset confirmation (the token leaves the URL for the session before the form
    is shown), with the invitation's own tokens; a used or expired link says so.
    """

    template_name = "registration/invitation_accept.html"
    token_generator = invitation_tokens
    reset_url_token = "set-password"

    def form_valid(self, form):
        try:
            user = services.accept_invitation(
                self.user.pk,
                form.cleaned_data["new_password1"],
                user_actor(self.user, Source.WEB, client_address(self.request)),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.form_invalid(form)
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        messages.success(self.request, f"Your password is set. Log in with your user name, {user.username}.")
        return redirect("login")
