"""State changes of exports: create one (any caller: page, API, command), record a download.

Every function takes ids and an ``actor``, checks ``EXPORT_CONTENT`` itself, changes state in one
transaction and writes its audit event. The work itself is :mod:`exports.runner` (a job).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEvent, Tenant
from accounts.permissions import ARTIFACTS_MANAGEMENT_REQUESTS_READ, EXPORT_CONTENT
from artifacts.models import ManagementRequest, ManagementRequestItem
from artifacts.validation import parse_interaction_ids
from config import jobs
from core.vocabulary import ArtifactType
from interactions.models import Interaction
from workspace.filters import InteractionFilter, list_query

from .models import Export

#: The interactions list's query parameters an export keeps (paging and sorting are not a selection).
FILTER_NAMES = tuple(InteractionFilter.base_filters)


def clean_filters(data):
    """The list's filters from ``data`` (a QueryDict or a dict), non-empty ones only, as strings."""
    getter = data.get if hasattr(data, "get") else dict(data).get
    return {name: str(getter(name)).strip() for name in FILTER_NAMES if str(getter(name) or "").strip()}


def _limit_error(field, found):
    limit = settings.EXPORT_MAX_INTERACTIONS
    return ValidationError(
        {
            field: f"{found:,} interactions selected; one export takes at most {limit:,} (EXPORT_MAX_INTERACTIONS). "
            "Narrow the selection, e.g. by date."
        }
    )


def _ids_from_filters(tenant, actor, filters):
    rows = Interaction.objects.restrict(actor, EXPORT_CONTENT).filter(tenant=tenant)
    query = list_query(rows, tenant, filters)
    if query.errors:
        raise ValidationError({"filters": query.errors})
    limit = settings.EXPORT_MAX_INTERACTIONS
    ids = list(query.queryset.order_by().values_list("id", flat=True)[: limit + 1])
    if len(ids) > limit:
        raise _limit_error("filters", query.queryset.count())
    return ids


def _ids_from_guids(tenant, actor, guids):
    limit = settings.EXPORT_MAX_INTERACTIONS
    try:
        parsed = parse_interaction_ids(guids, max_ids=limit)
    except ValidationError as exc:
        raise ValidationError({"interaction_ids": exc.messages}) from None
    found = dict(
        Interaction.objects.restrict(actor, EXPORT_CONTENT)
        .filter(tenant=tenant, guid__in=parsed)
        .values_list("guid", "id")
    )
    found = {str(guid): pk for guid, pk in found.items()}
    unknown = [guid for guid in parsed if guid not in found]
    if unknown:
        raise ValidationError(
            {
                "interaction_ids": f"not an interaction of this tenant: {', '.join(unknown[:10])}"
                + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
                + "."
            }
        )
    return [found[guid] for guid in parsed]


def _ids_from_request(tenant, actor, request_id):
    actor.require(tenant, ARTIFACTS_MANAGEMENT_REQUESTS_READ, doing="export a request's interactions")
    exists = ManagementRequest.objects.filter(tenant=tenant, pk=request_id).exists()
    if not exists:
        raise ValidationError({"request": f"no Artifacts Management Request {request_id} in this tenant."})
    return list(
        ManagementRequestItem.objects.filter(request_id=request_id)
        .order_by("position")
        .values_list("interaction_id", flat=True)
    )


def _selection(tenant, actor, filters, interaction_ids, request_id):
    given = [name for name, value in (("filters", filters), ("interaction_ids", interaction_ids),
                                      ("request", request_id)) if value or value == 0]  # fmt: skip
    if len(given) > 1:
        raise ValidationError({"selection": f"choose one of filters, interaction ids or a request (got {given})."})
    if request_id not in (None, ""):
        return Export.Selection.REQUEST, _ids_from_request(tenant, actor, request_id)
    if interaction_ids not in (None, "", []):
        return Export.Selection.INTERACTIONS, _ids_from_guids(tenant, actor, interaction_ids)
    return Export.Selection.FILTERS, _ids_from_filters(tenant, actor, filters or {})


