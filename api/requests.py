"""Holds and Artifacts Management Requests through the API (Genesys-style deletion protection):
``PUT holds``, ``POST holds/query``, ``POST/GET requests``, ``GET requests/{id}``, cancel, retry.

The same validator, permissions and engine as the page: the API is one more caller of
:mod:`artifacts.services`, acting as the API client.
"""

import datetime as dt

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from accounts.permissions import ARTIFACTS_MANAGEMENT_REQUESTS_READ, VIEW_INTERACTIONS
from artifacts import services
from artifacts.models import Lock, ManagementRequest, ManagementRequestItem
from artifacts.validation import MAX_INTERACTION_IDS
from core.vocabulary import ANY, lock_targets
from interactions.models import Interaction

from . import schemas
from .base import ApiView, BadRequest, continuation_token, digits, read_continuation
from .interactions import PROBLEMS, iso
from .scopes import HOLDS_APPLY, HOLDS_REVOKE, REQUESTS_READ, REQUESTS_WRITE

RequestType, Status = ManagementRequest.RequestType, ManagementRequest.Status
TOTALS = ("matched", "locked", "unlocked", "deleted", "skipped_locked", "not_exported")


class _Progress(serializers.Serializer):
    processed = serializers.IntegerField()
    total = serializers.IntegerField()


class _Totals(serializers.Serializer):
    matched = serializers.IntegerField()
    locked = serializers.IntegerField()
    unlocked = serializers.IntegerField()
    deleted = serializers.IntegerField()
    skippedLocked = serializers.IntegerField()
    notExported = serializers.IntegerField(help_text="Kept because no verified export holds them (requireExport).")


class _Result(serializers.Serializer):
    interactionId = serializers.UUIDField()
    status = serializers.CharField()
    matched = serializers.IntegerField()
    locked = serializers.IntegerField()
    unlocked = serializers.IntegerField()
    deleted = serializers.IntegerField()
    skippedLocked = serializers.IntegerField()
    notExported = serializers.IntegerField()
    alreadyDeleting = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)


class ManagementRequestBody(serializers.Serializer):
    """An Artifacts Management Request: its fields, progress, totals and (detail) results."""

    id = serializers.IntegerField()
    url = serializers.CharField()
    requestType = serializers.ChoiceField(choices=RequestType.choices)
    artifactType = serializers.ChoiceField(choices=schemas.SELECTION_CHOICES)
    audioRecordingType = serializers.CharField(allow_blank=True)
    description = serializers.CharField(allow_blank=True)
    lockExpiresOn = serializers.DateField(allow_null=True)
    removeLocks = serializers.BooleanField()
    requireExport = serializers.BooleanField(help_text="Delete: only content in a verified export is deleted.")
    status = serializers.ChoiceField(choices=Status.choices)
    errorMessage = serializers.CharField(allow_blank=True)
    retryable = serializers.BooleanField()
    createdAt = serializers.DateTimeField()
    createdBy = serializers.CharField()
    startedAt = serializers.DateTimeField(allow_null=True)
    finishedAt = serializers.DateTimeField(allow_null=True)
    interactionCount = serializers.IntegerField()
    matter = serializers.CharField(allow_null=True, help_text="Case id of the legal matter the request names.")
    approvedBy = serializers.CharField(allow_null=True, help_text="Who approved (or rejected) it: two-person approval.")
    decidedAt = serializers.DateTimeField(allow_null=True)
    rejectionReason = serializers.CharField(allow_blank=True)
    progress = _Progress()
    totals = _Totals()
    results = _Result(many=True, required=False)


RequestBody = ManagementRequestBody


CreateBody = inline_serializer(
    "ManagementRequestInput",
    {
        "requestType": serializers.ChoiceField(choices=RequestType.choices),
        "artifactType": serializers.ChoiceField(choices=schemas.SELECTION_CHOICES, required=False),
        "audioRecordingType": serializers.CharField(required=False),
        "interactionIds": serializers.ListField(child=serializers.CharField(), max_length=MAX_INTERACTION_IDS),
        "description": serializers.CharField(required=False),
        "lockExpiresOn": serializers.DateField(required=False),
        "removeLocks": serializers.BooleanField(required=False),
        "requireExport": serializers.BooleanField(
            required=False,
            help_text="Delete: export (and verify) what no verified export holds first; "
            "a failed export deletes nothing.",
        ),
        "matter": serializers.CharField(required=False, help_text="Case id of a legal matter (Add / Remove Lock)."),
    },
)
HoldBody = inline_serializer(
    "HoldInput",
    {
        "interactionIds": serializers.ListField(child=serializers.CharField(), max_length=MAX_INTERACTION_IDS),
        "artifactType": serializers.ChoiceField(choices=schemas.SELECTION_CHOICES, required=False),
        "audioRecordingType": serializers.CharField(required=False),
        "lockExpiresOn": serializers.DateField(required=False),
        "description": serializers.CharField(required=False),
        "matter": serializers.CharField(
            required=False, help_text="Case id of a legal matter: its locks (protect) or only its locks (release)."
        ),
    },
)


