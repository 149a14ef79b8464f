"""``/api/v1/interactions``: list, one interaction with its content, delete content (one, or a batch
of interactions). Shaped like Vonage's Interaction Content API; stricter where it matters: locked
content answers 409 and is never deleted."""

import uuid
from datetime import UTC, timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from accounts.models import Tenant
from accounts.permissions import VIEW_INTERACTIONS
from artifacts.models import Artifact, Lock
from core.vocabulary import PRESENT_STATES, Channel, Direction
from interactions.models import Interaction
from policies.retention import artifact_dates

from . import schemas
from .base import ApiView, BadRequest, Conflict, Gone, continuation_token, digits, read_continuation
from .scopes import CONTENT_DELETE, CONTENT_READ

MAX_SPAN = timedelta(days=31)
MAX_LIMIT, DEFAULT_LIMIT = 1000, 100
PROBLEMS = {
    400: schemas.Problem,
    401: schemas.Problem,
    403: schemas.Problem,
    404: schemas.Problem,
    429: schemas.Problem,
}


def iso(value):
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def parse_time(text, field):
    """An ISO 8601 instant; naive times are UTC. 400 naming ``field`` otherwise."""
    try:
        moment = parse_datetime(str(text))
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise BadRequest({field: "an ISO 8601 date and time is required, e.g. 2026-12-01T00:00:00Z"})
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise BadRequest({field: "out of range"}) from None
    return moment


def parse_guid(text):
    """An interaction GUID as Vonage's API checks it; 400 otherwise."""
    if len(str(text)) != 36:
        raise BadRequest({"guid": "GUID must be 36 characters in length"})
    try:
        return uuid.UUID(str(text))
    except ValueError:
        raise BadRequest({"guid": "GUID is not a valid UUID"}) from None


def lock_info(lock):
    return {
        "id": lock.id,
        "artifactType": lock.artifact_type,
        "audioRecordingType": lock.audio_recording_type,
        "expiresAt": iso(lock.expires_at),
        "requestId": lock.request_id,
    }


def content_item(artifact, locks):
    """An artifact as the API shows it (``locks``: the interaction's active locks by pair)."""
    mine = locks.get((artifact.artifact_type, artifact.audio_recording_type), [])
    return {
        "id": str(artifact.id),
        "contentKey": artifact.content_key,
        "type": artifact.artifact_type,
        "audioRecordingType": artifact.audio_recording_type,
        "contentType": artifact.content_type,
        "contentLength": artifact.size,
        "durationSeconds": artifact.duration_seconds,
        "lastModified": iso(artifact.archived_at or artifact.created_at),
        "sha256": artifact.sha256,
        "state": artifact.state,
        "exportDate": iso(artifact.exported_at),
        "exportId": artifact.exported_in,
        "locked": bool(mine) and artifact.state in PRESENT_STATES,
        "locks": [lock_info(lock) for lock in mine],
        "archiveDate": iso(artifact.archive_on),
        "deleteDate": iso(artifact.delete_on),
    }


LOCK_FIELDS = ("id", "interaction_id", "artifact_type", "audio_recording_type", "expires_at", "request_id")
#: The artifact columns an item shows, and the retention dates computed with them (named tuples, not
#: model instances: building 1,000s of instances per page was most of the list's time).
ARTIFACT_FIELDS = (
    "id", "interaction_id", "content_key", "artifact_type", "audio_recording_type", "content_type", "size",
    "duration_seconds", "created_at", "archived_at", "sha256", "state", "archive_on", "delete_on", "exported_at",
    "exported_in",
)  # fmt: skip


def locks_by_pair(interaction_ids):
    """Active locks of the interactions: ``{interaction id: {(type, audio type): [locks]}}``."""
    found = {}
    active = Lock.objects.active().filter(interaction_id__in=interaction_ids).order_by("id")
    for lock in active.values_list(*LOCK_FIELDS, named=True):
        pair = (lock.artifact_type, lock.audio_recording_type)
        found.setdefault(lock.interaction_id, {}).setdefault(pair, []).append(lock)
    return found


