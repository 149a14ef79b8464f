"""Export bundles through the API: ``POST /api/v1/exports`` (scope ``exports:write``), ``GET
/api/v1/exports/{id}`` with its progress and download URL, and ``GET /api/v1/exports/{id}/download``
streaming the zip (scope ``exports:read``; audited). The same service as the page and the command."""

from django.core.exceptions import ValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.permissions import EXPORT_CONTENT
from config.jobs import JobStatus
from core.vocabulary import ArtifactType
from exports import services
from exports.http import stream_response
from exports.models import Export

from . import schemas
from .base import ApiView, BadRequest, Conflict, Gone
from .interactions import PROBLEMS, iso
from .scopes import EXPORTS_READ, EXPORTS_WRITE

#: The service's field names as the API calls them, so that a 400 names the API's field.
API_FIELDS = {
    "filters": "filters",
    "interaction_ids": "interactionIds",
    "request": "requestId",
    "artifact_type": "artifactType",
    "selection": "selection",
}


class ExportBody(serializers.Serializer):
    """An export: its selection, status, progress and, once complete, its zip and download URL."""

    id = serializers.IntegerField()
    url = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    errorMessage = serializers.CharField(allow_blank=True)
    createdAt = serializers.DateTimeField()
    createdBy = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    selection = serializers.ChoiceField(choices=Export.Selection.choices)
    filters = serializers.DictField(child=serializers.CharField())
    requestId = serializers.IntegerField(allow_null=True)
    artifactType = serializers.CharField(allow_blank=True)
    interactionCount = serializers.IntegerField()
    progress = inline_serializer(
        "ExportProgress",
        {
            "artifacts": serializers.IntegerField(),
            "artifactsTotal": serializers.IntegerField(),
            "bytes": serializers.IntegerField(),
            "bytesTotal": serializers.IntegerField(),
        },
    )
    size = serializers.IntegerField(allow_null=True, help_text="Bytes of the zip.")
    sha256 = serializers.CharField(allow_blank=True, help_text="SHA-256 of the zip.")
    finishedAt = serializers.DateTimeField(allow_null=True)
    verifiedAt = serializers.DateTimeField(
        allow_null=True,
        help_text="When the stored zip was read back and matched its signed manifest and the artifacts' recorded "
        "SHA-256 (then each artifact records this export).",
    )
    expiresAt = serializers.DateTimeField(allow_null=True, help_text="The zip is removed then.")
    expired = serializers.BooleanField()
    downloadUrl = serializers.CharField(allow_null=True, help_text="Needs a token with exports:read.")
    downloads = serializers.IntegerField()
    pushedTo = serializers.CharField(
        allow_null=True,
        help_text="A daily archive pushed to the customer's own S3 bucket: s3://bucket/key (and the endpoint); "
        "such a zip is not kept here (no downloadUrl, no expiry).",
    )


CreateBody = inline_serializer(
    "ExportInput",
    {
        "filters": serializers.DictField(
            child=serializers.CharField(),
            required=False,
            help_text="The interactions list's filters: started_from, started_to (YYYY-MM-DD, tenant time), "
            "channel, direction, origin, agent, artifact_type, locked (yes / no), q.",
        ),
        "interactionIds": serializers.ListField(child=serializers.CharField(), required=False),
        "requestId": serializers.IntegerField(required=False, help_text="An Artifacts Management Request's id."),
        "artifactType": serializers.CharField(
            required=False, help_text=f"Only artifacts of this type: one of {', '.join(ArtifactType.values)}."
        ),
        "description": serializers.CharField(required=False, max_length=300),
    },
)


def export_body(request, export):
    """An export as the API shows it."""
    download = None
    if export.is_downloadable:
        download = request.build_absolute_uri(reverse("api-export-download", args=[export.pk]))
    return {
        "id": export.pk,
        "url": reverse("api-export", args=[export.pk]),
        "status": export.status,
        "errorMessage": export.error_message,
        "createdAt": iso(export.created_at),
        "createdBy": export.created_by,
        "description": export.description,
        "selection": export.selection,
        "filters": export.filters,
        "requestId": export.request_id,
        "artifactType": export.artifact_type,
        "interactionCount": export.interaction_count,
        "progress": {
            "artifacts": export.artifacts_done,
            "artifactsTotal": export.artifact_total,
            "bytes": export.bytes_done,
            "bytesTotal": export.bytes_total,
        },
        "size": export.size,
        "sha256": export.sha256,
        "finishedAt": iso(export.finished_at),
        "verifiedAt": iso(export.verified_at),
        "expiresAt": iso(export.expires_at),
        "expired": export.expired_at is not None,
        "downloadUrl": download,
        "downloads": export.download_count,
        "pushedTo": export.pushed_to or None,
    }