def request_body(req, with_results=False):
    """A request as the API shows it: fields, progress, totals, and (detail) per-interaction results."""
    items = ManagementRequestItem.objects.filter(request=req)
    sums = items.aggregate(
        processed=Count("id", filter=~Q(status=ManagementRequestItem.Status.PENDING)),
        **{field: Coalesce(Sum(field), 0) for field in TOTALS},
    )
    body = {
        "id": req.pk,
        "url": reverse("api-request-detail", args=[req.pk]),
        "requestType": req.request_type,
        "artifactType": req.artifact_type,
        "audioRecordingType": req.audio_recording_type,
        "description": req.description,
        "lockExpiresOn": req.lock_expires_on.isoformat() if req.lock_expires_on else None,
        "removeLocks": req.remove_locks,
        "requireExport": req.require_export,
        "status": req.status,
        "errorMessage": req.error_message,
        "retryable": req.status == Status.ERROR and req.retryable,
        "createdAt": iso(req.created_at),
        "createdBy": req.created_by,
        "startedAt": iso(req.started_at),
        "finishedAt": iso(req.finished_at),
        "interactionCount": req.interaction_count,
        "matter": req.matter.case_id if req.matter_id else None,
        "approvedBy": req.decided_by or None,
        "decidedAt": iso(req.decided_at),
        "rejectionReason": req.rejection_reason,
        "progress": {"processed": sums["processed"], "total": req.interaction_count},
        "totals": {
            "matched": sums["matched"],
            "locked": sums["locked"],
            "unlocked": sums["unlocked"],
            "deleted": sums["deleted"],
            "skippedLocked": sums["skipped_locked"],
            "notExported": sums["not_exported"],
        },
    }
    if with_results:
        body["results"] = [
            {
                "interactionId": str(item.interaction.guid),
                "status": item.status,
                "matched": item.matched,
                "locked": item.locked,
                "unlocked": item.unlocked,
                "deleted": item.deleted,
                "skippedLocked": item.skipped_locked,
                "notExported": item.not_exported,
                "alreadyDeleting": item.already_deleting,
                "error": item.error,
            }
            for item in items.select_related("interaction").order_by("position")
        ]
    return body


def _ids(data, field="interactionIds"):
    ids = data.get(field)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadRequest({field: "a list of interaction GUIDs (strings) is required"})
    return ids


def _expiry(data):
    value = data.get("lockExpiresOn")
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise BadRequest({"lockExpiresOn": "a date as YYYY-MM-DD"}) from None


def _matter(data):
    value = data.get("matter")
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise BadRequest({"matter": "the case id of a legal matter (a string)"})
    return value


def _data(request):
    if not isinstance(request.data, dict):
        raise BadRequest({"body": "a JSON object is required"})
    return request.data


#: The validator's (form's) field names as the API calls them, so that a 400 names the API's field.
API_FIELDS = {
    "request_type": "requestType",
    "artifact_type": "artifactType",
    "audio_recording_type": "audioRecordingType",
    "description": "description",
    "lock_expires_on": "lockExpiresOn",
    "lock_expires": "lockExpiresOn",
    "interaction_ids": "interactionIds",
    "remove_locks": "removeLocks",
    "require_export": "requireExport",
}


def _typed(data):
    """The optional fields' types (the validator takes strings and booleans): 400 naming each."""
    errors = {}
    for name in ("artifactType", "audioRecordingType", "description"):
        if name in data and not isinstance(data[name], str):
            errors[name] = "a string is required"
    for flag in ("removeLocks", "requireExport"):
        if flag in data and not isinstance(data[flag], bool):
            errors[flag] = "true or false"
    if "lockExpiresOn" in data and data["lockExpiresOn"] is not None and not isinstance(data["lockExpiresOn"], str):
        errors["lockExpiresOn"] = "a date as YYYY-MM-DD"
    try:
        _ids(data)
    except BadRequest as exc:
        errors.update(exc.detail)
    if errors:
        raise BadRequest(errors)