def interaction_item(interaction, artifacts, locks):
    return {
        "guid": str(interaction.guid),
        "channel": interaction.channel,
        "direction": interaction.direction,
        "origin": interaction.origin,
        "startTime": iso(interaction.started_at),
        "endTime": iso(interaction.ended_at),
        "durationSeconds": interaction.duration_seconds,
        "connectFrom": interaction.from_address,
        "connectTo": interaction.to_address,
        "handlingAgentId": interaction.agent_id,
        "handlingAgentName": interaction.agent_name,
        "sourceSystem": interaction.source_system,
        "sourceCallId": interaction.source_call_id,
        "sourceTaskId": interaction.source_task_id,
        "metadata": interaction.metadata,
        "locked": any(a["locked"] for a in artifacts),
        "content": artifacts,
    }


class _Interactions(ApiView):
    def interactions(self):
        """The one tenant filter: the client's tenant, with the client's grants."""
        return Interaction.objects.restrict(self.actor, VIEW_INTERACTIONS).filter(tenant_id=self.tenant_id)

    def interaction(self, guid):
        found = self.interactions().filter(guid=parse_guid(guid)).first()
        if found is None:
            from rest_framework.exceptions import NotFound

            raise NotFound(f"No interaction {guid} in this tenant.")
        return found

    def with_content(self, interactions):
        """Each interaction's content (dates in the same query per interaction batch) and locks."""
        interactions = list(interactions)
        ids = [i.pk for i in interactions]
        dated = (
            artifact_dates(Artifact.objects.filter(interaction_id__in=ids), self.tenant_id)
            .order_by("interaction_id", "created_at", "id")
            .values_list(*ARTIFACT_FIELDS, named=True)
        )
        by_interaction = {}
        for artifact in dated:
            by_interaction.setdefault(artifact.interaction_id, []).append(artifact)
        locks = locks_by_pair(ids)
        return [
            interaction_item(
                i, [content_item(a, locks.get(i.pk, {})) for a in by_interaction.get(i.pk, [])], locks.get(i.pk, {})
            )
            for i in interactions
        ]


