"""The lifecycle policy form: fields from the model, rules from :func:`policies.services.validate_policy`."""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import construct_instance

from .models import LifecyclePolicy
from .services import POLICY_FIELDS, SELECTORS, validate_policy


def _named(label, message):
    """``message`` introduced by ``label`` once: ``Name: enter a name.``"""
    if message.lower().startswith(label.lower()):
        return message
    first = message.split(" ", 1)[0]
    if first[:1].isupper() and (first[1:].islower() or len(first) == 1):  # "Enter", "A"; not "ARTIFACT"
        message = message[:1].lower() + message[1:]
    return f"{label}: {message}"


class LifecyclePolicyForm(forms.ModelForm):
    """Create or edit a policy; the default policy has no selectors to edit."""

    class Meta:
        model = LifecyclePolicy
        fields = POLICY_FIELDS
        # Labels as on the requests form (the product's manual).
        labels = {
            "name": "Name",
            "enabled": "Enabled",
            "artifact_type": "Artifact Type",
            "audio_recording_type": "Audio Recording Type",
            "channel": "Channel",
            "direction": "Direction",
            "origin": "Origin",
            "archive_after_days": "Archive After (days)",
            "delete_after_days": "Delete After (days)",
            "keep_forever": "Keep Forever",
            "require_export": "Export Before Deleting",
        }
        help_texts = {
            "artifact_type": (
                "Any selects every artifact type, Script and Voicemail included "
                "(unlike Any on Artifacts Management Requests, which leaves those two out)."
            ),
            "audio_recording_type": "Only with the Artifact Type Audio Recording; Any selects every one.",
            "channel": "Any selects every channel.",
            "direction": "Any selects both directions.",
            "origin": "Any selects every origin.",
            "archive_after_days": "Move to archive storage this many days after the artifact was created.",
            "delete_after_days": "Delete this many days after creation (more days than archiving).",
            "keep_forever": "Never delete; wins over any other policy's delete.",
            "require_export": (
                "Delete only content that is in a verified export (a daily archive or an earlier export): the sweep "
                "exports the rest first, and keeps it when the export fails. Applies to what this policy deletes."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.is_default:
            for name in SELECTORS:
                del self.fields[name]
        for name in ("archive_after_days", "delete_after_days"):
            self.fields[name].widget.attrs.update(min=1, step=1)
        for name in SELECTORS:
            if name in self.fields:  # an empty selector selects everything: say "Any", not "---------"
                self.fields[name].choices = [("", "Any"), *[c for c in self.fields[name].choices if c[0] != ""]]

    def full_clean(self):
        """Validate, then make every message name its field once (``Delete After (days): …``), as
        the requests form does, whichever validator wrote it."""
        super().full_clean()
        for name, errors in list(self._errors.items()):
            if name not in self.fields:
                continue
            label = self.fields[name].label
            self._errors[name] = self.error_class(
                [_named(label, message) for message in errors], renderer=self.renderer
            )

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