def _typed(data):
    """Each field's JSON type (the service takes strings): 400 naming every wrong one."""
    if not isinstance(data, dict):
        raise BadRequest({"body": "a JSON object is required"})
    errors = {}
    filters = data.get("filters")
    if filters is not None and (not isinstance(filters, dict) or not all(isinstance(v, str) for v in filters.values())):
        errors["filters"] = "an object of filter names to strings"
    ids = data.get("interactionIds")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        errors["interactionIds"] = "a list of interaction GUIDs (strings)"
    request_id = data.get("requestId")
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, int) or request_id < 1):
        errors["requestId"] = "a request id (a positive whole number)"
    for name in ("artifactType", "description"):
        if name in data and not isinstance(data[name], str):
            errors[name] = "a string is required"
    if isinstance(data.get("description"), str) and len(data["description"]) > 300:
        errors["description"] = "at most 300 characters"
    unknown = set(data) - {"filters", "interactionIds", "requestId", "artifactType", "description"}
    for name in sorted(unknown):
        errors[name] = "not a field of an export"
    if errors:
        raise BadRequest(errors)


class _Exports(ApiView):
    def get_export(self, export_id):
        found = (
            Export.objects.restrict(self.actor, EXPORT_CONTENT)
            .filter(tenant_id=self.tenant_id, pk=export_id)
            .defer("manifest", "manifest_signature", "interaction_ids")
            .first()
        )
        if found is None:
            raise NotFound(f"No export {export_id} in this tenant.")
        return found


@extend_schema(
    request=CreateBody,
    responses={201: ExportBody, **PROBLEMS},
    description="Export interactions' content as a verified zip (the artifacts' bytes, `manifest.json`, "
    "`interactions.csv`, `manifest.sig`): by the list's `filters` (none: every interaction), by "
    "`interactionIds` or by `requestId`, at most EXPORT_MAX_INTERACTIONS interactions. Answers at once; "
    f"follow `url` until `status` is `complete`, then fetch `downloadUrl`. Scope: `{EXPORTS_WRITE}`.",
)
class ExportCreateView(_Exports):
    """``POST /api/v1/exports``."""

    required_scopes = [EXPORTS_WRITE]

    @extend_schema(operation_id="createExport")
    def post(self, request):
        data = request.data
        _typed(data)
        try:
            export = services.create_export(
                self.tenant_id,
                self.actor,
                filters=data.get("filters"),
                interaction_ids=data.get("interactionIds"),
                request_id=data.get("requestId"),
                artifact_type=data.get("artifactType", ""),
                description=data.get("description", ""),
            )
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):
                raise
            raise BadRequest({API_FIELDS.get(f, f): messages for f, messages in exc.message_dict.items()}) from None
        body = export_body(request, export)
        return Response(body, status=201, headers={"Location": body["url"]})


@extend_schema(responses={200: ExportBody, **PROBLEMS}, description=f"Scope: `{EXPORTS_READ}`.")
class ExportDetailView(_Exports):
    """``GET /api/v1/exports/{id}``: status, progress, the zip's size and SHA-256, its download URL."""

    required_scopes = [EXPORTS_READ]

    @extend_schema(operation_id="getExport")
    def get(self, request, export_id):
        return Response(export_body(request, self.get_export(export_id)))


_DOWNLOAD_SCHEMA = extend_schema(
    operation_id="downloadExport",
    responses={
        (200, "application/zip"): bytes,
        409: schemas.Problem,
        410: schemas.Problem,
        **PROBLEMS,
    },
    description="The export's zip, streamed (`X-Content-SHA256`: the SHA-256 of the whole zip, hex); each "
    f"download is audited. 409 while it is being written, 410 once it expired. Scope: `{EXPORTS_READ}`.",
)


class ExportDownloadView(_Exports):
    """``GET /api/v1/exports/{id}/download``."""

    required_scopes = [EXPORTS_READ]

    @_DOWNLOAD_SCHEMA
    def get(self, request, export_id):
        export = self.get_export(export_id)
        if export.expired_at is not None:
            raise Gone(f"Export {export.pk} expired on {iso(export.expired_at)}: its zip was removed.")
        if not export.is_downloadable:
            raise Conflict(f"Export {export.pk} is {export.get_status_display()}: there is no zip to download.")
        try:
            export = services.record_download(export.pk, self.actor)
        except ValidationError as exc:
            raise Conflict(" ".join(exc.messages)) from None
        return stream_response(export)
