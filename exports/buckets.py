"""A tenant's own S3 buckets that daily archives are pushed to (:class:`exports.models.ExportBucket`):
add, change, remove — each checks ``EXPORT_CONTENT``, runs in one transaction and is audited. The
secret access key is encrypted at rest (:mod:`core.secrets`); an audit event says only that it was
set or replaced, and shows the access key ID's last four characters.

Bad input raises ``ValidationError`` naming the field; nothing is saved.
"""

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import audit
from accounts.models import AuditEvent
from accounts.permissions import EXPORT_CONTENT
from core import secrets

from .models import ExportBucket

#: The fields a page, the API or a command may set; the secret is write-only.
BUCKET_FIELDS = ("name", "endpoint_url", "region_name", "bucket", "prefix", "access_key_id", "secret_access_key")
#: What an audit event shows of a bucket (never the secret; the key ID as its last four characters).
SHOWN_FIELDS = ("name", "endpoint_url", "region_name", "bucket", "prefix")

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
_NO_SPACE = re.compile(r"^\S+$")


def _endpoint_error(value):
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an http:// or https:// URL, e.g. https://s3.example.com (empty for AWS S3)."
    if parts.username or parts.password or parts.query or parts.fragment:
        return "the endpoint's URL only: no user name, password, query or fragment (the keys go below)."
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "the port is not a number from 1 to 65535."
    if not settings.EXPORT_PUSH_PRIVATE_ENDPOINTS and _internal(parts.hostname):
        return PRIVATE_REFUSED
    return None


PRIVATE_REFUSED = (
    "an endpoint on a loopback, private or link-local address is refused (Holdfast's network is not "
    "reachable this way; EXPORT_PUSH_PRIVATE_ENDPOINTS allows it)."
)


