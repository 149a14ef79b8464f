"""Artifact content: play in the browser or download, streamed, with HTTP Range support; an email's
attachments one by one. Every read is recorded in the audit trail (:mod:`artifacts.content_services`),
once the bytes have actually come from storage: a read whose bytes are gone is answered with a page
saying so (410, or 503 when the storage cannot be reached) and recorded as nothing.
"""

import logging

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views import View

from accounts.models import AuditEvent
from accounts.permissions import ACCESS_CONTENT
from accounts.tenancy import TenantViewMixin

from . import content_services
from .http import CONTENT_SECURITY_POLICY, content_response
from .models import Artifact
from .rendering import (
    MISSING_MESSAGE,
    UNREACHABLE_MESSAGE,
    ContentProblem,
    ContentUnavailable,
    open_email_attachment,
)
from .storage import ObjectMissing, StorageError

log = logging.getLogger(__name__)

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
        kind = AuditEvent.Kind.ARTIFACT_PLAYED if self.disposition == "inline" else AuditEvent.Kind.ARTIFACT_DOWNLOADED
        try:
            return content_response(
                artifact,
                request.headers.get("Range"),
                attachment=self.disposition == "attachment",
                record=lambda byte_range: content_services.record_content_read(artifact, self.actor, kind, byte_range),
                method=request.method,
            )
        except StorageError as exc:
            log.warning("Artifact %s could not be read: %s", artifact.pk, exc)
            return unavailable(request, artifact, missing=isinstance(exc, ObjectMissing))


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
