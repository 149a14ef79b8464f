"""``GET /api/v1/recordings`` (babelforce-style): recordings with their metadata and a signed,
expiring download URL each, for integrators who archive their own copies on a schedule.

Paged by ``page`` / ``max``; no full COUNT at a million rows: ``pages`` and ``total`` are given
once the last page is reached (then they are exact), ``hasMore`` says whether another page follows.
The download URL works without a token until it expires (``API_SIGNED_URL_SECONDS``, 15 minutes by
default); the download is audited in the name of the API client that listed it.
"""

import datetime as dt
from datetime import UTC

from django.conf import settings
from django.core import signing
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.permissions import ACCESS_CONTENT
from artifacts.models import Artifact
from core.vocabulary import ArtifactState, ArtifactType

from .base import ApiView, BadRequest, digits
from .interactions import PROBLEMS, iso, parse_time
from .schemas import Problem as Problem_
from .scopes import CONTENT_READ

#: The artifact types that are recordings (audio or video).
RECORDING_TYPES = (
    ArtifactType.AUDIO_RECORDING,
    ArtifactType.PARTIAL_AUDIO_RECORDING,
    ArtifactType.QM_AUDIO_RECORDING,
    ArtifactType.QM_SCREEN_RECORDING,
    ArtifactType.VOICEMAIL,
)
MAX_PAGE_SIZE = 1000
_SIGNER = signing.TimestampSigner(salt="holdfast.api.recording-download")

ITEM_FIELDS = {
    "id": serializers.CharField(),
    "dateCreated": serializers.DateTimeField(),
    "lastUpdated": serializers.DateTimeField(),
    "exportDate": serializers.DateTimeField(
        allow_null=True, help_text="When a verified export last took the recording out (Genesys's exportDate)."
    ),
    "duration": serializers.IntegerField(help_text="Milliseconds (the interaction's handle time)."),
    "url": serializers.CharField(allow_null=True, help_text="Signed; works without a token until urlExpires."),
    "urlExpires": serializers.DateTimeField(allow_null=True),
    "state": serializers.ChoiceField(choices=ArtifactState.choices),
    "type": serializers.ChoiceField(choices=[(t.value, t.label) for t in RECORDING_TYPES]),
    "audioRecordingType": serializers.CharField(allow_blank=True),
    "contentKey": serializers.CharField(),
    "file": inline_serializer(
        "RecordingFile",
        {
            "id": serializers.CharField(),
            "state": serializers.CharField(),
            "name": serializers.CharField(),
            "size": serializers.IntegerField(),
            "contentType": serializers.CharField(),
            "sha256": serializers.CharField(),
        },
    ),
    "call": inline_serializer(
        "RecordingCall",
        {
            "id": serializers.UUIDField(),
            "conversationId": serializers.CharField(allow_blank=True),
            "type": serializers.CharField(),
            "from": serializers.CharField(allow_blank=True),
            "to": serializers.CharField(allow_blank=True),
        },
    ),
    "agent": inline_serializer(
        "RecordingAgent",
        {"id": serializers.CharField(allow_blank=True), "name": serializers.CharField(allow_blank=True)},
    ),
    "_url": serializers.CharField(),
}


def signed_url(request, artifact, client):
    """A download URL for ``artifact`` that works without a token until it expires."""
    token = _SIGNER.sign_object({"a": artifact.pk, "c": client.client_id}, compress=True)
    expires = dt.datetime.now(UTC) + dt.timedelta(seconds=settings.API_SIGNED_URL_SECONDS)
    return request.build_absolute_uri(reverse("api-recording-download", args=[token])), expires


def read_download_token(token):
    """``(artifact id, client id)`` of a download URL's token, or None when forged or expired."""
    try:
        payload = _SIGNER.unsign_object(token, max_age=settings.API_SIGNED_URL_SECONDS)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return payload.get("a"), payload.get("c")


def recording_item(request, artifact, client):
    interaction = artifact.interaction
    url, expires = (None, None)
    if not artifact.is_gone:
        url, expires = signed_url(request, artifact, client)
    return {
        "id": str(artifact.pk),
        "dateCreated": iso(artifact.created_at),
        "lastUpdated": iso(artifact.deleted_at or artifact.archived_at or artifact.created_at),
        "exportDate": iso(artifact.exported_at),
        "duration": interaction.duration_seconds * 1000,
        "url": url,
        "urlExpires": iso(expires),
        "state": artifact.state,
        "type": artifact.artifact_type,
        "audioRecordingType": artifact.audio_recording_type,
        "contentKey": artifact.content_key,
        "file": {
            "id": str(artifact.pk),
            "state": artifact.state,
            "name": artifact.filename,
            "size": artifact.size,
            "contentType": artifact.content_type,
            "sha256": artifact.sha256,
        },
        "call": {
            "id": str(interaction.guid),
            "conversationId": interaction.source_task_id,
            "type": interaction.direction.upper(),
            "from": interaction.from_address,
            "to": interaction.to_address,
        },
        "agent": {"id": interaction.agent_id, "name": interaction.agent_name},
        "_url": request.build_absolute_uri(reverse("api-recording", args=[artifact.pk])),
    }


