"""The export bundle: a zip streamed into any writable stream (the exports storage, a file, stdout).

Layout (the contract; see the README's "Exports"):

- ``content/<interaction GUID>/<artifact id>-<content key><ext>``: each artifact's bytes, read from its
  storage as a stream and hashed as they pass: bytes whose SHA-256 or size differ from what was
  recorded when the artifact was stored fail the whole export (:class:`~artifacts.storage.ChecksumMismatch`);
- ``interactions.csv``: the selected interactions with the interactions list's columns (formula-safe);
- ``manifest.json``: the export, its selection, the SHA-256 of ``interactions.csv`` and, per artifact,
  its path in the zip, id, interaction id and GUID, type, content key, size, SHA-256, times (ISO 8601,
  UTC), lock state and metadata;
- ``manifest.sig``: an Ed25519 signature of ``manifest.json``'s exact bytes with the deployment's audit
  signing key (``AUDIT_SIGNING_KEY``, :mod:`accounts.checkpoints`), with that public key and its
  fingerprint;
- ``README.md``: how to verify it.

Nothing is held whole in memory: each artifact passes in chunks, the zip is written as a stream
(data descriptors, ZIP64 where needed), and the writer below it sends S3 multipart parts.
"""

import base64
import json
import re
import time
import zipfile
import zoneinfo

from django.utils import timezone

from accounts import checkpoints
from accounts import verify_bundle as v
from accounts.permissions import EXPORT_CONTENT
from artifacts.models import Artifact, active_lock_exists
from artifacts.storage import ChecksumMismatch, storage_of
from interactions.models import Interaction
from workspace.export import export_rows
from workspace.filters import with_columns

from .streams import HashingSink

FORMAT = "holdfast-export"
VERSION = 1
#: Interactions read per query while the bundle is written.
ID_CHUNK = 500
#: Seconds between progress updates of the export's row.
PROGRESS_SECONDS = 1.0
#: Content types stored as they are in the zip: already compressed, deflate would only cost time.
_STORED_PREFIXES = ("audio/", "video/", "image/", "application/zip", "application/gzip", "application/pdf")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

README = """# Holdfast export {export_id}

Tenant: {slug}. Created {created_at} by {created_by}. {count} artifacts ({size} bytes) of
{interactions} interactions.

## Layout

- `content/<interaction GUID>/<artifact id>-<content key><ext>`: the artifacts' bytes.
- `interactions.csv`: the interactions, with the columns of the interactions list.
- `manifest.json`: per artifact its path here, id, interaction, type, content key, size, SHA-256,
  times (UTC), lock state and metadata; the SHA-256 of `interactions.csv`.
- `manifest.sig`: Ed25519 signature of `manifest.json` (base64), the public key (PEM) and its
  SHA-256 fingerprint ({fingerprint}).

## Verify it

1. Check the fingerprint against the one you obtained from Holdfast independently
   (`manage.py audit_checkpoint --public-key`, the Audit Trail page).
2. Check the signature, e.g. with OpenSSL 3:

       python3 -c "import json,base64,sys; s=json.load(open('manifest.sig')); \\
         open('key.pem','w').write(s['public_key']); open('sig.bin','wb').write(base64.b64decode(s['signature']))"
       openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in manifest.json -sigfile sig.bin

3. Check each file: `sha256sum` of every `path` in `manifest.json` equals its `sha256`.
"""


class ExportFailed(Exception):
    """The bundle could not be made (nothing half-written is kept)."""


def artifact_rows(export, actor, ids):
    """The present artifacts of the interactions ``ids`` that ``actor`` may export, with lock state."""
    rows = (
        Artifact.objects.restrict(actor, EXPORT_CONTENT)
        .filter(tenant_id=export.tenant_id, interaction_id__in=ids)
        .present()
        .select_related("tenant")  # its storage region: where the bytes are read from
    )
    if export.artifact_type:
        rows = rows.filter(artifact_type=export.artifact_type)
    return rows


def _chunks(ids):
    for i in range(0, len(ids), ID_CHUNK):
        yield ids[i : i + ID_CHUNK]


def totals(export, actor):
    """``(artifacts, bytes)`` the bundle will hold: one aggregate per chunk of interactions."""
    from django.db.models import Count, Sum

    count = size = 0
    for ids in _chunks(export.interaction_ids):
        sums = artifact_rows(export, actor, ids).aggregate(n=Count("id"), b=Sum("size"))
        count, size = count + sums["n"], size + (sums["b"] or 0)
    return count, size


def entry_name(interaction_guid, artifact):
    """The artifact's path in the zip (unique: the artifact id is in it)."""
    key = _UNSAFE.sub("_", artifact.content_key)[:80]
    ext = _UNSAFE.sub("_", "." + artifact.filename.rsplit(".", 1)[-1])[:11] if "." in artifact.filename else ""
    return f"content/{interaction_guid}/{artifact.pk}-{key}{ext}"


def _zip_time(moment):
    moment = timezone.localtime(moment, zoneinfo.ZoneInfo("UTC"))
    return max(moment.timetuple()[:6], (1980, 1, 1, 0, 0, 0))


def _compression(content_type):
    return zipfile.ZIP_STORED if content_type.startswith(_STORED_PREFIXES) else zipfile.ZIP_DEFLATED