def _internal(host):
    """Whether ``host`` (a name or an address) is this machine or this network, not the internet."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def endpoint_problem(bucket):
    """Why the workers must not call the bucket's endpoint (it resolves into this network), or None.
    Checked when an archive is pushed: a name can point elsewhere than when it was saved."""
    if settings.EXPORT_PUSH_PRIVATE_ENDPOINTS or not bucket.endpoint_url:
        return None
    host = urlsplit(bucket.endpoint_url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except OSError as exc:
        return f"its endpoint's host {host} cannot be resolved ({exc})"
    internal = sorted(address for address in addresses if _internal(address.split("%")[0]))
    if internal or _internal(host):
        return f"its endpoint's host {host} is on a loopback, private or link-local address ({', '.join(internal)})"
    return None


def _bucket_error(value):
    if not 3 <= len(value) <= 63:
        return "an S3 bucket name is 3 to 63 characters long."
    if not _BUCKET_NAME.match(value):
        return (
            "an S3 bucket name has lowercase letters, digits, dots and hyphens only, and starts and ends "
            "with a letter or a digit."
        )
    if ".." in value or ".-" in value or "-." in value:
        return "an S3 bucket name has no two dots, and no dot next to a hyphen."
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return None
    return "an S3 bucket name is not an IP address."


def _prefix_error(value):
    if value.startswith("/"):
        return "a key prefix does not start with “/”, e.g. archives/holdfast/."
    if "//" in value or any(part in (".", "..") for part in value.split("/")):
        return "a key prefix has no empty, “.” or “..” parts."
    if any(ord(char) < 32 or ord(char) == 127 for char in value) or "\\" in value:
        return "a key prefix has no control characters or backslashes."
    return None


def clean(values, *, creating):
    """``values`` checked and normalised (stripped; a prefix ends with "/"); raises ValidationError
    naming each bad field."""
    cleaned = {name: str(value if value is not None else "").strip() for name, value in values.items()}
    errors = {}
    limits = {"name": 100, "endpoint_url": 300, "region_name": 40, "prefix": 100, "access_key_id": 128}
    required = ("name", "bucket", "access_key_id") + (("secret_access_key",) if creating else ())
    for name in required:
        if (name in cleaned or creating) and not cleaned.get(name):
            errors[name] = "required."
    for name, limit in limits.items():
        if len(cleaned.get(name, "")) > limit:
            errors.setdefault(name, f"at most {limit} characters.")
    checks = {"endpoint_url": _endpoint_error, "bucket": _bucket_error, "prefix": _prefix_error}
    for name, check in checks.items():
        if cleaned.get(name) and name not in errors:
            message = check(cleaned[name])
            if message:
                errors[name] = message
    if cleaned.get("region_name") and not _REGION.match(cleaned["region_name"]) and "region_name" not in errors:
        errors["region_name"] = "a region name such as eu-central-1 (lowercase letters, digits, hyphens)."
    for name in ("access_key_id", "secret_access_key"):
        if cleaned.get(name) and not _NO_SPACE.match(cleaned[name]) and name not in errors:
            errors[name] = "no spaces."
    if len(cleaned.get("secret_access_key", "")) > 256:
        errors.setdefault("secret_access_key", "at most 256 characters.")
    if errors:
        raise ValidationError(errors)
    if cleaned.get("prefix") and not cleaned["prefix"].endswith("/"):
        cleaned["prefix"] += "/"
    if cleaned.get("endpoint_url"):
        cleaned["endpoint_url"] = cleaned["endpoint_url"].rstrip("/")
    return cleaned


def _shown(bucket):
    return {
        **{name: getattr(bucket, name) for name in SHOWN_FIELDS},
        "access_key_id": bucket.key_hint,
        "secret_access_key": "set",
    }


def _unknown(fields):
    unknown = set(fields) - set(BUCKET_FIELDS)
    if unknown:
        raise ValidationError({name: "not a field of a bucket." for name in sorted(unknown)})


def _name_taken(tenant_id, name, exclude=None):
    rows = ExportBucket.objects.filter(tenant_id=tenant_id, name__iexact=name)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    if rows.exists():
        raise ValidationError({"name": f"this tenant already has a bucket named “{name}”."})


@transaction.atomic
def create_bucket(tenant_id, actor, **fields):
    """Add a bucket of the tenant's (``BUCKET_FIELDS``); the secret is stored encrypted. Audited
    *Export bucket added* without the secret."""
    actor.require(tenant_id, EXPORT_CONTENT, doing="add export buckets")
    _unknown(fields)
    values = clean(fields, creating=True)
    _name_taken(tenant_id, values["name"])
    secret = values.pop("secret_access_key")
    bucket = ExportBucket.objects.create(
        tenant_id=tenant_id,
        created_by=actor.label[:200],
        secret_access_key_encrypted=secrets.encrypt(secret),
        **values,
    )
    audit.record(tenant_id, AuditEvent.Kind.EXPORT_BUCKET_CREATED, actor, export_bucket=bucket.pk, **_shown(bucket))
    return bucket


@transaction.atomic
def update_bucket(bucket_id, actor, **fields):
    """Change a bucket; a ``secret_access_key`` given empty keeps the stored one. Audited with each
    changed field's before and after (the key ID as its last four characters, the secret as
    "replaced")."""
    bucket = ExportBucket.objects.select_for_update(no_key=True).get(pk=bucket_id)
    actor.require(bucket.tenant_id, EXPORT_CONTENT, doing="change export buckets")
    _unknown(fields)
    values = clean(fields, creating=False)
    if "name" in values:
        _name_taken(bucket.tenant_id, values["name"], exclude=bucket.pk)
    secret = values.pop("secret_access_key", "")
    before = _shown(bucket)
    for name, value in values.items():
        setattr(bucket, name, value)
    after = _shown(bucket)
    changed = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
    if secret:
        bucket.secret_access_key_encrypted = secrets.encrypt(secret)
        changed["secret_access_key"] = ["set", "replaced"]
    bucket.save()
    audit.record(
        bucket.tenant_id, AuditEvent.Kind.EXPORT_BUCKET_CHANGED, actor, export_bucket=bucket.pk, changed=changed
    )
    return bucket


@transaction.atomic
def remove_bucket(bucket_id, actor):
    """Remove a bucket; refused (ValidationError) while a daily archive pushes to it. Archives pushed
    to it keep saying where they went."""
    bucket = ExportBucket.objects.select_for_update(no_key=True).get(pk=bucket_id)
    actor.require(bucket.tenant_id, EXPORT_CONTENT, doing="remove export buckets")
    users = list(bucket.schedules.order_by("name").values_list("name", flat=True))
    if users:
        names = ", ".join(f"“{name}”" for name in users)
        raise ValidationError(
            {
                "bucket": f"the daily archive{'s' if len(users) > 1 else ''} {names} "
                f"{'push' if len(users) > 1 else 'pushes'} to “{bucket.name}”: "
                "choose another bucket for them first."
            }
        )
    shown = _shown(bucket)
    bucket.delete()
    audit.record(bucket.tenant_id, AuditEvent.Kind.EXPORT_BUCKET_REMOVED, actor, export_bucket=bucket_id, **shown)


def rotate_secrets(actor):
    """Re-encrypt every bucket's secret with the first ``HOLDFAST_SECRET_KEYS`` key (operators; run by
    ``manage.py twilio_flex rotate-secrets`` through :func:`core.secrets.register_rotation`)."""
    actor.require_support("re-encrypt export bucket secrets")
    count = 0
    for pk in ExportBucket.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            bucket = ExportBucket.objects.select_for_update(no_key=True).get(pk=pk)
            bucket.secret_access_key_encrypted = secrets.rotate(bucket.secret_access_key_encrypted)
            bucket.save(update_fields=["secret_access_key_encrypted"])
            count += 1
    return count


def client_for(bucket, *, timeout=30):
    """A boto3 S3 client with the bucket's endpoint, region and (decrypted) keys. Path-style
    addressing on other endpoints than AWS (what S3-compatible services accept)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=10,
        read_timeout=timeout,
        retries={"mode": "standard", "max_attempts": 3},
        s3={"addressing_style": "path"} if bucket.endpoint_url else {},
        signature_version="s3v4",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=bucket.endpoint_url or None,
        region_name=bucket.region_name or None,
        aws_access_key_id=bucket.access_key_id,
        aws_secret_access_key=secrets.decrypt(bucket.secret_access_key_encrypted),
        config=config,
    )
