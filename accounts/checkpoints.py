"""Signed checkpoints of the audit chains, and the Ed25519 key that signs them.

A checkpoint states a tenant's chain head (``seq``, ``hash``) at a moment, signed with the key of
``AUDIT_SIGNING_KEY`` (a PEM file's path, or the PEM itself in the environment): the key never
enters the database, so someone who can rewrite the database cannot sign a rewritten history.
With ``DEBUG`` and no key, one is generated under ``DATA_DIR`` (logged). Checkpoints are taken every
hour (the ``audit_checkpoints`` periodic task, after checking the events appended since the last
one), on demand (``manage.py audit_checkpoint``, the Audit Trail page) and before every export. Each
one is also written, as a JSON object, to ``AUDIT_CHECKPOINT_STORAGE`` when it is configured (a
Django storage alias, or ``s3://bucket/prefix`` — ideally a bucket with S3 Object Lock default
retention), so that cutting the tail of the trail *and* its checkpoint rows is still found.

The signed message and the fingerprint are defined in :mod:`accounts.verify_bundle`.
"""

import base64
import functools
import json
import logging
import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from . import verify_bundle as v
from .models import AuditCheckpoint, Tenant

log = logging.getLogger(__name__)
KEY_FILE_NAME = "audit-signing-key.pem"


