"""The ACD Configuration form: collects a Twilio Flex connection's fields (the services validate)."""

import zoneinfo

from django import forms

from .models import MetadataLabel, TwilioFlexConnection
from .validation import parse_mapping_line

TIME_ZONES = sorted(zoneinfo.available_timezones())


class ConnectionForm(forms.Form):
    """A connection's fields with the seed's labels. Secrets are write-only: never rendered back;
    left empty on an edit, the stored value is kept."""

    name = forms.CharField(label="Name", max_length=200, required=False)
    enabled = forms.BooleanField(label="Ingest on the schedule", required=False, initial=True)
    account_sid = forms.CharField(
        label="Twilio Account SID", max_length=100, required=False, help_text="“AC” followed by 32 hexadecimal digits."
    )
    auth_token = forms.CharField(
        label="Twilio Auth Token",
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    workspace_sid = forms.CharField(
        label="Twilio Flex Workspace SID",
        max_length=100,
        required=False,
        help_text="“WS” followed by 32 hexadecimal digits; one workspace.",
    )
    time_zone = forms.ChoiceField(label="Time Zone", choices=[(z, z) for z in TIME_ZONES], required=False)
    agent_name_format = forms.ChoiceField(
        label="Agent Name Format", required=False, choices=TwilioFlexConnection.AgentNameFormat.choices
    )
    voice_enabled = forms.BooleanField(label="Voice", required=False, initial=True)
    digital_enabled = forms.BooleanField(label="Digital (Chat, SMS)", required=False)
    metadata_mapping = forms.CharField(
        label="Metadata Mapping",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line: Twilio task attribute = metadata label (object.attribute for an object's "
        "attribute; one level at most).",
    )
    rte_screen_recording = forms.BooleanField(label="Enable RTE Messaging for Screen Recording", required=False)
    encryption_name = forms.CharField(label="Name", max_length=200, required=False)
    public_key_sid = forms.CharField(label="Public Key SID", max_length=100, required=False)
    private_key = forms.CharField(
        label="Private Key",
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text="PKCS#8 PEM. Write-only: never shown again; leave empty to keep the stored key.",
    )
    clear_encryption = forms.BooleanField(label="Remove the encryption key", required=False)
    webhook_url = forms.CharField(label="Event Webhook URL", max_length=1000, required=False)
    delete_source = forms.BooleanField(label="Delete source recordings after they are secured", required=False)

    def __init__(self, *args, tenant, connection=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.connection = connection
        if not self.is_bound:
            self.initial["time_zone"] = tenant.time_zone
        if connection is not None and not self.is_bound:
            for name in (
                "name",
                "enabled",
                "account_sid",
                "workspace_sid",
                "time_zone",
                "agent_name_format",
                "voice_enabled",
                "digital_enabled",
                "rte_screen_recording",
                "encryption_name",
                "public_key_sid",
                "webhook_url",
                "delete_source",
            ):
                self.initial[name] = getattr(connection, name)
            self.initial["metadata_mapping"] = "\n".join(f"{a} = {label}" for a, label in connection.mapping_pairs)
        if connection is not None:
            self.fields["auth_token"].help_text = "Stored. Leave empty to keep it; type a new one to replace it."
        labels = MetadataLabel.objects.filter(tenant=tenant, metadata_type=MetadataLabel.Type.TEXT)
        names = ", ".join(labels.values_list("name", flat=True)) or "none yet: add them below"
        self.fields["metadata_mapping"].help_text += f" Text labels: {names}."

    def _group(self, names):
        return [self[name] for name in names]

    @property
    def twilio_fields(self):
        return self._group(
            ("name", "enabled", "account_sid", "auth_token", "workspace_sid", "time_zone", "agent_name_format")
        )

    @property
    def product_fields(self):
        return self._group(("voice_enabled", "digital_enabled", "rte_screen_recording"))

    @property
    def encryption_fields(self):
        return self._group(("encryption_name", "public_key_sid", "private_key"))

    def clean_metadata_mapping(self):
        pairs = []
        for number, line in enumerate(self.cleaned_data["metadata_mapping"].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                pairs.append(parse_mapping_line(line))
            except ValueError as exc:
                raise forms.ValidationError(f"Metadata Mapping: line {number}: {exc}.") from None
        return pairs

    def service_fields(self):
        """The fields as the services take them."""
        data = dict(self.cleaned_data)
        if not data.get("clear_encryption"):
            data.pop("clear_encryption", None)
        return data


class MetadataLabelForm(forms.Form):
    """A new metadata label of the tenant (name and type)."""

    label_name = forms.CharField(label="Metadata label", max_length=200)
    metadata_type = forms.ChoiceField(label="Metadata Type", choices=MetadataLabel.Type.choices)
