"""The export job: write a claimed export's bundle into the exports storage (or a stream), finish the
row with the zip's size and SHA-256, and remove bundles whose days are over (hourly)."""

import json
import logging
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts import audit, checkpoints
from accounts.actors import acting_for, system_actor
from accounts.models import AuditEvent
from accounts.permissions import EXPORT_CONTENT
from artifacts.models import Artifact
from artifacts.storage import get_storage, tenant_storage
from config import jobs

from . import push
from .bundle import ExportFailed, totals, write_bundle
from .models import Export
from .streams import open_writer
from .verify import BundleInvalid, open_ranges, verify_bundle

log = logging.getLogger(__name__)
WORKER_LOST = "The worker writing this export stopped (worker lost); nothing of it was kept. Export again."
EXPIRY_ACTOR = system_actor("export-expiry", "Export expiry", {EXPORT_CONTENT})
#: Expired bundles removed per run of the hourly task (the next run takes the rest).
EXPIRE_BATCH = 500
#: Artifacts checked against, or marked with, a verified export per statement.
MARK_BATCH = 5000


def _progress(export):
    def update(done, done_bytes):
        now = timezone.now()
        Export.objects.filter(pk=export.pk).update(artifacts_done=done, bytes_done=done_bytes, heartbeat_at=now)

    return update


def _write(export, target):
    """Write the bundle into ``target`` acting for the export's creator; returns write_bundle's result."""
    actor = acting_for(export)
    actor.require(export.tenant_id, EXPORT_CONTENT, doing="export content (nothing was exported)")
    count, size = totals(export, actor)
    Export.objects.filter(pk=export.pk).update(artifact_total=count, bytes_total=size)
    return write_bundle(export, target, actor, progress=_progress(export))


def _complete(export, size, sha256, manifest, signature, *, key="", version="", filename="", verified=None):
    """Finish the export Complete; with ``verified`` (the artifact ids its stored zip was checked to
    hold), record it on those artifacts as their last verified export (Genesys's export date)."""

    def then(row):
        expires = None
        if key and row.destination == Export.Destination.STORAGE:  # a pushed zip is the customer's
            expires = row.finished_at + timedelta(days=row.tenant.export_retention_days)
        Export.objects.filter(pk=row.pk).update(
            size=size,
            sha256=sha256,
            manifest=manifest,
            manifest_signature=signature,
            storage_key=key,
            storage_version=version,
            filename=filename,
            expires_at=expires,
            verified_at=row.finished_at if verified is not None else None,
        )
        for start in range(0, len(verified or ()), MARK_BATCH):
            Artifact.objects.filter(id__in=verified[start : start + MARK_BATCH]).update(
                exported_at=row.finished_at, exported_in=row.pk
            )
        audit.record(
            row.tenant_id,
            AuditEvent.Kind.EXPORT_COMPLETED,
            acting_for(row),
            export=row.pk,
            sha256=sha256,
            size=size,
            artifacts=row.artifact_total,
            verified=verified is not None,
            expires_at=expires.isoformat() if expires else None,
            **({"pushed_to": row.pushed_to} if row.pushed_to else {}),
        )

    return jobs.finish(export, jobs.JobStatus.COMPLETE, then=then)


def verify_stored(export, storage, key, version, size, manifest_text):
    """Read the stored zip back from ``storage`` (by ranges, never whole) and check it
    (:func:`check_bundle`). Returns the artifact ids it holds; raises :class:`ExportFailed`."""
    with open_ranges(lambda start, end: storage.iter_bytes(key, start, end, version), size) as reader:
        return check_bundle(export, reader, manifest_text, where="the stored zip")


def check_bundle(export, fileobj, manifest_text, *, where):
    """Check a bundle read back from where it was written (``fileobj``, seekable): the signature of
    its manifest with this deployment's key, each file's SHA-256 against the manifest, the manifest
    against the one written, and each artifact's size and SHA-256 against what was recorded when it
    was stored. Returns the artifact ids it holds; raises :class:`ExportFailed` naming ``where``."""
    try:
        manifest = verify_bundle(fileobj, trusted_fingerprints={checkpoints.key_fingerprint()})
    except BundleInvalid as exc:
        raise ExportFailed(f"Export {export.pk}: {where} does not verify ({exc}); nothing of it is kept.") from None
    if manifest != json.loads(manifest_text):
        raise ExportFailed(f"Export {export.pk}: {where} holds another manifest than the one written; nothing is kept.")
    entries = {entry["id"]: (entry["size"], entry["sha256"]) for entry in manifest["artifacts"]}
    ids = list(entries)
    for start in range(0, len(ids), MARK_BATCH):
        recorded = Artifact.objects.filter(tenant_id=export.tenant_id, id__in=ids[start : start + MARK_BATCH])
        for pk, recorded_size, recorded_sha in recorded.values_list("id", "size", "sha256"):
            if entries.pop(pk) != (recorded_size, recorded_sha):
                raise ExportFailed(
                    f"Export {export.pk}: artifact {pk} is in {where} with a size or SHA-256 other than recorded "
                    "when it was stored; nothing of the export is kept."
                )
    if entries:
        raise ExportFailed(
            f"Export {export.pk}: the manifest names artifacts this tenant does not have: {sorted(entries)[:10]}."
        )
    return ids