def _write_artifact(archive, artifact, name):
    """Stream one artifact into the zip, verifying its size and SHA-256 as the bytes pass."""
    import hashlib

    info = zipfile.ZipInfo(name, date_time=_zip_time(artifact.created_at))
    info.compress_type = _compression(artifact.content_type)
    info.file_size = artifact.size  # lets zipfile choose ZIP64 for big entries before writing
    digest, size = hashlib.sha256(), 0
    chunks = storage_of(artifact).iter_bytes(artifact.storage_key, version=artifact.storage_version)
    with archive.open(info, "w") as entry:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            entry.write(chunk)
    if size != artifact.size or digest.hexdigest() != artifact.sha256:
        raise ChecksumMismatch(
            f"Artifact {artifact.pk} ({artifact.content_key} of interaction {artifact.interaction.guid}) reads back "
            f"as {size} bytes with SHA-256 {digest.hexdigest()}, but was stored as {artifact.size} bytes with "
            f"SHA-256 {artifact.sha256}: the export is stopped, nothing of it is kept."
        )


def _manifest_entry(artifact, name):
    interaction = artifact.interaction
    return {
        "path": name,
        "id": artifact.pk,
        "interaction_id": interaction.pk,
        "interaction_guid": str(interaction.guid),
        "type": artifact.artifact_type,
        "audio_recording_type": artifact.audio_recording_type,
        "content_key": artifact.content_key,
        "filename": artifact.filename,
        "content_type": artifact.content_type,
        "size": artifact.size,
        "sha256": artifact.sha256,
        "created_at": v.utc_text(artifact.created_at),
        "archived_at": v.utc_text(artifact.archived_at) if artifact.archived_at else None,
        "state": artifact.state,
        "locked": artifact.is_locked,
        "legal_hold": artifact.legal_hold,
        "metadata": interaction.metadata,
        "interaction_started_at": v.utc_text(interaction.started_at),
    }


class _CsvQuery:
    """What :func:`workspace.export.export_rows` reads: the list's columns over these interactions."""

    def __init__(self, tenant, ids):
        rows = Interaction.objects.filter(tenant=tenant, pk__in=ids)
        self.queryset = with_columns(rows, tenant).order_by("started_at", "id")


def _write_csv(archive, export):
    """``interactions.csv``; returns its SHA-256. Header once, then the interactions chunk by chunk."""
    import hashlib

    digest = hashlib.sha256()
    tz = zoneinfo.ZoneInfo(export.tenant.time_zone)
    info = zipfile.ZipInfo("interactions.csv", date_time=_zip_time(timezone.now()))
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w") as entry:
        first = True
        for ids in _chunks(export.interaction_ids) if export.interaction_ids else [[]]:
            lines = export_rows(_CsvQuery(export.tenant, ids), tz)
            header = next(lines)
            for line in ([header] if first else []) + list(lines):
                data = line.encode("utf-8")
                digest.update(data)
                entry.write(data)
            first = False
    return digest.hexdigest()


def sign(manifest_bytes):
    """``manifest.sig``'s text: the Ed25519 signature of ``manifest_bytes`` and the public key."""
    signature = checkpoints.signing_key().sign(manifest_bytes)
    return json.dumps(
        {
            "algorithm": "Ed25519",
            "signed_file": "manifest.json",
            "signature": base64.b64encode(signature).decode(),
            "key_fingerprint": checkpoints.key_fingerprint(),
            "public_key": checkpoints.public_pem().decode(),
        },
        indent=1,
    )


def write_bundle(export, target, actor, progress=None):
    """Write ``export``'s bundle into ``target`` (a writable stream; never sought).

    ``progress(artifacts_done, bytes_done)`` is called now and then. Returns ``(size, sha256,
    manifest text, signature text)`` of the zip written. Raises on any failure (the caller
    discards what was written).
    """
    tenant = export.tenant
    sink = HashingSink(target)
    entries, done, done_bytes, last = [], 0, 0, time.monotonic()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for ids in _chunks(export.interaction_ids):
            rows = (
                artifact_rows(export, actor, ids)
                .annotate(is_locked=active_lock_exists())
                .select_related("interaction")
                .order_by("interaction__started_at", "interaction_id", "id")
            )
            for artifact in rows.iterator(chunk_size=200):
                name = entry_name(artifact.interaction.guid, artifact)
                _write_artifact(archive, artifact, name)
                entries.append(_manifest_entry(artifact, name))
                done, done_bytes = done + 1, done_bytes + artifact.size
                if progress is not None and time.monotonic() - last >= PROGRESS_SECONDS:
                    progress(done, done_bytes)
                    last = time.monotonic()
        csv_sha256 = _write_csv(archive, export)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "export": export.pk,
            "tenant": tenant.pk,
            "tenant_slug": tenant.slug,
            "created_at": v.utc_text(export.created_at),
            "created_by": export.created_by,
            "written_at": v.utc_text(timezone.now()),
            "selection": {
                "kind": export.selection,
                "filters": export.filters,
                "artifact_type": export.artifact_type or None,
                "request_id": export.request_id,
                "interaction_count": len(export.interaction_ids),
            },
            "artifact_count": len(entries),
            "total_bytes": done_bytes,
            "files": {"interactions.csv": {"sha256": csv_sha256}},
            "artifacts": entries,
        }
        manifest_text = json.dumps(manifest, indent=1, ensure_ascii=False)
        manifest_bytes = manifest_text.encode("utf-8")
        signature_text = sign(manifest_bytes)
        archive.writestr("manifest.json", manifest_bytes)
        archive.writestr("manifest.sig", signature_text)
        archive.writestr(
            "README.md",
            README.format(
                export_id=export.pk,
                slug=tenant.slug,
                created_at=manifest["created_at"],
                created_by=export.created_by,
                count=len(entries),
                size=done_bytes,
                interactions=len(export.interaction_ids),
                fingerprint=checkpoints.key_fingerprint(),
            ),
        )
    if progress is not None:
        progress(done, done_bytes)
    return sink.size, sink.sha256.hexdigest(), manifest_text, signature_text