def parse_epoch_or_iso(text, field):
    """Epoch seconds (babelforce) or an ISO 8601 instant."""
    text = str(text).strip()
    if digits(text.removeprefix("-")):
        try:
            return dt.datetime.fromtimestamp(int(text), UTC)
        except (OverflowError, OSError, ValueError):
            raise BadRequest({field: "out of range"}) from None
    return parse_time(text, field)


class _Recordings(ApiView):
    required_scopes = [CONTENT_READ]

    def recordings(self):
        return (
            Artifact.objects.restrict(self.actor, ACCESS_CONTENT)
            .filter(tenant_id=self.tenant_id, artifact_type__in=RECORDING_TYPES)
            .select_related("interaction")
        )


@extend_schema(
    parameters=[
        OpenApiParameter("state", str, enum=[ArtifactState.STORED, ArtifactState.ARCHIVED, ArtifactState.DELETED]),
        OpenApiParameter("time.start", str, description="epoch seconds or ISO 8601: created at or after"),
        OpenApiParameter("time.end", str, description="epoch seconds or ISO 8601: created before"),
        OpenApiParameter("type", str, enum=[t.value for t in RECORDING_TYPES]),
        OpenApiParameter("page", int, description="from 1"),
        OpenApiParameter("max", int, description=f"1 to {MAX_PAGE_SIZE} (default 100)"),
    ],
    responses={
        200: inline_serializer(
            "RecordingList",
            {
                "items": inline_serializer("Recording", ITEM_FIELDS, many=True),
                "pagination": inline_serializer(
                    "Pagination",
                    {
                        "current": serializers.IntegerField(),
                        "max": serializers.IntegerField(),
                        "hasMore": serializers.BooleanField(),
                        "pages": serializers.IntegerField(required=False),
                        "total": serializers.IntegerField(required=False),
                    },
                ),
                "success": serializers.BooleanField(),
            },
        ),
        **PROBLEMS,
    },
    description=f"Recordings, oldest first, each with a signed download URL. Scope: `{CONTENT_READ}`.",
)
class RecordingListView(_Recordings):
    """``GET /api/v1/recordings``."""

    @extend_schema(operation_id="listRecordings")
    def get(self, request):
        params = request.query_params
        errors, rows = {}, self.recordings()
        state = params.get("state")
        if state is not None:  # empty is refused too (not in the enum)
            if state in (ArtifactState.STORED, ArtifactState.ARCHIVED, ArtifactState.DELETED):
                rows = rows.filter(state=state)
            else:
                errors["state"] = "stored, archived or deleted"
        for name, lookup in (("time.start", "created_at__gte"), ("time.end", "created_at__lt")):
            if params.get(name):
                try:
                    rows = rows.filter(**{lookup: parse_epoch_or_iso(params[name], name)})
                except BadRequest as exc:
                    errors.update(exc.detail)
        if "type" in params:
            if params["type"] in RECORDING_TYPES:
                rows = rows.filter(artifact_type=params["type"])
            else:
                errors["type"] = f"one of {', '.join(RECORDING_TYPES)}"
        page, size = params.get("page", "1"), params.get("max", "100")
        if not digits(page) or not 1 <= int(page) <= 1_000_000:
            errors["page"] = "a whole number from 1"
        if not digits(size) or not 1 <= int(size) <= MAX_PAGE_SIZE:
            errors["max"] = f"a whole number from 1 to {MAX_PAGE_SIZE}"
        if errors:
            raise BadRequest(errors)
        page, size = int(page), int(size)
        found = list(rows.order_by("created_at", "id")[(page - 1) * size : page * size + 1])
        more = len(found) > size
        found = found[:size]
        pagination = {"current": page, "max": size, "hasMore": more}
        if not more and (found or page == 1):
            pagination["total"] = (page - 1) * size + len(found)
            pagination["pages"] = max(page, 1)
        client = request.api_client
        return Response(
            {
                "items": [recording_item(request, a, client) for a in found],
                "pagination": pagination,
                "success": True,
            }
        )


@extend_schema(
    responses={200: inline_serializer("RecordingDetail", ITEM_FIELDS), **PROBLEMS},
    description=f"One recording with a fresh signed URL. Scope: `{CONTENT_READ}`.",
)
class RecordingDetailView(_Recordings):
    """``GET /api/v1/recordings/{id}``."""

    @extend_schema(operation_id="getRecording")
    def get(self, request, artifact_id):
        artifact = self.recordings().filter(pk=artifact_id).first()
        if artifact is None:
            raise NotFound(f"No recording {artifact_id} in this tenant.")
        return Response(recording_item(request, artifact, request.api_client))


class SignedDownloadView(ApiView):
    """``GET /api/v1/recordings/download/{token}``: the URL a listing gave, until it expires."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    @extend_schema(
        operation_id="downloadRecording",
        auth=[],
        responses={
            (200, "*/*"): bytes,  # the recording's own type
            (206, "*/*"): bytes,
            403: Problem_,
            416: Problem_,
            410: Problem_,
        },
        description="A recording's bytes by its signed URL (no token; it expires).",
    )
    def get(self, request, token):
        from .content import signed_download

        return signed_download(request, token)
