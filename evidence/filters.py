"""The Audit Trail page's filters: one form, one ``Q`` for the page, the CSV and the bundle."""

import uuid
from datetime import datetime, time, timedelta

from django import forms
from django.db.models import Q
from django.utils import timezone

from accounts.actors import Source
from accounts.models import AuditEvent
from core.widgets import ISO_DATE, IsoDateInput


class AuditFilterForm(forms.Form):
    """Time range (tenant-local dates), kind, actor, interaction, request and source."""

    start = forms.DateField(required=False, label="From", widget=IsoDateInput(), input_formats=[ISO_DATE])
    end = forms.DateField(required=False, label="To (inclusive)", widget=IsoDateInput(), input_formats=[ISO_DATE])
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *AuditEvent.Kind.choices])
    actor = forms.CharField(required=False, max_length=200, help_text="name or id")
    interaction = forms.CharField(required=False, max_length=36, label="Interaction GUID")
    request = forms.IntegerField(required=False, min_value=1, label="Request id")
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *Source.choices])

    def clean_interaction(self):
        value = self.cleaned_data["interaction"].strip()
        if not value:
            return None
        try:
            return uuid.UUID(value)
        except ValueError:
            raise forms.ValidationError("Not an interaction GUID.") from None

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("The time range ends before it starts.")
        return data

    def q(self):
        """The filters as one ``Q`` (valid forms only; empty fields do not filter)."""
        data, q = self.cleaned_data, Q()
        tz = timezone.get_current_timezone()
        if data.get("start"):
            q &= Q(occurred_at__gte=timezone.make_aware(datetime.combine(data["start"], time.min), tz))
        if data.get("end"):
            q &= Q(occurred_at__lt=timezone.make_aware(datetime.combine(data["end"] + timedelta(days=1), time.min), tz))
        if data.get("kind"):
            q &= Q(kind=data["kind"])
        if data.get("actor"):
            q &= Q(actor_label__iexact=data["actor"].strip()) | Q(actor_key=data["actor"].strip())
        if data.get("interaction"):
            q &= Q(interaction_guid=data["interaction"])
        if data.get("request"):
            q &= Q(request_id=data["request"])
        if data.get("source"):
            q &= Q(source=data["source"])
        return q

    def described(self):
        """The filters in use, for the export's manifest and audit event."""
        return {name: str(value) for name, value in self.cleaned_data.items() if value not in (None, "")}
