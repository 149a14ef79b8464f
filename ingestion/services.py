"""State changes of integrations: Twilio Flex connections and the tenant's metadata labels
(Administrators: ``MANAGE_INTEGRATIONS``), and starting an ingestion run.

Every function takes ids and an actor, checks the actor's grants itself, runs in one transaction
and writes its audit event. Secrets (auth token, private key, webhook secret) are encrypted before
they are saved (:mod:`core.secrets`) and never appear in an audit event: the events say which
secret was set, replaced or cleared, never its value.
"""

import secrets as random_secrets

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import audit
from accounts.models import AuditEvent, Tenant
from accounts.permissions import MANAGE_INTEGRATIONS
from config import jobs
from core import secrets

from . import validation
from .models import IngestionRun, MetadataLabel, TwilioFlexConnection

#: Plain (non-secret) fields of a connection a caller may set.
PLAIN_FIELDS = (
    "name",
    "enabled",
    "account_sid",
    "workspace_sid",
    "time_zone",
    "agent_name_format",
    "voice_enabled",
    "digital_enabled",
    "metadata_mapping",
    "rte_screen_recording",
    "encryption_name",
    "public_key_sid",
    "webhook_url",
    "delete_source",
)
#: Write-only fields: given → replaced; empty or absent → kept.
SECRET_FIELDS = ("auth_token", "private_key")
CLEAR_FLAGS = ("clear_encryption",)


def _text(value):
    return (value or "").strip() if isinstance(value, str | type(None)) else value


def _validate(tenant, values, connection=None):
    """Errors by field for the connection ``values`` would make (``connection``: the stored one)."""
    errors = {}

    def add(field, message):
        if message:
            errors.setdefault(field, []).append(message)

    name = values["name"]
    if not name:
        add("name", "Name: enter a name for this ACD.")
    elif len(name) > 100:
        add("name", f"Name: at most 100 characters ({len(name)} entered).")
    else:
        taken = TwilioFlexConnection.objects.filter(tenant=tenant, name__iexact=name)
        if connection is not None:
            taken = taken.exclude(pk=connection.pk)
        if taken.exists():
            add("name", f"Name: an ACD named “{name}” exists already.")
    add("account_sid", validation.account_sid_error(values["account_sid"]))
    add("workspace_sid", validation.workspace_sid_error(values["workspace_sid"]))
    if not values.get("auth_token") and (connection is None or not connection.auth_token_encrypted):
        add("auth_token", "Twilio Auth Token: enter the auth token of the account.")
    elif values.get("auth_token") and (len(values["auth_token"]) > 200 or not values["auth_token"].isprintable()):
        add("auth_token", "Twilio Auth Token: this is not an auth token (at most 200 printable characters).")
    add("time_zone", validation.time_zone_error(values["time_zone"]))
    if values["agent_name_format"] not in TwilioFlexConnection.AgentNameFormat.values:
        choices = ", ".join(TwilioFlexConnection.AgentNameFormat.labels)
        add("agent_name_format", f"Agent Name Format: choose one of {choices}.")
    if not values["voice_enabled"] and not values["digital_enabled"]:
        add("products", "Products Enabled: choose Voice, Digital (Chat, SMS) or both.")
    labels = dict(MetadataLabel.objects.filter(tenant=tenant).values_list("name", "metadata_type"))
    text_labels = {n for n, t in labels.items() if t == MetadataLabel.Type.TEXT}
    for message in validation.mapping_errors(values["metadata_mapping"], text_labels, set(labels) - text_labels):
        add("metadata_mapping", message)
    has_key = bool(values.get("private_key")) or (
        connection is not None and connection.private_key_encrypted and not values.get("clear_encryption")
    )
    if values.get("private_key"):
        add("private_key", validation.private_key_error(values["private_key"]))
    if values["public_key_sid"] or has_key or values["encryption_name"]:
        add("public_key_sid", validation.public_key_sid_error(values["public_key_sid"]))
        if not has_key:
            add("private_key", f"{validation.LABELS['private_key']}: paste the PKCS#8 private key of that public key.")
        if len(values["encryption_name"]) > 100:
            add("encryption_name", f"{validation.LABELS['encryption_name']}: at most 100 characters.")
    if values["webhook_url"]:
        add("webhook_url", validation.webhook_url_error(values["webhook_url"]))
    return errors