@extend_schema(
    parameters=[
        OpenApiParameter("start", str, required=True, description="ISO 8601; interactions that started at or after"),
        OpenApiParameter(
            "end", str, required=True, description="ISO 8601; before this instant (≤ 31 days after start)"
        ),
        OpenApiParameter("handlingAgentId", str),
        OpenApiParameter("connectFrom", str, description="starts with"),
        OpenApiParameter("connectTo", str, description="starts with"),
        OpenApiParameter("direction", str, enum=Direction.values),
        OpenApiParameter("channel", str, enum=Channel.values),
        OpenApiParameter("contentKey", str, description="has content with this key (or unique identifier)"),
        OpenApiParameter("locked", bool),
        OpenApiParameter("limit", int, description=f"1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"),
        OpenApiParameter("continuationToken", str, description="meta.nextContinuationToken of the previous page"),
    ],
    responses={200: schemas.InteractionList, **PROBLEMS},
    description=f"Interactions with content that started in [start, end), oldest first. Scope: `{CONTENT_READ}`.",
)
class InteractionListView(_Interactions):
    """``GET /api/v1/interactions``: interactions with content, keyset-paged by continuation token."""

    required_scopes = [CONTENT_READ]

    @extend_schema(operation_id="listInteractions")
    def get(self, request):
        params = request.query_params
        errors = {}
        try:
            start = parse_time(params.get("start", ""), "start")
        except BadRequest as exc:
            errors.update(exc.detail)
        try:
            end = parse_time(params.get("end", ""), "end")
        except BadRequest as exc:
            errors.update(exc.detail)
        if not errors and not start < end:
            errors["end"] = "must be after start"
        elif not errors and end - start > MAX_SPAN:
            errors["end"] = "at most 31 days after start"
        limit = params.get("limit", str(DEFAULT_LIMIT))
        if not digits(limit) or not 1 <= int(limit) <= MAX_LIMIT:
            errors["limit"] = f"a whole number from 1 to {MAX_LIMIT}"
        for name, choices in (("direction", Direction.values), ("channel", Channel.values)):
            if name in params and params[name] not in choices:  # empty is refused too
                errors[name] = f"one of {', '.join(choices)}"
        locked = params.get("locked")
        if locked not in (None, "true", "false"):
            errors["locked"] = "true or false"
        if errors:
            raise BadRequest(errors)
        filters = {
            k: params.get(k, "")
            for k in ("handlingAgentId", "connectFrom", "connectTo", "direction", "channel", "contentKey", "locked")
        }
        query = [iso(start), iso(end), [[name, value] for name, value in sorted(filters.items())]]  # as JSON has it
        rows = self.interactions().filter(started_at__gte=start, started_at__lt=end)
        if params.get("continuationToken"):
            position = read_continuation(params["continuationToken"])
            if position.get("q") != query:
                raise BadRequest({"continuationToken": "belongs to another query: repeat its parameters"})
            after_time, after_id = parse_datetime(position["after"][0]), position["after"][1]
            # The plain range lets the (tenant, started_at, id) index start at the position; the OR
            # alone made PostgreSQL walk every row before it (seconds, 10,000 pages deep).
            rows = rows.filter(started_at__gte=after_time).filter(
                Q(started_at__gt=after_time) | Q(started_at=after_time, id__gt=after_id)
            )
        rows = self.filtered(rows, filters)
        page = list(rows.order_by("started_at", "id")[: int(limit) + 1])
        more = len(page) > int(limit)
        page = page[: int(limit)]
        token = None
        if more:
            token = continuation_token({"q": query, "after": [page[-1].started_at.isoformat(), page[-1].pk]})
        items = self.with_content(page)
        return Response({"interactions": items, "meta": {"count": len(items), "nextContinuationToken": token}})

    @staticmethod
    def filtered(rows, filters):
        present = Artifact.objects.filter(interaction_id=OuterRef("pk"), state__in=PRESENT_STATES)
        rows = rows.filter(Exists(present))  # only interactions with content
        if filters["handlingAgentId"]:
            rows = rows.filter(agent_id=filters["handlingAgentId"])
        if filters["connectFrom"]:
            rows = rows.filter(from_address__startswith=filters["connectFrom"])
        if filters["connectTo"]:
            rows = rows.filter(to_address__startswith=filters["connectTo"])
        if filters["direction"]:
            rows = rows.filter(direction=filters["direction"])
        if filters["channel"]:
            rows = rows.filter(channel=filters["channel"])
        if filters["contentKey"]:
            key = filters["contentKey"]
            match = Q(content_key=key) | Q(pk=int(key)) if digits(key) else Q(content_key=key)
            rows = rows.filter(Exists(present.filter(match)))
        if filters["locked"]:
            locked = Exists(Artifact.objects.filter(interaction_id=OuterRef("pk")).present().locked())
            rows = rows.filter(locked if filters["locked"] == "true" else ~locked)
        return rows


@extend_schema(
    responses={200: schemas.Interaction, **PROBLEMS},
    description=f"One interaction with its content, locks and retention dates. Scope: `{CONTENT_READ}`.",
)
class InteractionDetailView(_Interactions):
    """``GET /api/v1/interactions/{guid}``."""

    required_scopes = [CONTENT_READ]

    @extend_schema(operation_id="getInteraction")
    def get(self, request, guid):
        return Response(self.with_content([self.interaction(guid)])[0])


