"""Forms of the Users & Roles page. Validation that involves the database lives in services."""

from django import forms

from .models import Role
from .permissions import PERMISSION_HELP, PERMISSION_NAMES, PERMISSION_PLAIN, TENANT_PERMISSIONS, VIEWER


class RoleChoiceField(forms.ModelChoiceField):
    """A role of the current tenant, shown by name."""

    def label_from_instance(self, obj):
        return obj.name


class InviteMemberForm(forms.Form):
    """Invite a person by email address, with a role of the tenant (Viewer unless chosen)."""

    email = forms.EmailField(
        label="Email",
        max_length=254,
        help_text="They receive an email to join. People who are already members are listed above.",
    )
    role = RoleChoiceField(label="Role", queryset=Role.objects.none(), empty_label=None)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        roles = Role.objects.filter(tenant=tenant)
        self.fields["role"].queryset = roles
        # The least a new person can be given; an administrator raises it on purpose.
        self.fields["role"].initial = roles.filter(name=VIEWER).values_list("pk", flat=True).first()


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
        choices=[
            (codename, f"{PERMISSION_PLAIN[codename]} — {PERMISSION_HELP[codename]} ({PERMISSION_NAMES[codename]})")
            for codename, _name in TENANT_PERMISSIONS
        ],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
