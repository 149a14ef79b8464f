"""Content bytes through the API: ``GET /api/v1/interactions/{guid}/content/{contentKey}`` (a bearer
token with ``interaction-content:read``) and the signed download URLs of ``GET recordings`` (no
token; they expire). Streamed with ``Range`` (206) and the SHA-256 as ``ETag``; each read is audited
as a download by the API client, once its first bytes came from storage."""

from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.response import Response

from accounts.models import AuditEvent
from artifacts.content_services import record_content_read
from artifacts.http import content_response
from artifacts.models import Artifact
from artifacts.storage import ObjectMissing, StorageError

from .problems import PROBLEM, Gone, problem


class StorageUnavailable(APIException):
    status_code = 503
    default_detail = "The storage holding this content cannot be reached now; try again in a minute."


def stream(request, artifact, actor):
    """The content response for ``artifact`` read by ``actor`` (410 gone, 503 storage down)."""
    if artifact.is_gone:
        raise Gone("This content was deleted and cannot be retrieved." if artifact.deleted_at else
                   "This content is being deleted and can no longer be read.")  # fmt: skip
    try:
        response = content_response(
            artifact,
            request.headers.get("Range"),
            attachment=True,
            record=lambda byte_range: record_content_read(
                artifact, actor, AuditEvent.Kind.ARTIFACT_DOWNLOADED, byte_range
            ),
            method=request.method,
        )
    except ObjectMissing:
        raise Gone("The bytes of this content are missing from storage.") from None
    except StorageError:
        exc = StorageUnavailable()
        exc.wait = 60
        raise exc from None
    if response.status_code == 416:  # a problem on the API, like every error (the page answers it bare)
        return Response(
            problem(416, f"The Range is outside the content's {artifact.size} bytes."),
            status=416,
            headers={"Content-Range": response["Content-Range"]},
            content_type=PROBLEM,
        )
    return response


def signed_download(request, token):
    """The response of a signed recording URL: the client that listed it reads it, while the URL
    has not expired and the client has not been revoked."""
    from .actors import client_actor
    from .models import ApiClient
    from .recordings import read_download_token

    found = read_download_token(token)
    if found is None:
        raise PermissionDenied(
            "This download link has expired or was not issued by this API; list the recording again."
        )
    artifact_id, client_id = found
    client = ApiClient.objects.filter(client_id=client_id, revoked_at__isnull=True).first()
    artifact = Artifact.objects.filter(pk=artifact_id).select_related("interaction").first()
    if client is None or artifact is None or artifact.tenant_id != client.tenant_id:
        raise PermissionDenied("This download link no longer works (its API client was revoked).")
    return stream(request, artifact, client_actor(client, client.scope_list, request))
