"""Artifact content: play in the browser or download, streamed, with HTTP Range support; an email's
attachments one by one. Every read is recorded in the audit trail (:mod:`artifacts.content_services`),
once the bytes have actually come from storage: a read whose bytes are gone is answered with a page
saying so (410, or 503 when the storage cannot be reached) and recorded as nothing.
"""

import itertools
import logging

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views import View

from accounts.models import AuditEvent
from accounts.permissions import ACCESS_CONTENT
from accounts.tenancy import TenantViewMixin

from . import content_services
from .http import RangeNotSatisfiable, parse_range
from .models import Artifact
from .rendering import (
    MISSING_MESSAGE,
    UNREACHABLE_MESSAGE,
    ContentProblem,
    ContentUnavailable,
    open_email_attachment,
)
from .storage import ObjectMissing, StorageError, get_storage

log = logging.getLogger(__name__)

#: Headers every content response carries: content from outside must never run in our origin.
CONTENT_SECURITY_POLICY = "sandbox; default-src 'none'; media-src 'self'"
#: Attachment types a browser could execute if it ever displayed them: they are sent as plain bytes.
ACTIVE_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/javascript")


def unavailable(request, artifact, *, missing):
    """The page for content whose bytes could not be read: 410 when the storage has no such object,
    503 (with ``Retry-After``) when the storage could not be asked."""
    message = MISSING_MESSAGE if missing else UNREACHABLE_MESSAGE
    response = render(
        request,
        "artifacts/unavailable.html",
        {"artifact": artifact, "message": message},
        status=410 if missing else 503,
    )
    if not missing:
        response["Retry-After"] = "60"
    response["Cache-Control"] = "private, no-store"
    return response


class _ContentView(TenantViewMixin, View):
    """An artifact of the URL's tenant whose content the actor may read: 404 when it is missing,
    another tenant's or not readable, 410 when it was deleted (the tombstone says so)."""

    permission_required = ACCESS_CONTENT
    model = Artifact
    lookup = ("pk", "artifact_id")
    not_found = "No such artifact."

    def readable(self):
        """``(artifact, None)``, or ``(None, response)`` with the 404 / 410 answer."""
        artifact = self.get_object(self.tenant_rows().select_related("interaction"))
        if artifact.is_gone:
            return None, render(self.request, "artifacts/gone.html", {"artifact": artifact}, status=410)
        return artifact, None


class ArtifactContentView(_ContentView):
    """Stream an artifact's bytes; ``disposition`` is ``inline`` (play) or ``attachment`` (download).

    Content is served with a sandboxing Content-Security-Policy so that an HTML email or any other
    active content opened from here can never run script in the application's origin.
    """

    disposition = "attachment"

    def get(self, request, tenant_slug, artifact_id):
        artifact, refusal = self.readable()
        if refusal:
            return refusal
        try:
            byte_range = parse_range(request.headers.get("Range"), artifact.size)
        except RangeNotSatisfiable:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{artifact.size}"
            return response
        start, end = byte_range or (0, artifact.size - 1)
        storage = get_storage(artifact.storage_name)
        chunks = storage.iter_bytes(
            artifact.storage_key, start, end if byte_range else None, version=artifact.storage_version
        )
        if request.method == "GET":  # HEAD sends no content: nothing is read, nothing recorded
            try:
                chunks = self.read_and_record(artifact, chunks, byte_range)
            except StorageError as exc:
                log.warning("Artifact %s could not be read: %s", artifact.pk, exc)
                return unavailable(request, artifact, missing=isinstance(exc, ObjectMissing))
        response = StreamingHttpResponse(chunks, content_type=artifact.content_type, status=206 if byte_range else 200)
        response["Content-Length"] = str(max(end - start + 1, 0))
        if byte_range:
            response["Content-Range"] = f"bytes {start}-{end}/{artifact.size}"
        response["Accept-Ranges"] = "bytes"
        response["Content-Disposition"] = content_disposition_header(
            self.disposition == "attachment", artifact.filename
        )
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response["Cache-Control"] = "private, no-store"
        response["ETag"] = f'"{artifact.sha256}"'
        return response

    def read_and_record(self, artifact, chunks, byte_range):
        """Open the object and take its first chunk, then record the read; returns every chunk.

        A missing object or an unreachable storage raises :class:`StorageError` before anything is
        recorded: only bytes that really came from storage count as a play or download.
        """
        first = next(chunks, b"")
        kind = AuditEvent.Kind.ARTIFACT_PLAYED if self.disposition == "inline" else AuditEvent.Kind.ARTIFACT_DOWNLOADED
        try:
            content_services.record_content_read(artifact, self.actor, kind, byte_range)
        except BaseException:
            chunks.close()  # the object is open: release it (file handle, S3 connection)
            raise
        return itertools.chain([first], chunks)


class EmailAttachmentView(_ContentView):
    """Download attachment ``<n>`` (0-based, in MIME order) of an email artifact.

    The bytes come from the parsed MIME part of the stored ``.eml``; they are always offered as a
    download (never shown inline), under the same sandboxing policy as every other content.
    """

    def get(self, request, tenant_slug, artifact_id, position):
        artifact, refusal = self.readable()
        if refusal:
            return refusal
        try:
            filename, content_type, payload = open_email_attachment(artifact, position)
        except ContentUnavailable as exc:  # the email's bytes are gone or unreadable: nothing was read
            return unavailable(request, artifact, missing=exc.missing)
        except ContentProblem as exc:
            context = {"artifact": artifact, "message": str(exc)}
            return render(request, "interactions/_content_unavailable.html", context, status=404)
        content_services.record_attachment_download(artifact, self.actor, position, filename)
        if content_type in ACTIVE_TYPES or not content_type:
            content_type = "application/octet-stream"
        response = HttpResponse(payload, content_type=content_type)
        response["Content-Disposition"] = content_disposition_header(True, filename)
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response["Cache-Control"] = "private, no-store"
        return response