@transaction.atomic
def create_export(
    tenant_id,
    actor,
    *,
    filters=None,
    interaction_ids=None,
    request_id=None,
    artifact_type="",
    description="",
    destination=Export.Destination.STORAGE,
    schedule=None,
    scheduled_for=None,
    push_bucket=None,
):
    """Create an export of the tenant's content and queue it (to the exports storage), or leave it
    Queued for the caller to write (``destination=output``: the command).

    The selection is one of: ``filters`` (the interactions list's query parameters; no filter is
    every interaction), ``interaction_ids`` (GUIDs) or ``request_id`` (an Artifacts Management
    Request's interactions); at most ``EXPORT_MAX_INTERACTIONS``. ``artifact_type`` (or the
    filters' *Artifact type*) keeps only artifacts of that type. ``push_bucket`` (a daily archive's
    *Push to*) writes the zip to that bucket of the tenant's instead (destination *push*). Bad
    input raises ``ValidationError`` naming the field; nothing is saved.
    """
    tenant = Tenant.objects.get(pk=tenant_id)
    actor.require(tenant, EXPORT_CONTENT, doing="export content")
    if push_bucket is not None:
        if push_bucket.tenant_id != tenant.pk:
            raise ValidationError({"push_to": "not a bucket of this tenant."})
        destination = Export.Destination.PUSH
    filters = clean_filters(filters or {})
    artifact_type = artifact_type or filters.get("artifact_type", "")
    if artifact_type and artifact_type not in ArtifactType.values:
        raise ValidationError({"artifact_type": f"one of {', '.join(ArtifactType.values)}."})
    if request_id not in (None, "") and not str(request_id).isdigit():
        raise ValidationError({"request": "a request id (a whole number)."})
    kind, ids = _selection(tenant, actor, filters, interaction_ids, request_id)
    if len(ids) > settings.EXPORT_MAX_INTERACTIONS:
        raise _limit_error("selection", len(ids))
    if not ids and schedule is None:  # a day without content still gets its (empty) daily archive
        raise ValidationError({"selection": "no interaction is selected: nothing to export."})
    export = _create(
        tenant,
        actor,
        kind,
        ids,
        filters=filters if kind == Export.Selection.FILTERS else {},
        artifact_type=artifact_type,
        request_id=int(request_id) if kind == Export.Selection.REQUEST else None,
        description=description,
        destination=destination,
        schedule=schedule,
        scheduled_for=scheduled_for,
        push_bucket=push_bucket,
    )
    if destination in (Export.Destination.STORAGE, Export.Destination.PUSH):
        jobs.enqueue(export)
    return export


@transaction.atomic
def create_deletion_export(tenant_id, actor, interaction_pks, *, reason):
    """An export of interactions (their present artifacts) whose content is about to be deleted by a
    request or policy that requires a verified export first; left Queued for the deleting job to
    write and verify in its own process (:mod:`exports.before_delete`). Audited like any export."""
    tenant = Tenant.objects.get(pk=tenant_id)
    actor.require(tenant, EXPORT_CONTENT, doing="export content before deleting it")
    if len(interaction_pks) > settings.EXPORT_MAX_INTERACTIONS:
        raise _limit_error("selection", len(interaction_pks))
    return _create(
        tenant, actor, Export.Selection.DELETION, list(interaction_pks), description=f"Before deletion: {reason}"
    )


def _create(tenant, actor, kind, ids, *, filters=None, artifact_type="", request_id=None, description="",
            destination=Export.Destination.STORAGE, schedule=None, scheduled_for=None, push_bucket=None):  # fmt: skip
    export = Export.objects.create(
        tenant=tenant,
        created_by=actor.label[:200],
        description=str(description or "")[:300],
        selection=kind,
        filters=filters or {},
        artifact_type=artifact_type,
        request_id=request_id,
        interaction_ids=ids,
        interaction_count=len(ids),
        destination=destination,
        schedule=schedule,
        scheduled_for=scheduled_for,
        push_bucket=push_bucket,
        **actor.ref(),
    )
    audit.record(
        tenant.pk,
        AuditEvent.Kind.EXPORT_CREATED,
        actor,
        reason=export.description,
        export=export.pk,
        selection=kind,
        filters=export.filters,
        interactions=len(ids),
        artifact_type=artifact_type,
        **({"request": export.request_id} if export.request_id else {}),
        **({"schedule": schedule.pk, "day": scheduled_for.isoformat()} if schedule else {}),
        **({"push_to": push_bucket.location} if push_bucket else {}),
    )
    return export


@transaction.atomic
def record_download(export_id, actor):
    """Check that ``actor`` may download export ``export_id`` (complete, not expired), count and
    audit the download; returns the export. The caller streams the bytes."""
    export = Export.objects.select_for_update().get(pk=export_id)
    actor.require(export.tenant_id, EXPORT_CONTENT, doing="download exports")
    if not export.is_downloadable:
        state = "expired" if export.expired_at else export.get_status_display()
        raise ValidationError({"export": f"export {export.pk} cannot be downloaded: it is {state}."})
    now = timezone.now()
    Export.objects.filter(pk=export.pk).update(download_count=F("download_count") + 1, last_downloaded_at=now)
    audit.record(
        export.tenant_id,
        AuditEvent.Kind.EXPORT_DOWNLOADED,
        actor,
        export=export.pk,
        sha256=export.sha256,
        size=export.size,
    )
    export.refresh_from_db()
    return export


