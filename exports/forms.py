"""Forms of Configuration > Exports: a new daily archive (export schedule) and the tenant's own S3
buckets archives are pushed to. Validation proper is :mod:`exports.services` / :mod:`exports.buckets`
(their messages name the field); the forms only carry the input."""

from django import forms

from .models import ExportBucket, ExportSchedule


class ScheduleForm(forms.ModelForm):
    """Name, selectors (empty: any), the tenant-local hour, the first day and where archives go."""

    class Meta:
        model = ExportSchedule
        fields = ("name", "channel", "direction", "origin", "artifact_type", "hour", "starts_on", "push_to")
        widgets = {"starts_on": forms.DateInput(attrs={"type": "date"})}
        labels = {"hour": "Hour (tenant time)", "starts_on": "First day", "push_to": "Push to"}

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["push_to"].queryset = ExportBucket.objects.filter(tenant=tenant)
        self.fields["push_to"].empty_label = "Keep here for download"


class BucketForm(forms.ModelForm):
    """A bucket of the tenant's; the secret access key is write-only (empty on edit: keep it)."""

    secret_access_key = forms.CharField(
        label="Secret access key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = ExportBucket
        fields = ("name", "endpoint_url", "region_name", "bucket", "prefix", "access_key_id")
        widgets = {"endpoint_url": forms.URLInput(attrs={"placeholder": "empty for AWS S3"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False  # the service says what is missing, in its words
        if self.instance.pk:  # the keys are write-only: shown as "set" and the ID's last four characters
            self.initial["access_key_id"] = ""
            self.fields["access_key_id"].help_text = f"Now {self.instance.key_hint}. Leave empty to keep it."
            self.fields["secret_access_key"].help_text = "Set, stored encrypted, never shown. Leave empty to keep it."
        else:
            self.fields["secret_access_key"].help_text = "Stored encrypted; it is never shown again."
