"""The form of a new daily archive (export schedule) on Configuration > Exports."""

from django import forms

from .models import ExportSchedule


class ScheduleForm(forms.ModelForm):
    """Name, selectors (empty: any), the tenant-local hour and the first day archived."""

    class Meta:
        model = ExportSchedule
        fields = ("name", "channel", "direction", "origin", "artifact_type", "hour", "starts_on")
        widgets = {"starts_on": forms.DateInput(attrs={"type": "date"})}
        labels = {"hour": "Hour (tenant time)", "starts_on": "First day"}