def process_export(export):
    """Write a claimed export's bundle into the exports storage (``config.jobs.run``).

    The zip goes straight into the storage as it is written (S3: multipart upload); any failure —
    a checksum mismatch, a storage error, lost grants — aborts the upload, so an export is either
    Complete with its whole zip or Error with nothing kept.
    """
    export = Export.objects.select_related("tenant").get(pk=export.pk)
    if export.destination == Export.Destination.PUSH:
        return push.push_export(export)  # to the customer's own bucket instead
    filename = f"export-{export.tenant.slug}-{export.pk}-{timezone.now():%Y%m%dT%H%M%SZ}.zip"
    key = f"t{export.tenant_id}/exports/{export.pk}-{secrets.token_urlsafe(16)}.zip"
    # The bundle stays in the tenant's region, as its content does.
    storage = get_storage("exports", export.tenant.storage_region)
    writer = open_writer(storage, key)
    try:
        size, sha256, manifest, signature = _write(export, writer)
        version = writer.close()
    except BaseException:
        try:
            writer.abort()
        except Exception:  # the write's own failure is what the row must say
            log.exception("export %s: could not discard the partial bundle %s", export.pk, key)
        raise
    try:
        verified = verify_stored(export, storage, key, version, size, manifest)
    except BaseException:
        failed = storage.delete_many([(key, version)]).failed
        if failed:
            log.error("export %s: could not remove the bundle that did not verify, %s: %s", export.pk, key, failed)
        raise
    _complete(export, size, sha256, manifest, signature, key=key, version=version, filename=filename, verified=verified)


def export_to_stream(export_id, stream):
    """Write export ``export_id`` (Queued, destination *output*) into ``stream`` in this process, as
    the command does: claimed, finished and audited like a worker's run. Raises on failure (the row
    is then in Error, audited)."""
    kind = jobs.KINDS["export"]
    with jobs.claimed(kind, export_id) as row:
        if row is None:
            raise RuntimeError(f"Export {export_id} is not Queued.")
        row = Export.objects.select_related("tenant").get(pk=row.pk)
        try:
            size, sha256, manifest, signature = _write(row, stream)
        except Exception as exc:
            jobs.fail(kind, row.pk, jobs.describe(exc), retryable=False)
            raise
        return _complete(row, size, sha256, manifest, signature)


def record_failure(export, message):
    """The audit event of an export that failed (its row is in Error, nothing of it kept)."""
    audit.record(export.tenant_id, AuditEvent.Kind.EXPORT_FAILED, acting_for(export), reason=message, export=export.pk)


def expire_all(now=None):
    """Remove the bundles whose download days are over, each audited *Export expired*; hourly.
    Returns how many were removed. A bundle the storage refuses to remove is tried again next time."""
    now = now or timezone.now()
    due = list(
        Export.objects.filter(status=jobs.JobStatus.COMPLETE, expired_at__isnull=True, expires_at__lte=now).order_by(
            "expires_at"
        )[:EXPIRE_BATCH]
    )
    if not due:
        return 0
    failed = {}
    by_tenant = {}
    for row in due:
        if row.storage_key:
            by_tenant.setdefault(row.tenant_id, []).append((row.storage_key, row.storage_version))
    for tenant_id, objects in by_tenant.items():  # each tenant's bundles are in its own region
        failed.update(tenant_storage("exports", tenant_id).delete_many(objects).failed)
    removed = 0
    for row in due:
        if row.storage_key in failed:
            log.warning("export %s: the storage refused to remove %s: %s", row.pk, row.storage_key,
                        failed[row.storage_key])  # fmt: skip
            continue
        with transaction.atomic():
            if Export.objects.filter(pk=row.pk, expired_at__isnull=True).update(expired_at=now):
                if not row.download_count:
                    _forget_unfetched(row)
                audit.record(
                    row.tenant_id,
                    AuditEvent.Kind.EXPORT_EXPIRED,
                    EXPIRY_ACTOR,
                    export=row.pk,
                    expires_at=row.expires_at.isoformat(),
                    downloads=row.download_count,
                )
                removed += 1
    return removed


def _forget_unfetched(export):
    """An export nobody downloaded is gone with its bundle: content it held that is still here no
    longer counts as exported (a deletion that requires an export makes a new one first).
    Tombstones keep the record: they were deleted while it could be downloaded."""
    for start in range(0, len(export.interaction_ids), MARK_BATCH):
        Artifact.objects.filter(
            interaction_id__in=export.interaction_ids[start : start + MARK_BATCH], exported_in=export.pk
        ).present().update(exported_at=None, exported_in=None)


def bundles_held(sender, tenant, region, **kwargs):
    """Receiver of ``accounts.signals.tenant_region_changing``: a tenant whose export bundles are still
    in its region's exports storage (or being written) cannot leave the region."""
    held = Export.objects.filter(tenant_id=tenant.pk, expired_at__isnull=True).exclude(
        status__in=[jobs.JobStatus.ERROR, jobs.JobStatus.CANCELLED]
    )
    held = held.exclude(destination=Export.Destination.PUSH, status=jobs.JobStatus.COMPLETE)  # in their bucket
    count = held.count()
    if not count:
        return None
    return f"it holds {count} export bundle{'s' if count != 1 else ''} in region {tenant.storage_region}"
