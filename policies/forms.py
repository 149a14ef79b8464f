"""The lifecycle policy form: fields from the model, rules from :func:`policies.services.validate_policy`."""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import construct_instance

from .models import LifecyclePolicy
from .services import POLICY_FIELDS, SELECTORS, validate_policy


class LifecyclePolicyForm(forms.ModelForm):
    """Create or edit a policy; the default policy has no selectors to edit."""

    class Meta:
        model = LifecyclePolicy
        fields = POLICY_FIELDS
        labels = {
            "artifact_type": "Artifact Type",
            "audio_recording_type": "Audio Recording Type",
            "archive_after_days": "Archive after (days)",
            "delete_after_days": "Delete after (days)",
            "keep_forever": "Keep forever",
        }
        help_texts = {
            "artifact_type": "Empty selects every type.",
            "channel": "Empty selects every channel.",
            "direction": "Empty selects both directions.",
            "origin": "Empty selects every origin.",
            "archive_after_days": "Move to archive storage this many days after the artifact was created.",
            "delete_after_days": "Delete this many days after creation (more days than archiving).",
            "keep_forever": "Never delete; wins over any other policy's delete.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.is_default:
            for name in SELECTORS:
                del self.fields[name]
        for name in ("archive_after_days", "delete_after_days"):
            self.fields[name].widget.attrs.update(min=1, step=1)

    def _post_clean(self):
        # One validator for form, command and service: its messages name the field at fault.
        self.instance = construct_instance(self, self.instance, self._meta.fields)
        try:
            validate_policy(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)

    def changes(self):
        """The cleaned fields, as the services take them."""
        return {name: self.cleaned_data[name] for name in self.fields}