def _create(view, data, request_type):
    """A request through the one service (the page's validator, permissions and engine)."""
    from django.core.exceptions import ValidationError

    _typed(data)
    expires = _expiry(data)
    try:
        req = services.create_management_request(
            view.tenant_id,
            view.actor,
            request_type=request_type,
            artifact_type=data.get("artifactType", ANY),
            audio_recording_type=data.get("audioRecordingType", ""),
            interaction_ids=_ids(data),
            description=str(data.get("description", ""))[:1000],
            lock_expires=expires is not None,
            lock_expires_on=expires,
            remove_locks=bool(data.get("removeLocks")) if request_type == RequestType.DELETE else False,
            require_export=bool(data.get("requireExport")),
            matter=_matter(data),
            confirmed=True,  # calling the API with the request type is the confirmation
        )
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise BadRequest(
            {API_FIELDS.get(field, field): messages for field, messages in exc.message_dict.items()}
        ) from None
    req.refresh_from_db()
    body = request_body(req)
    return Response(body, status=201, headers={"Location": body["url"]})


@extend_schema(
    parameters=[OpenApiParameter("protect", bool, required=True)],
    request=HoldBody,
    responses={201: RequestBody, **PROBLEMS},
    description=f"Protect (`protect=true`, scope `{HOLDS_APPLY}`) or release (`protect=false`, scope "
    f"`{HOLDS_REVOKE}`) interactions: an Add Lock / Remove Lock request for *Any* (or the given type).",
)
class HoldsView(ApiView):
    """``PUT /api/v1/holds?protect=true|false``."""

    def scopes_for(self, method):
        request = getattr(self, "request", None)
        protect = (
            request.query_params.get("protect") if request is not None and hasattr(request, "query_params") else None
        )
        return [HOLDS_APPLY] if protect == "true" else [HOLDS_REVOKE] if protect == "false" else [HOLDS_APPLY]

    @extend_schema(operation_id="setHolds")
    def put(self, request):
        protect = request.query_params.get("protect")
        if protect not in ("true", "false"):
            raise BadRequest({"protect": "true (place a hold) or false (release it)"})
        request_type = RequestType.ADD_LOCK if protect == "true" else RequestType.REMOVE_LOCK
        return _create(self, _data(request), request_type)


@extend_schema(
    request=inline_serializer("HoldQuery", {"interactionIds": serializers.ListField(child=serializers.CharField())}),
    responses={
        200: inline_serializer(
            "HoldStates",
            {
                "interactions": inline_serializer(
                    "HoldState",
                    {
                        "interactionId": serializers.CharField(),
                        "known": serializers.BooleanField(),
                        "protected": serializers.BooleanField(),
                        "lockedTypes": serializers.ListField(child=serializers.CharField()),
                        "until": serializers.DateTimeField(allow_null=True),
                    },
                    many=True,
                )
            },
        ),
        **PROBLEMS,
    },
    description=f"Which of the given interactions are protected (every type *Any* covers is locked). Scope: "
    f"`{HOLDS_APPLY}`.",
)
class HoldsQueryView(ApiView):
    """``POST /api/v1/holds/query``."""

    required_scopes = [HOLDS_APPLY]

    @extend_schema(operation_id="queryHolds")
    def post(self, request):
        from django.core.exceptions import ValidationError

        from artifacts.validation import parse_interaction_ids

        ids = _ids(_data(request))
        try:
            guids = parse_interaction_ids(ids)
        except ValidationError as exc:
            raise BadRequest({"interactionIds": " ".join(getattr(exc, "messages", [str(exc)]))}) from None
        known = dict(
            Interaction.objects.restrict(self.actor, VIEW_INTERACTIONS)
            .filter(tenant_id=self.tenant_id, guid__in=guids)
            .values_list("guid", "pk")
        )
        known = {str(guid): pk for guid, pk in known.items()}
        any_pairs = set(lock_targets(ANY))
        locks = {}
        for lock in Lock.objects.active().filter(interaction_id__in=known.values()):
            locks.setdefault(lock.interaction_id, []).append(lock)
        answer = []
        for guid in guids:
            mine = locks.get(known.get(guid), [])
            pairs = {(lk.artifact_type, lk.audio_recording_type) for lk in mine}
            dated = [lk.expires_at for lk in mine if lk.expires_at]
            full = any_pairs <= pairs
            answer.append(
                {
                    "interactionId": guid,
                    "known": guid in known,
                    "protected": full,
                    "lockedTypes": sorted({lk.artifact_type for lk in mine}),
                    "until": iso(min(dated)) if full and dated and len(dated) == len(mine) else None,
                }
            )
        return Response({"interactions": answer})


