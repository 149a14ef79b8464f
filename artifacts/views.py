"""Artifact content: play in the browser or download, streamed, with HTTP Range support; an email's
attachments one by one. Every read is recorded in the audit trail (:mod:`artifacts.content_services`).
"""

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
from .rendering import ContentProblem, open_email_attachment
from .storage import get_storage

#: Headers every content response carries: content from outside must never run in our origin.
CONTENT_SECURITY_POLICY = "sandbox; default-src 'none'; media-src 'self'"
#: Attachment types a browser could execute if it ever displayed them: they are sent as plain bytes.
ACTIVE_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/javascript")


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
        if request.method == "GET":  # HEAD sends no content: nothing was read
            kind = (
                AuditEvent.Kind.ARTIFACT_PLAYED if self.disposition == "inline" else AuditEvent.Kind.ARTIFACT_DOWNLOADED
            )
            content_services.record_content_read(artifact, self.actor, kind, byte_range)
        storage = get_storage(artifact.storage_name)
        chunks = storage.iter_bytes(
            artifact.storage_key, start, end if byte_range else None, version=artifact.storage_version
        )
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
