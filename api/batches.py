"""``POST /api/v1/interactions/delete-batch``: delete all content of up to 1,000 interactions.

It runs as a Delete Artifacts Management Request (selection *All*, Script and Voicemail included),
through the same engine, validator and audit trail as the page: the API is one more caller. The
call answers when the request is done (200, one failure per interaction that kept content), or 202
with the request's URL when it takes longer than ``API_BATCH_WAIT`` seconds. Unknown GUIDs are not
an error. One batch at a time per tenant: a second one while the first runs gets 429.
"""

import time

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from accounts.actors import ActorKind
from accounts.models import Tenant
from accounts.permissions import VIEW_INTERACTIONS
from artifacts.models import ManagementRequest
from artifacts.services import create_management_request
from core.vocabulary import ALL
from interactions.models import Interaction

from . import schemas
from .base import ApiView, BadRequest
from .interactions import PROBLEMS, parse_guid
from .scopes import CONTENT_DELETE

MAX_GUIDS = 1000
BATCH_DESCRIPTION = "API delete-batch"


class Busy(exceptions.Throttled):
    """A 429 that is not a rate limit: the tenant's previous batch is still running."""

    def __init__(self, request_id):
        super().__init__(
            wait=5,
            detail=f"Delete-batch request {request_id} of this tenant is still running; "
            "send the next batch when it is done.",
        )


def failures_of(req, guid_of):
    """One failure per interaction that kept content: locked (409) or a storage refusal (503)."""
    failures = []
    for item in req.items.order_by("position"):
        guid = guid_of[item.interaction_id]
        if item.error:
            failures.append({"guid": guid, "message": item.error, "statusCode": 503})
        elif item.skipped_locked:
            failures.append(
                {
                    "guid": guid,
                    "message": f"{item.skipped_locked} content file(s) locked (legal hold): not deleted",
                    "statusCode": 409,
                }
            )
    return failures


@extend_schema(
    request=schemas.DeleteBatchInput,
    responses={200: schemas.DeleteBatchResult, 202: schemas.Accepted, **PROBLEMS},
    description=f"Delete all content of up to {MAX_GUIDS} interactions; locked content is a failure with "
    f"409 and is kept. Scope: `{CONTENT_DELETE}`.",
)
class DeleteBatchView(ApiView):
    """``POST /api/v1/interactions/delete-batch``."""

    required_scopes = [CONTENT_DELETE]

    @extend_schema(operation_id="deleteContentBatch")
    def post(self, request):
        guids = request.data.get("guids") if isinstance(request.data, dict) else None
        if not isinstance(guids, list) or not guids:
            raise BadRequest({"guids": f"a list of 1 to {MAX_GUIDS} interaction GUIDs is required"})
        if len(guids) > MAX_GUIDS:
            raise BadRequest({"guids": f"at most {MAX_GUIDS} GUIDs per batch ({len(guids)} sent)"})
        parsed = []
        for position, guid in enumerate(guids):
            try:
                parsed.append(parse_guid(guid if isinstance(guid, str) else ""))
            except BadRequest:
                raise BadRequest({f"guids[{position}]": "GUID must be 36 characters in length"}) from None
        known = dict(
            Interaction.objects.restrict(self.actor, VIEW_INTERACTIONS)
            .filter(tenant_id=self.tenant_id, guid__in=parsed)
            .values_list("pk", "guid")
        )
        guid_of = {pk: str(guid) for pk, guid in known.items()}
        if not known:
            return Response({"failures": [], "requestId": None})
        with transaction.atomic():
            # One batch at a time per tenant: the tenant row serializes the check and the creation.
            Tenant.objects.select_for_update(no_key=True).get(pk=self.tenant_id)
            running = ManagementRequest.objects.filter(
                tenant_id=self.tenant_id,
                actor_kind=ActorKind.API_CLIENT,
                description=BATCH_DESCRIPTION,
                status__in=[ManagementRequest.Status.QUEUED, ManagementRequest.Status.IN_PROGRESS],
            ).first()
            if running is not None:
                raise Busy(running.pk)
            req = create_management_request(
                self.tenant_id,
                self.actor,
                request_type=ManagementRequest.RequestType.DELETE,
                artifact_type=ALL,
                interaction_ids=",".join(guid_of.values()),
                description=BATCH_DESCRIPTION,
                confirmed=True,
                max_ids=MAX_GUIDS,
            )
        deadline = time.monotonic() + settings.API_BATCH_WAIT
        while True:
            req.refresh_from_db()
            if req.is_finished or req.awaits_approval or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        if not req.is_finished:
            url = reverse("api-request-detail", args=[req.pk])
            return Response(
                {"requestId": req.pk, "status": req.status, "request": url}, status=202, headers={"Location": url}
            )
        return Response({"failures": failures_of(req, guid_of), "requestId": req.pk})
