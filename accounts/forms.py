"""Forms of the Users & Roles page. Validation that involves the database lives in services."""

from django import forms

from .models import Role
from .permissions import PERMISSION_HELP, TENANT_PERMISSIONS


class RoleChoiceField(forms.ModelChoiceField):
    """A role of the current tenant, shown by name."""

    def label_from_instance(self, obj):
        return obj.name


class AddMemberForm(forms.Form):
    """Add an existing user, or a new one with an initial password, to the tenant."""

    username = forms.CharField(label="User name", max_length=150)
    email = forms.EmailField(label="Email", required=False)
    password = forms.CharField(
        label="Initial password",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Only for a new user; an existing user keeps their password.",
    )
    role = RoleChoiceField(label="Role", queryset=Role.objects.none(), empty_label=None)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = Role.objects.filter(tenant=tenant)


class ChangeRoleForm(forms.Form):
    """Move a member to another role."""

    role = RoleChoiceField(label="Role", queryset=Role.objects.none(), empty_label=None)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = Role.objects.filter(tenant=tenant)


class RoleForm(forms.Form):
    """A role's name and permissions."""

    name = forms.CharField(label="Role name", max_length=80)
    permissions = forms.MultipleChoiceField(
        label="Permissions",
        choices=[(codename, f"{name} — {PERMISSION_HELP[codename]}") for codename, name in TENANT_PERMISSIONS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
