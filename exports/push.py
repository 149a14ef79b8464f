"""Pushing an export (a daily archive whose schedule has *Push to*) to the customer's own S3 bucket
instead of keeping it in the exports storage.

The zip goes up as it is written (:class:`exports.streams.S3MultipartWriter` with a client of the
customer's endpoint and keys), is then read back by byte ranges and verified where it lies (the
manifest's signature and every file's SHA-256, :func:`exports.verify.verify_bundle`). Any failure —
refused keys, a missing bucket, a verification that does not pass — leaves nothing in the bucket
(the upload aborted, or the object deleted) and puts the export in Error with a message naming the
bucket and the S3 error code. A pushed export is not downloadable from Holdfast and does not expire
there: the row records where it went (bucket, key, version).
"""

import logging
import zipfile

from botocore.exceptions import BotoCoreError, ClientError
from django.utils.text import slugify

from core.secrets import SecretsUnavailable

from .buckets import client_for, endpoint_problem
from .bundle import ExportFailed
from .models import Export
from .streams import S3MultipartWriter
from .verify import open_ranges

log = logging.getLogger(__name__)
#: Bytes per ranged GetObject while a pushed bundle is read back.
READ_CHUNK = 256 * 1024


class PushFailed(Exception):
    """The customer's bucket refused or lost the archive; the message says which bucket and why.
    Reported as a storage error (:func:`config.jobs.describe`)."""

    is_storage_error = True


def push_key(export):
    """Where the zip goes in the bucket: its prefix, then ``holdfast/<tenant>/<schedule>/<day>.zip``
    (a daily archive) or ``holdfast/<tenant>/exports/<id>.zip``."""
    bucket, tenant = export.push_bucket, export.tenant
    if export.schedule_id and export.scheduled_for:
        folder = slugify(export.schedule.name)[:80] or f"schedule-{export.schedule_id}"
        name = f"{export.scheduled_for.isoformat()}.zip"
    else:
        folder, name = "exports", f"{export.pk}.zip"
    return f"{bucket.prefix}holdfast/{tenant.slug}/{folder}/{name}"


def _explain(exc):
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        return f"{code} ({error.get('Message') or exc})"
    return f"{type(exc).__name__} ({exc})"


def _failed(bucket, doing, exc):
    return PushFailed(
        f"Pushing to your bucket “{bucket.name}” ({bucket.location}) failed while {doing}: {_explain(exc)}."
    )


class _Upload:
    """The writer as the bundle sees it: an S3 refusal becomes :class:`PushFailed` naming the bucket."""

    def __init__(self, writer, bucket):
        self.writer, self.bucket = writer, bucket

    def write(self, data):
        try:
            return self.writer.write(data)
        except (BotoCoreError, ClientError) as exc:
            raise _failed(self.bucket, "uploading", exc) from exc

    def flush(self):
        pass


def verify_pushed(export, client, bucket, key, version, size, manifest):
    """Read the pushed object back by byte ranges and check it (:func:`exports.runner.check_bundle`);
    returns the artifact ids it holds; raises :class:`PushFailed`."""
    from .runner import check_bundle

    which = {"VersionId": version} if version else {}

    def read_range(start, end):
        answer = client.get_object(Bucket=bucket.bucket, Key=key, Range=f"bytes={start}-{end}", **which)
        yield from answer["Body"].iter_chunks(READ_CHUNK)

    try:
        stored = client.head_object(Bucket=bucket.bucket, Key=key, **which)["ContentLength"]
        if stored != size:
            raise PushFailed(f"Your bucket “{bucket.name}” holds {stored} bytes at {key}; {size} were written.")
        with open_ranges(read_range, size) as stream:
            return check_bundle(
                export, stream, manifest, where=f"the archive read back from your bucket “{bucket.name}”"
            )
    except (BotoCoreError, ClientError) as exc:
        raise _failed(bucket, "reading the archive back", exc) from exc
    except ExportFailed as exc:
        raise PushFailed(str(exc)) from exc
    except zipfile.BadZipFile as exc:  # a damaged central directory is zipfile's own error
        raise PushFailed(f"The archive read back from your bucket “{bucket.name}” does not verify: {exc}.") from exc


def _discard(client, bucket, writer, key, version, closed):
    """Leave nothing behind: abort the upload, or delete the object once it was completed."""
    try:
        if closed:
            which = {"VersionId": version} if version else {}
            client.delete_object(Bucket=bucket.bucket, Key=key, **which)
        else:
            writer.abort()
    except Exception:  # the push's own failure is what the row must say
        log.exception("export: could not discard %s in the customer's bucket %s", key, bucket.pk)


def push_export(export):
    """Write a claimed export (destination push) into its bucket, verify it there and complete the
    row (``exports.runner.process_export`` hands it over). Raises on failure; nothing is kept."""
    from . import runner  # the job's own steps (write, complete); runner hands pushes over to here

    export = Export.objects.select_related("tenant", "schedule", "push_bucket").get(pk=export.pk)
    bucket = export.push_bucket
    if bucket is None:
        raise PushFailed("The bucket this archive was to be pushed to was removed; nothing was written.")
    key = push_key(export)
    refused = endpoint_problem(bucket)
    if refused:
        raise PushFailed(f"Not pushed to your bucket “{bucket.name}”: {refused}; nothing was written.")
    try:
        client = client_for(bucket)
    except SecretsUnavailable as exc:
        raise PushFailed(f"The keys of your bucket “{bucket.name}” cannot be read: {exc}") from exc
    writer = S3MultipartWriter(client, bucket.bucket, key)
    closed, version = False, ""
    try:
        size, sha256, manifest, signature = runner._write(export, _Upload(writer, bucket))
        try:
            version = writer.close()
        except (BotoCoreError, ClientError) as exc:
            raise _failed(bucket, "completing the upload", exc) from exc
        closed = True
        verified = verify_pushed(export, client, bucket, key, version, size, manifest)
    except BaseException:
        _discard(client, bucket, writer, key, version, closed)
        raise
    pushed_to = f"s3://{bucket.bucket}/{key}" + (f" at {bucket.endpoint_url}" if bucket.endpoint_url else "")
    Export.objects.filter(pk=export.pk).update(pushed_to=pushed_to)
    export.pushed_to = pushed_to
    return runner._complete(
        export,
        size,
        sha256,
        manifest,
        signature,
        key=key,
        version=version,
        filename=key.rsplit("/", 1)[-1],
        verified=verified,
    )
