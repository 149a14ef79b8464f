"""Artifact content: play in the browser or download, streamed, with HTTP Range support."""

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views import View

from accounts.permissions import ACCESS_CONTENT
from accounts.tenancy import TenantViewMixin
from interactions.choices import ArtifactState

from .http import RangeNotSatisfiable, parse_range
from .models import Artifact
from .storage import get_storage


class ArtifactContentView(TenantViewMixin, View):
    """Stream an artifact's bytes; ``disposition`` is ``inline`` (play) or ``attachment`` (download).

    Content is served with a sandboxing Content-Security-Policy so that an HTML email or any other
    active content opened from here can never run script in the application's origin.
    """

    permission_required = ACCESS_CONTENT
    disposition = "attachment"

    def get(self, request, tenant_slug, artifact_id):
        artifact = (
            Artifact.objects.restrict(request.user, ACCESS_CONTENT)
            .filter(tenant=self.tenant, pk=artifact_id)
            .select_related("interaction")
            .first()
        )
        if artifact is None:
            return render(request, "404.html", status=404)
        if artifact.state == ArtifactState.DELETED:
            return render(request, "artifacts/gone.html", {"artifact": artifact}, status=410)
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
        response = StreamingHttpResponse(chunks, content_type=artifact.content_type, status=206 if byte_range else 200)
        response["Content-Length"] = str(max(end - start + 1, 0))
        if byte_range:
            response["Content-Range"] = f"bytes {start}-{end}/{artifact.size}"
        response["Accept-Ranges"] = "bytes"
        response["Content-Disposition"] = content_disposition_header(
            self.disposition == "attachment", artifact.filename
        )
        response["Content-Security-Policy"] = "sandbox; default-src 'none'; media-src 'self'"
        response["Cache-Control"] = "private, no-store"
        response["ETag"] = f'"{artifact.sha256}"'
        return response