class _Requests(ApiView):
    def requests(self):
        return (
            ManagementRequest.objects.restrict(self.actor, ARTIFACTS_MANAGEMENT_REQUESTS_READ)
            .filter(tenant_id=self.tenant_id)
            .select_related("matter")
        )

    def get_request(self, request_id):
        found = self.requests().filter(pk=request_id).first()
        if found is None:
            raise NotFound(f"No Artifacts Management Request {request_id} in this tenant.")
        return found


@extend_schema(
    methods=["GET"],
    parameters=[
        OpenApiParameter("status", str, enum=Status.values),
        OpenApiParameter("requestType", str, enum=RequestType.values),
        OpenApiParameter("limit", int, description="1 to 200 (default 50)"),
        OpenApiParameter("continuationToken", str),
    ],
    responses={
        200: inline_serializer(
            "RequestList",
            {"requests": ManagementRequestBody(many=True), "meta": schemas.PageMeta()},
        ),
        **PROBLEMS,
    },
    description=f"The tenant's requests, newest first. Scope: `{REQUESTS_READ}`.",
)
@extend_schema(
    methods=["POST"],
    request=CreateBody,
    responses={201: RequestBody, **PROBLEMS},
    description=f"Create a request (Add Lock, Remove Lock, Delete) with the page's rules. Scope: `{REQUESTS_WRITE}`.",
)
class RequestListView(_Requests):
    """``GET /api/v1/requests``, ``POST /api/v1/requests``."""

    required_scopes = {"GET": [REQUESTS_READ], "POST": [REQUESTS_WRITE]}

    @extend_schema(operation_id="listRequests")
    def get(self, request):
        params = request.query_params
        errors = {}
        if "status" in params and params["status"] not in Status.values:  # empty is refused too
            errors["status"] = f"one of {', '.join(Status.values)}"
        if "requestType" in params and params["requestType"] not in RequestType.values:
            errors["requestType"] = f"one of {', '.join(RequestType.values)}"
        limit = params.get("limit", "50")
        if not digits(limit) or not 1 <= int(limit) <= 200:
            errors["limit"] = "a whole number from 1 to 200"
        if errors:
            raise BadRequest(errors)
        rows = self.requests()
        if params.get("status"):
            rows = rows.filter(status=params["status"])
        if params.get("requestType"):
            rows = rows.filter(request_type=params["requestType"])
        query = [params.get("status", ""), params.get("requestType", "")]
        if params.get("continuationToken"):
            position = read_continuation(params["continuationToken"])
            if position.get("q") != query:
                raise BadRequest({"continuationToken": "belongs to another query: repeat its parameters"})
            rows = rows.filter(pk__lt=position["before"])
        page = list(rows.order_by("-id")[: int(limit) + 1])
        token = continuation_token({"q": query, "before": page[int(limit) - 1].pk}) if len(page) > int(limit) else None
        page = page[: int(limit)]
        return Response(
            {"requests": [request_body(r) for r in page], "meta": {"count": len(page), "nextContinuationToken": token}}
        )

    @extend_schema(operation_id="createRequest")
    def post(self, request):
        data = _data(request)
        request_type = data.get("requestType")
        if request_type not in RequestType.values:
            raise BadRequest({"requestType": f"one of {', '.join(RequestType.values)}"})
        return _create(self, data, request_type)


@extend_schema(responses={200: RequestBody, **PROBLEMS}, description=f"Scope: `{REQUESTS_READ}`.")
class RequestDetailView(_Requests):
    """``GET /api/v1/requests/{id}``: status, progress, totals and per-interaction results."""

    required_scopes = [REQUESTS_READ]

    @extend_schema(operation_id="getRequest")
    def get(self, request, request_id):
        return Response(request_body(self.get_request(request_id), with_results=True))


@extend_schema(
    request=None,
    responses={200: RequestBody, 409: schemas.Problem, **PROBLEMS},
    description=f"Cancel a Queued request / retry one in Error. Scope: `{REQUESTS_WRITE}`.",
)
class RequestActionView(_Requests):
    """``POST /api/v1/requests/{id}/cancel`` and ``…/retry``."""

    required_scopes = [REQUESTS_WRITE]
    action = "cancel"

    def post(self, request, request_id):
        from django.core.exceptions import ValidationError

        from .base import Conflict

        req = self.get_request(request_id)
        service = services.cancel_management_request if self.action == "cancel" else services.retry_management_request
        try:
            service(req.pk, self.actor)
        except ValidationError as exc:
            raise Conflict(" ".join(exc.messages)) from None
        req.refresh_from_db()
        return Response(request_body(req, with_results=True))