def _normalised(fields, base):
    """The full set of plain values: ``fields`` over ``base`` (the stored connection's values)."""
    values = dict(base)
    for name in (*PLAIN_FIELDS, *SECRET_FIELDS, *CLEAR_FLAGS):
        if name in fields:
            values[name] = fields[name]
    for name in (
        "name",
        "account_sid",
        "workspace_sid",
        "time_zone",
        "encryption_name",
        "public_key_sid",
        "webhook_url",
        "agent_name_format",
    ):
        values[name] = _text(values.get(name)) or ""
    values["private_key"] = (values.get("private_key") or "").strip()
    values["auth_token"] = (values.get("auth_token") or "").strip()
    mapping = values.get("metadata_mapping") or []
    if isinstance(mapping, dict):
        mapping = list(mapping.items())
    values["metadata_mapping"] = [[str(a).strip(), str(label).strip()] for a, label in mapping]
    for flag in ("enabled", "voice_enabled", "digital_enabled", "rte_screen_recording", "delete_source"):
        values[flag] = bool(values.get(flag))
    return values


def _unknown(fields):
    unknown = set(fields) - {*PLAIN_FIELDS, *SECRET_FIELDS, *CLEAR_FLAGS}
    if unknown:
        raise ValidationError({name: f"{name}: not a field of a Twilio Flex connection." for name in sorted(unknown)})


@transaction.atomic
def create_connection(tenant_id, actor, **fields):
    """Create a Twilio Flex connection of the tenant; returns ``(connection, webhook_secret)``.

    ``webhook_secret`` (shown once) is made when a webhook URL is given, else None. Bad fields raise
    ``ValidationError`` naming them (by their labels); nothing is saved.
    """
    actor.require(tenant_id, MANAGE_INTEGRATIONS, doing="create integrations")
    _unknown(fields)
    tenant = Tenant.objects.get(pk=tenant_id)
    defaults = {
        "time_zone": tenant.time_zone,
        "agent_name_format": "first_last",
        "enabled": True,
        "voice_enabled": True,
        "digital_enabled": False,
    }
    values = _normalised(fields, defaults)
    errors = _validate(tenant, values)
    if errors:
        raise ValidationError(errors)
    connection = TwilioFlexConnection(tenant=tenant, created_by=actor.label[:200])
    for name in PLAIN_FIELDS:
        setattr(connection, name, values[name])
    connection.auth_token_encrypted = secrets.encrypt(values["auth_token"])
    connection.private_key_encrypted = secrets.encrypt(values["private_key"])
    webhook_secret = None
    if connection.webhook_url:
        webhook_secret = _new_webhook_secret()
        connection.webhook_secret_encrypted = secrets.encrypt(webhook_secret)
    connection.save()
    audit.record(
        tenant.pk,
        AuditEvent.Kind.INTEGRATION_CREATED,
        actor,
        reason=f"Twilio Flex ACD “{connection.name}” created",
        connection=connection.pk,
        **_public_facts(connection),
    )
    return connection, webhook_secret


def _public_facts(connection):
    """What an audit event may say about a connection: never a secret, only whether it is set."""
    return {
        "account_sid": connection.account_sid,
        "workspace_sid": connection.workspace_sid,
        "products": connection.products_label,
        "encryption": bool(connection.private_key_encrypted),
        "webhook_url": connection.webhook_url,
        "delete_source": connection.delete_source,
    }


def _new_webhook_secret():
    return "whsec_" + random_secrets.token_urlsafe(32)