def resolve_content(interaction, key):
    """The artifact a content key (or an artifact's unique identifier) names in the interaction.

    404 when none; 409 naming the identifiers when a fixed key names several (address each by its id).
    """
    from rest_framework.exceptions import NotFound

    matches = list(Artifact.objects.filter(interaction=interaction, content_key=key).order_by("id"))
    if not matches and digits(key):
        matches = list(Artifact.objects.filter(interaction=interaction, pk=int(key)))
    if not matches:
        raise NotFound(f"Interaction {interaction.guid} has no content “{key}”.")
    if len(matches) > 1:
        ids = ", ".join(str(a.pk) for a in matches)
        exc = Conflict(f"“{key}” names {len(matches)} artifacts of this interaction; address one by its id: {ids}.")
        exc.extra = {"ids": [str(a.pk) for a in matches]}
        raise exc
    return matches[0]


@extend_schema(
    methods=["DELETE"],
    responses={204: None, 409: schemas.Problem, 410: schemas.Problem, **PROBLEMS},
    description=f"Delete one content file. Locked content answers 409 and is kept. Scope: `{CONTENT_DELETE}`.",
)
class ContentView(_Interactions):
    """``DELETE /api/v1/interactions/{guid}/content/{contentKey}`` (GET streams it: see content.py)."""

    required_scopes = {"DELETE": [CONTENT_DELETE], "GET": [CONTENT_READ], "HEAD": [CONTENT_READ]}

    @extend_schema(operation_id="deleteContent")
    @extend_schema(
        operation_id="getContent",
        responses={
            (200, "*/*"): bytes,  # the content's own type (audio/x-wav, message/rfc822, ...)
            (206, "*/*"): bytes,
            410: schemas.Problem,
            416: schemas.Problem,
            **PROBLEMS,
        },
        parameters=[OpenApiParameter("Range", str, OpenApiParameter.HEADER, description="bytes=START-END")],
        description=f"The content's bytes, streamed; `Range` answers 206. Scope: `{CONTENT_READ}`.",
    )
    def get(self, request, guid, content_key):
        from .content import stream

        return stream(request, resolve_content(self.interaction(guid), content_key), self.actor)

    def delete(self, request, guid, content_key):
        from artifacts.services import delete_artifacts

        artifact = resolve_content(self.interaction(guid), content_key)
        if Tenant.objects.filter(pk=self.tenant_id, require_approval=True).exists():
            # Two-person approval: a deletion waits for a second person, which one call cannot.
            raise Conflict(
                "This tenant requires two-person approval of deletions: create a Delete request "
                "(POST /api/v1/requests); it waits until a user approves it."
            )
        if artifact.is_gone:
            raise Gone(
                f"Content {content_key} of {guid} was deleted already."
                if artifact.deleted_at
                else f"Content {content_key} of {guid} is being deleted already."
            )
        result = delete_artifacts(
            self.tenant_id, [artifact.pk], self.actor, f"API: DELETE content {content_key} of interaction {guid}"
        )
        if artifact.pk in result.done:
            return Response(status=status.HTTP_204_NO_CONTENT)
        if artifact.pk in result.skipped_locked:
            locks = locks_by_pair([artifact.interaction_id]).get(artifact.interaction_id, {})
            mine = locks.get((artifact.artifact_type, artifact.audio_recording_type), [])
            exc = Conflict(
                f"Content {content_key} of {guid} is locked (legal hold) and was not deleted: "
                + "; ".join(
                    f"lock {lk.id}" + (f" until {iso(lk.expires_at)}" if lk.expires_at else " (no expiry)")
                    for lk in mine
                )
            )
            exc.extra = {"locks": [lock_info(lock) for lock in mine]}
            raise exc
        if artifact.pk in result.failed:
            raise Conflict(f"The storage refused to delete {content_key} of {guid}: {result.failed[artifact.pk]}")
        raise Gone(f"Content {content_key} of {guid} is no longer there.")