@transaction.atomic
def retry_scheduled_export(export_id, actor, *, attempts):
    """Queue a daily archive whose export failed again (the same row: the day is exported once),
    when it is retryable and has run fewer than ``attempts`` times; audited *Export retried* with
    the failure. It goes where the schedule sends archives now. Returns the export when it was
    queued, else None."""
    export = Export.objects.select_for_update(no_key=True).get(pk=export_id)
    actor.require(export.tenant_id, EXPORT_CONTENT, doing="retry exports")
    if export.status != Export.Status.ERROR or not export.retryable or export.attempts >= attempts:
        return None
    failure = export.error_message
    export.status, export.error_message, export.finished_at = Export.Status.QUEUED, "", None
    export.artifacts_done = export.bytes_done = 0
    if export.schedule_id:  # where the schedule sends its archives now (its bucket may have changed)
        export.push_bucket = export.schedule.push_to
        export.destination = Export.Destination.PUSH if export.push_bucket else Export.Destination.STORAGE
    for name, value in actor.ref().items():
        setattr(export, name, value)
    export.save(
        update_fields=[
            "status", "error_message", "finished_at", "artifacts_done", "bytes_done", "push_bucket", "destination",
            *actor.ref(),
        ]
    )  # fmt: skip
    audit.record(
        export.tenant_id,
        AuditEvent.Kind.EXPORT_RETRIED,
        actor,
        reason=failure,
        export=export.pk,
        attempt=export.attempts + 1,
        **({"push_to": export.push_bucket.location} if export.push_bucket else {}),
        **({"schedule": export.schedule_id, "day": export.scheduled_for.isoformat()} if export.schedule_id else {}),
    )
    jobs.enqueue(export)
    return export


SCHEDULE_FIELDS = (
    "name", "channel", "direction", "origin", "artifact_type", "hour", "starts_on", "enabled", "push_to",
)  # fmt: skip


def _shown(value):
    return "" if value is None else str(value)


def _check_push_to(schedule):
    if schedule.push_to_id and schedule.push_to.tenant_id != schedule.tenant_id:
        raise ValidationError({"push_to": "not a bucket of this tenant."})


@transaction.atomic
def create_schedule(tenant_id, actor, **fields):
    """A daily archive (``ExportSchedule``) of the tenant; bad input names the field, nothing saved."""
    from .models import ExportSchedule

    actor.require(tenant_id, EXPORT_CONTENT, doing="schedule exports")
    unknown = set(fields) - set(SCHEDULE_FIELDS)
    if unknown:
        raise ValidationError({name: "not a field of an export schedule." for name in sorted(unknown)})
    if not fields.get("starts_on"):
        fields["starts_on"] = timezone.localdate(timezone=_zone(tenant_id))
    schedule = ExportSchedule(tenant_id=tenant_id, created_by=actor.label[:200], **fields)
    schedule.full_clean()
    _check_push_to(schedule)
    schedule.save()
    audit.record(
        tenant_id,
        AuditEvent.Kind.EXPORT_SCHEDULE_CREATED,
        actor,
        schedule=schedule.pk,
        **{name: _shown(getattr(schedule, name)) for name in SCHEDULE_FIELDS},
    )
    return schedule


@transaction.atomic
def update_schedule(schedule_id, actor, **fields):
    """Change a schedule (e.g. ``enabled=False``); audited with each changed field's before and after
    (nothing is recorded when nothing changed)."""
    from .models import ExportSchedule

    schedule = ExportSchedule.objects.select_for_update().get(pk=schedule_id)
    actor.require(schedule.tenant_id, EXPORT_CONTENT, doing="change export schedules")
    unknown = set(fields) - set(SCHEDULE_FIELDS)
    if unknown:
        raise ValidationError({name: "not a field of an export schedule." for name in sorted(unknown)})
    before = {name: _shown(getattr(schedule, name)) for name in fields}
    for name, value in fields.items():
        setattr(schedule, name, value)
    schedule.full_clean()
    _check_push_to(schedule)
    schedule.save()
    changed = {name: [before[name], _shown(getattr(schedule, name))] for name in fields}
    changed = {name: values for name, values in changed.items() if values[0] != values[1]}
    if not changed:
        return schedule  # as it was: nothing to record
    audit.record(
        schedule.tenant_id, AuditEvent.Kind.EXPORT_SCHEDULE_CHANGED, actor, schedule=schedule.pk, changed=changed
    )
    return schedule


def _zone(tenant_id):
    import zoneinfo

    return zoneinfo.ZoneInfo(Tenant.objects.values_list("time_zone", flat=True).get(pk=tenant_id))
