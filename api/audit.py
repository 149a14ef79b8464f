"""``GET /api/v1/audit-events``: the tenant's audit trail, newest first, cursor-paged (``audit:read``)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from accounts.models import AuditEvent

from . import schemas
from .base import ApiView, BadRequest, continuation_token, digits, read_continuation
from .interactions import PROBLEMS, iso, parse_guid, parse_time
from .scopes import AUDIT_READ, READ_AUDIT

EVENT_FIELDS = {
    "id": serializers.IntegerField(),
    "occurredAt": serializers.DateTimeField(),
    "kind": serializers.ChoiceField(choices=AuditEvent.Kind.choices),
    "actor": inline_serializer(
        "AuditActor",
        {
            "kind": serializers.CharField(allow_blank=True),
            "id": serializers.CharField(allow_blank=True),
            "label": serializers.CharField(),
        },
    ),
    "source": serializers.CharField(allow_blank=True),
    "remoteAddress": serializers.CharField(allow_null=True),
    "interactionId": serializers.UUIDField(allow_null=True),
    "artifactId": serializers.IntegerField(allow_null=True),
    "requestId": serializers.IntegerField(allow_null=True),
    "reason": serializers.CharField(allow_blank=True),
    "details": serializers.DictField(),
}


def event_body(event):
    return {
        "id": event.pk,
        "occurredAt": iso(event.occurred_at),
        "kind": event.kind,
        "actor": {"kind": event.actor_kind, "id": event.actor_key, "label": event.actor_label},
        "source": event.source,
        "remoteAddress": event.remote_addr,
        "interactionId": str(event.interaction_guid) if event.interaction_guid else None,
        "artifactId": event.artifact_id,
        "requestId": event.request_id,
        "reason": event.reason,
        "details": event.details,
    }


@extend_schema(
    parameters=[
        OpenApiParameter("start", str, description="ISO 8601: events at or after"),
        OpenApiParameter("end", str, description="ISO 8601: events before"),
        OpenApiParameter("kind", str, enum=AuditEvent.Kind.values),
        OpenApiParameter("interaction", str, description="an interaction GUID"),
        OpenApiParameter("limit", int, description="1 to 1000 (default 100)"),
        OpenApiParameter("continuationToken", str),
    ],
    responses={
        200: inline_serializer(
            "AuditEventList",
            {"events": inline_serializer("AuditEvent", EVENT_FIELDS, many=True), "meta": schemas.PageMeta()},
        ),
        **PROBLEMS,
    },
    description=f"The tenant's audit trail, newest first. Scope: `{AUDIT_READ}`.",
)
class AuditEventListView(ApiView):
    """``GET /api/v1/audit-events``."""

    required_scopes = [AUDIT_READ]

    @extend_schema(operation_id="listAuditEvents")
    def get(self, request):
        params = request.query_params
        errors, filters = {}, {}
        for name, lookup in (("start", "occurred_at__gte"), ("end", "occurred_at__lt")):
            if params.get(name):
                try:
                    filters[lookup] = parse_time(params[name], name)
                except BadRequest as exc:
                    errors.update(exc.detail)
        if "kind" in params:  # empty is refused too (not in the enum)
            if params["kind"] in AuditEvent.Kind.values:
                filters["kind"] = params["kind"]
            else:
                errors["kind"] = "not an audit event kind (see the schema's enum)"
        if params.get("interaction"):
            try:
                filters["interaction_guid"] = parse_guid(params["interaction"])
            except BadRequest:
                errors["interaction"] = "GUID must be 36 characters in length"
        limit = params.get("limit", "100")
        if not digits(limit) or not 1 <= int(limit) <= 1000:
            errors["limit"] = "a whole number from 1 to 1000"
        if errors:
            raise BadRequest(errors)
        rows = AuditEvent.objects.restrict(self.actor, READ_AUDIT).filter(tenant_id=self.tenant_id, **filters)
        query = sorted((k, str(v)) for k, v in filters.items())
        if params.get("continuationToken"):
            position = read_continuation(params["continuationToken"])
            if position.get("q") != [list(pair) for pair in query]:
                raise BadRequest({"continuationToken": "belongs to another query: repeat its parameters"})
            rows = rows.filter(pk__lt=position["before"])
        page = list(rows.order_by("-id")[: int(limit) + 1])
        more = len(page) > int(limit)
        page = page[: int(limit)]
        token = continuation_token({"q": [list(pair) for pair in query], "before": page[-1].pk}) if more else None
        return Response(
            {"events": [event_body(e) for e in page], "meta": {"count": len(page), "nextContinuationToken": token}}
        )