@transaction.atomic
def update_connection(connection_id, actor, **fields):
    """Change a connection; write-only secrets given empty keep their stored values
    (``clear_encryption=True`` removes the recording encryption key). Returns
    ``(connection, webhook_secret)``: a new secret (shown once) when a webhook URL is set for the
    first time, else None."""
    connection = TwilioFlexConnection.objects.select_for_update(no_key=True).get(pk=connection_id)
    actor.require(connection.tenant_id, MANAGE_INTEGRATIONS, doing="change integrations")
    _unknown(fields)
    values = _normalised(fields, {name: getattr(connection, name) for name in PLAIN_FIELDS})
    if values.get("clear_encryption"):
        values["public_key_sid"] = values["encryption_name"] = ""
    errors = _validate(connection.tenant, values, connection)
    if errors:
        raise ValidationError(errors)
    changed = [name for name in PLAIN_FIELDS if getattr(connection, name) != values[name]]
    for name in changed:
        setattr(connection, name, values[name])
    secret_changes = {}
    if values["auth_token"]:
        connection.auth_token_encrypted = secrets.encrypt(values["auth_token"])
        secret_changes["auth_token"] = "replaced"
    if values.get("clear_encryption") and connection.private_key_encrypted:
        connection.private_key_encrypted = ""
        secret_changes["private_key"] = "cleared"
    elif values["private_key"]:
        secret_changes["private_key"] = "replaced" if connection.private_key_encrypted else "set"
        connection.private_key_encrypted = secrets.encrypt(values["private_key"])
    webhook_secret = None
    if connection.webhook_url and not connection.webhook_secret_encrypted:
        webhook_secret = _new_webhook_secret()
        connection.webhook_secret_encrypted = secrets.encrypt(webhook_secret)
        secret_changes["webhook_secret"] = "set"
    if not changed and not secret_changes:
        return connection, None
    connection.save()
    audit.record(
        connection.tenant_id,
        AuditEvent.Kind.INTEGRATION_CHANGED,
        actor,
        reason=f"Twilio Flex ACD “{connection.name}” changed: " + ", ".join([*changed, *secret_changes]),
        connection=connection.pk,
        changed=changed,
        secrets=secret_changes,
        **_public_facts(connection),
    )
    return connection, webhook_secret


@transaction.atomic
def regenerate_webhook_secret(connection_id, actor):
    """A new webhook signing secret for the connection (returned once; the old one stops signing)."""
    connection = TwilioFlexConnection.objects.select_for_update(no_key=True).get(pk=connection_id)
    actor.require(connection.tenant_id, MANAGE_INTEGRATIONS, doing="change integrations")
    if not connection.webhook_url:
        raise ValidationError({"webhook_url": "Event Webhook URL: set a URL before making a signing secret."})
    secret = _new_webhook_secret()
    connection.webhook_secret_encrypted = secrets.encrypt(secret)
    connection.save(update_fields=["webhook_secret_encrypted", "updated_at"])
    audit.record(
        connection.tenant_id,
        AuditEvent.Kind.INTEGRATION_CHANGED,
        actor,
        reason=f"Twilio Flex ACD “{connection.name}”: new webhook signing secret",
        connection=connection.pk,
        secrets={"webhook_secret": "replaced"},
    )
    return secret


@transaction.atomic
def delete_connection(connection_id, actor):
    """Delete a connection (its runs and delivery log go with it; ingested content stays)."""
    connection = TwilioFlexConnection.objects.select_for_update(no_key=True).get(pk=connection_id)
    actor.require(connection.tenant_id, MANAGE_INTEGRATIONS, doing="delete integrations")
    if connection.runs.filter(status__in=(IngestionRun.Status.QUEUED, IngestionRun.Status.IN_PROGRESS)).exists():
        raise ValidationError("An ingestion of this ACD is running; delete it once the run has finished.")
    tenant_id, name, pk = connection.tenant_id, connection.name, connection.pk
    facts = _public_facts(connection)
    connection.recordings.all().delete()
    connection.delete()
    audit.record(
        tenant_id,
        AuditEvent.Kind.INTEGRATION_DELETED,
        actor,
        reason=f"Twilio Flex ACD “{name}” deleted",
        connection=pk,
        **facts,
    )