# --- the key ----------------------------------------------------------------------------------
def _load_private(pem):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY must be an Ed25519 private key (PEM, PKCS#8).")
    return key


def generate_pem():
    """A new Ed25519 private key as unencrypted PKCS#8 PEM (``manage.py audit_checkpoint --new-key``)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@functools.cache
def _key_from(setting, data_dir, debug):
    if setting.strip().startswith("-----BEGIN"):
        return _load_private(setting.strip().encode())
    if setting:
        path = Path(setting)
        if not path.is_file():
            raise ImproperlyConfigured(f"AUDIT_SIGNING_KEY names {path}, which is not a readable file.")
        return _load_private(path.read_bytes())
    if not debug:
        raise ImproperlyConfigured(
            "AUDIT_SIGNING_KEY is not set: audit checkpoints cannot be signed. Set it to the path of an Ed25519 "
            "private key (PEM), e.g. made with `manage.py audit_checkpoint --new-key > key.pem`, or to the PEM."
        )
    path = Path(data_dir) / KEY_FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(generate_pem())
        log.warning("AUDIT_SIGNING_KEY is not set (DEBUG): generated an audit signing key at %s", path)
    else:
        log.info("AUDIT_SIGNING_KEY is not set (DEBUG): using the development key at %s", path)
    return _load_private(path.read_bytes())


def signing_key():
    """The deployment's Ed25519 private key (see the module docstring)."""
    return _key_from(settings.AUDIT_SIGNING_KEY, str(settings.DATA_DIR), settings.DEBUG)


def public_key():
    return signing_key().public_key()


def public_pem(key=None):
    from cryptography.hazmat.primitives import serialization

    return (key or public_key()).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_fingerprint():
    return v.fingerprint(public_key())


def trusted_keys():
    """Public keys whose checkpoints verify: this deployment's, and retired ones
    (``AUDIT_PREVIOUS_PUBLIC_KEYS``: PEM text or a file's path), by fingerprint."""
    keys = {key_fingerprint(): public_key()}
    previous = settings.AUDIT_PREVIOUS_PUBLIC_KEYS
    if previous:
        pem = previous.encode() if previous.strip().startswith("-----BEGIN") else Path(previous).read_bytes()
        keys.update(v.load_public_keys(pem))
    return keys


# --- checkpoints ------------------------------------------------------------------------------
def as_dict(checkpoint, tenant_slug):
    """A checkpoint as the verifier, the external copy and the export read it."""
    return {
        "tenant": checkpoint.tenant_id,
        "tenant_slug": tenant_slug,
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "at": v.utc_text(checkpoint.created_at),
        "v": v.VERSION,
        "signature": checkpoint.signature,
        "key_fingerprint": checkpoint.key_fingerprint,
    }


def external_storage():
    """The storage checkpoint copies go to, or None (``AUDIT_CHECKPOINT_STORAGE``)."""
    where = settings.AUDIT_CHECKPOINT_STORAGE
    if not where:
        return None
    if where.startswith("s3://"):
        from storages.backends.s3 import S3Storage

        bucket, _, prefix = where[5:].partition("/")
        return S3Storage(
            bucket_name=bucket,
            location=prefix.strip("/"),
            region_name=settings.S3_REGION,
            endpoint_url=settings.S3_ENDPOINT_URL,
            access_key=settings.S3_ACCESS_KEY_ID,
            secret_key=settings.S3_SECRET_ACCESS_KEY,
            default_acl=None,
            file_overwrite=False,
        )
    return storages[where]


def external_name(tenant_id, seq):
    return f"audit-checkpoints/{tenant_id}/{seq:020d}.json"


def external_checkpoints(tenant_id, skip_seqs=()):
    """The copies of ``tenant_id``'s checkpoints in the external storage, except those at
    ``skip_seqs`` (already known from the database, where their signature is checked): each name is
    listed, only the others are read."""
    storage = external_storage()
    if storage is None:
        return []
    folder = f"audit-checkpoints/{tenant_id}"
    try:
        _dirs, files = storage.listdir(folder)
    except FileNotFoundError:
        return []
    found = []
    for name in sorted(files):
        stem = name.removesuffix(".json")
        if not stem.isdigit() or int(stem) in skip_seqs:
            continue
        with storage.open(f"{folder}/{name}") as stream:
            found.append(json.loads(stream.read()))
    return found


def _sign(tenant, seq, head_hash, at):
    body = {"tenant": tenant.pk, "tenant_slug": tenant.slug, "seq": seq, "hash": head_hash, "at": v.utc_text(at)}
    signature = signing_key().sign(v.checkpoint_message(body))
    return base64.b64encode(signature).decode()


def sign_head(tenant, seq, head_hash):
    """Sign ``(seq, head_hash)`` of ``tenant`` now, store the checkpoint and its external copy."""
    at = timezone.now()
    checkpoint = AuditCheckpoint(
        tenant=tenant,
        seq=seq,
        hash=head_hash,
        created_at=at,
        signature=_sign(tenant, seq, head_hash, at),
        key_fingerprint=key_fingerprint(),
    )
    storage = external_storage()
    if storage is not None:
        body = json.dumps(as_dict(checkpoint, tenant.slug), sort_keys=True, indent=1).encode()
        checkpoint.stored_as = storage.save(external_name(tenant.pk, seq), ContentFile(body))
    checkpoint.save()
    return checkpoint


def take_checkpoint(tenant, source="command"):
    """Check ``tenant``'s events since its last checkpoint, then sign the tail they end at.

    Returns ``(checkpoint, created, result)``: the latest checkpoint and ``created=False`` when no
    event was appended since it; ``checkpoint=None`` when the events do not verify (a broken chain
    is never signed: ``result`` says why) or the chain is empty.
    """
    from .verification import verify_tenant

    latest = AuditCheckpoint.objects.filter(tenant=tenant).order_by("-seq").first()
    result = verify_tenant(tenant, from_seq=(latest.seq + 1) if latest else 1, source=source)
    if not result.ok:
        log.error("audit chain of tenant %s is broken, not signing it: %s", tenant.slug, result.line)
        return None, False, result
    if result.last_seq == 0 or (latest is not None and latest.seq >= result.last_seq):
        return latest, False, result
    with transaction.atomic():
        return sign_head(tenant, result.last_seq, result.last_hash), True, result


def take_all(tenants=None, source="job"):
    """A checkpoint of every tenant whose chain moved (hourly); returns the checkpoints signed."""
    taken = []
    for tenant in tenants if tenants is not None else Tenant.objects.order_by("pk"):
        checkpoint, created, _result = take_checkpoint(tenant, source=source)
        if created:
            taken.append(checkpoint)
    return taken


def hourly():
    """The ``audit_checkpoints`` periodic task."""
    taken = take_all()
    log.info("audit checkpoints: %d signed", len(taken))
    return len(taken)
