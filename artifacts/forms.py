"""The form of Configuration > Artifacts Management Requests > Create.

The form renders the manual's fields and coerces the raw POST (checkboxes, the date); it does not
judge the values: :func:`artifacts.validation.validate_request` (through the service) is the one
validator, and its errors, keyed by these field names, are put back on the form. Choice fields are
therefore plain text fields with a select widget, so that a forged value reaches the validator
(and a forbidden request type becomes a 403, not a form error).
"""

from django import forms

from accounts.permissions import ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS
from core.vocabulary import ARTIFACT_TYPE_SELECTION_CHOICES, ArtifactType, AudioRecordingType
from core.widgets import ISO_DATE, IsoDateInput

from .models import ManagementRequest
from .validation import CONFIRMATIONS, MAX_INTERACTION_IDS, allowed_request_types

RequestType = ManagementRequest.RequestType
CHOOSE = [("", "Choose…")]
#: Query parameters a link may use to prefill the form (the interactions list's bulk buttons do).
PREFILL_FIELDS = ("description", "request_type", "artifact_type", "audio_recording_type", "interaction_ids", "matter")


def confirm_field_name(request_type):
    """The checkbox that confirms ``request_type`` (one per type; only the chosen one counts)."""
    return f"confirm_{request_type}"


class ManagementRequestForm(forms.Form):
    """Create an Artifacts Management Request, with the labels of the product's manual."""

    # No max_length here: the validator's message ("Description: at most 500 ...") is the one shown.
    description = forms.CharField(label="Description", required=False, widget=forms.TextInput(attrs={"maxlength": 500}))
    request_type = forms.CharField(label="Request Type", required=False, widget=forms.Select)
    artifact_type = forms.CharField(
        label="Artifact Type",
        required=False,
        widget=forms.Select(choices=CHOOSE + list(ARTIFACT_TYPE_SELECTION_CHOICES)),
        help_text="Any applies to all artifacts except Script and Voicemail.",
    )
    audio_recording_type = forms.CharField(
        label="Audio Recording Type",
        required=False,
        widget=forms.Select(choices=CHOOSE + list(AudioRecordingType.choices)),
    )
    interaction_ids = forms.CharField(
        label="Interaction Ids",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text=f"Up to {MAX_INTERACTION_IDS} interaction ids, separated by commas, spaces or new lines.",
    )
    lock_expires = forms.BooleanField(label="Lock Expires", required=False)
    lock_expires_on = forms.DateField(
        label="Lock Expires On",
        required=False,
        widget=IsoDateInput(),
        input_formats=[ISO_DATE],
        error_messages={"invalid": "Lock Expires On: enter a valid date (YYYY-MM-DD)."},
    )
    remove_locks = forms.BooleanField(label="Remove Locks to Process Request", required=False)
    require_export = forms.BooleanField(
        label="Export Before Deleting",
        required=False,
        help_text="Delete only content that is in a verified export; what has none is exported first "
        "(Configuration > Exports), and kept if that export fails.",
    )
    matter = forms.CharField(
        label="Matter",
        required=False,
        widget=forms.Select,
        help_text="The legal matter (Configuration > Legal Holds). Add Lock: the locks belong to it. "
        "Remove Lock: only its locks are released.",
    )

    def __init__(self, *args, perms=frozenset(), matters=(), matter_required=False, **kwargs):
        super().__init__(*args, **kwargs)
        # Open matters by case id; the validator judges whatever value comes back.
        none = "Choose…" if matter_required else "None"
        self.fields["matter"].widget.choices = [("", none)] + [(m.case_id, str(m)) for m in matters]
        if matter_required:
            self.fields["matter"].help_text += " Required for Add Lock in this tenant."
        self.allowed_types = allowed_request_types(perms)
        self.fields["request_type"].widget.choices = CHOOSE + [(t.value, t.label) for t in self.allowed_types]
        # Delete with Remove Locks also needs the Remove Lock permission: not offered without it.
        self.offers_remove_locks = ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS in perms
        for request_type in RequestType:
            self.fields[confirm_field_name(request_type)] = forms.BooleanField(
                label=CONFIRMATIONS[request_type], required=False
            )

    @property
    def confirmation_fields(self):
        """``(request type, bound checkbox)`` for the types this user may save."""
        return [(t.value, self[confirm_field_name(t)]) for t in self.allowed_types]

    @property
    def audio_recording_value(self):
        """The Artifact Type value that shows the Audio Recording Type field."""
        return ArtifactType.AUDIO_RECORDING.value

    def service_fields(self):
        """The raw inputs of ``validate_request``, read after :meth:`is_valid` has run."""
        data = getattr(self, "cleaned_data", {})
        request_type = data.get("request_type", "")
        return {
            "request_type": request_type,
            "artifact_type": data.get("artifact_type", ""),
            "audio_recording_type": data.get("audio_recording_type", ""),
            "description": data.get("description", ""),
            "interaction_ids": data.get("interaction_ids", ""),
            "lock_expires": data.get("lock_expires", False),
            "lock_expires_on": data.get("lock_expires_on"),
            "remove_locks": data.get("remove_locks", False),
            "require_export": data.get("require_export", False),
            "matter": data.get("matter", ""),
            # Only the checkbox of the submitted type confirms it.
            "confirmed": request_type in RequestType.values and bool(data.get(confirm_field_name(request_type))),
        }

    def add_service_errors(self, exc):
        """Put a validator ``ValidationError`` on the fields it names (messages name the field)."""
        request_type = self.data.get("request_type", "")
        by_field = exc.error_dict if hasattr(exc, "error_dict") else {None: exc.error_list}
        for field, errors in by_field.items():
            if field == "confirmed":
                field = confirm_field_name(request_type) if request_type in RequestType.values else None
            if field not in self.fields:
                field = None
            if field and self.has_error(field):
                continue  # the form's own message (e.g. an unreadable date) already says it
            self.add_error(field, errors)