# --- metadata labels ------------------------------------------------------------------------------
@transaction.atomic
def create_metadata_label(tenant_id, actor, *, name, metadata_type=MetadataLabel.Type.TEXT):
    """Add a custom metadata label to the tenant (the seed's Metadata Manager)."""
    actor.require(tenant_id, MANAGE_INTEGRATIONS, doing="manage metadata labels")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"label_name": "Metadata label: enter a name."})
    if len(name) > 60 or not name.isprintable():
        raise ValidationError({"label_name": "Metadata label: at most 60 printable characters."})
    if metadata_type not in MetadataLabel.Type.values:
        raise ValidationError({"metadata_type": "Metadata Type: choose Text, Number or Date."})
    if MetadataLabel.objects.filter(tenant_id=tenant_id, name__iexact=name).exists():
        raise ValidationError({"label_name": f"Metadata label: “{name}” exists already."})
    label = MetadataLabel.objects.create(tenant_id=tenant_id, name=name, metadata_type=metadata_type)
    audit.record(
        tenant_id,
        AuditEvent.Kind.METADATA_LABEL_CHANGED,
        actor,
        reason=f"Metadata label “{name}” added",
        label=name,
        metadata_type=metadata_type,
    )
    return label


@transaction.atomic
def delete_metadata_label(label_id, actor):
    """Remove a metadata label; refused while a connection maps a task attribute to it."""
    label = MetadataLabel.objects.select_for_update(no_key=True).get(pk=label_id)
    actor.require(label.tenant_id, MANAGE_INTEGRATIONS, doing="manage metadata labels")
    users = [
        c.name
        for c in TwilioFlexConnection.objects.filter(tenant_id=label.tenant_id)
        if any(target == label.name for _, target in c.metadata_mapping)
    ]
    if users:
        raise ValidationError(
            f"The metadata label “{label.name}” is mapped by {', '.join(users)}; remove the mapping first."
        )
    label.delete()
    audit.record(
        label.tenant_id,
        AuditEvent.Kind.METADATA_LABEL_CHANGED,
        actor,
        reason=f"Metadata label “{label.name}” removed",
        label=label.name,
    )


# --- ingestion runs --------------------------------------------------------------------------------
def start_ingestion(connection_id, actor, *, trigger, since=None, call_sid="", enqueue=True):
    """Queue an ingestion run of the connection (after commit: RQ, or inline without Redis).

    Needs ``MANAGE_INTEGRATIONS`` unless the actor is the connection's own ingestion source (the
    schedule, the recording status callback). Returns the run row.
    """
    from .actors import connection_actor

    with transaction.atomic():
        connection = TwilioFlexConnection.objects.get(pk=connection_id)
        source = connection_actor(connection)
        if actor.kind != source.kind or actor.key != source.key:
            actor.require(connection.tenant_id, MANAGE_INTEGRATIONS, doing="start an ingestion")
        run = IngestionRun.objects.create(
            connection=connection,
            tenant_id=connection.tenant_id,
            trigger=trigger,
            since=since,
            call_sid=call_sid,
            created_by=actor.label[:200],
            **source.ref(),
        )
        if enqueue:
            jobs.enqueue(run)
    return run


def rotate_secrets(actor):
    """Re-encrypt every stored secret with the first key of ``HOLDFAST_SECRET_KEYS`` (operators);
    returns the number of connections rewritten."""
    actor.require_support("re-encrypt integration secrets")
    count = 0
    with transaction.atomic():
        for connection in TwilioFlexConnection.objects.select_for_update(no_key=True).order_by("pk"):
            for field in ("auth_token_encrypted", "private_key_encrypted", "webhook_secret_encrypted"):
                setattr(connection, field, secrets.rotate(getattr(connection, field)))
            connection.save(update_fields=["auth_token_encrypted", "private_key_encrypted", "webhook_secret_encrypted"])
            count += 1
    return count
