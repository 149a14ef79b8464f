"""One interaction's page: details, custom metadata, artifacts with their locks and readable
content, the Protected checkbox, the audit trail; and the POST behind that checkbox.

What "Protected" means: every ``(artifact type, audio recording type)`` pair that *Any* covers is
under an active lock — exactly what an Add Lock for *Any* establishes, for the content there now
and the content that arrives later. Some locks but not all ("partly protected") leave the box
unticked: a ticked box must never make someone believe a recording is held when it is not, and
ticking it then completes the protection (adding a lock never shortens another). Unticking creates
a Remove Lock for *Any*, which releases every active lock of those types; Script and Voicemail are
outside *Any* and keep their locks.
"""

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views import View
from django.views.generic import DetailView

from accounts.permissions import (
    ACCESS_CONTENT,
    ARTIFACTS_MANAGEMENT_REQUESTS_CREATE,
    ARTIFACTS_MANAGEMENT_REQUESTS_READ,
    VIEW_INTERACTIONS,
)
from accounts.tenancy import TenantViewMixin, report_queued
from artifacts import content_services, services
from artifacts.impact import request_impact
from artifacts.models import Lock, ManagementRequest, ManagementRequestItem
from artifacts.rendering import render_artifact, render_kind
from artifacts.validation import CONFIRMATIONS, required_permissions
from core.vocabulary import ANY, lock_targets
from interactions.models import Interaction
from policies.retention import artifact_dates

from .audit_rows import audit_rows

RequestType = ManagementRequest.RequestType
#: The pairs an Add Lock for *Any* locks: the interaction is Protected when all of them are.
ANY_PAIRS = frozenset(lock_targets(ANY))


def group_locks(locks):
    """Active locks as the people who placed them see them: one row per request (or lock), with
    the types it still covers (*Any* is stored as one lock per type, and may be released in part)."""
    groups = {}
    for lock in locks:
        key = ("request", lock.request_id, lock.expires_at, lock.matter_id) if lock.request_id else ("lock", lock.pk)
        group = groups.setdefault(key, {"first": lock, "types": []})
        group["types"].append(lock.type_label)
    return list(groups.values())


def protection_of(locks):
    """The Protected state from an interaction's active locks (see the module docstring).

    Returns ``{"full", "partial", "until", "locked_types"}``: ``until`` is when full protection
    ends (the earliest of each pair's latest expiry; None for no expiry).
    """
    latest = {}
    for lock in locks:
        pair = (lock.artifact_type, lock.audio_recording_type)
        if pair not in ANY_PAIRS:
            continue
        known = latest.get(pair, dt.datetime.min.replace(tzinfo=dt.UTC))
        # None (no expiry) outlasts any date.
        latest[pair] = None if known is None or lock.expires_at is None else max(known, lock.expires_at)
    full = set(latest) == ANY_PAIRS
    dated = [until for until in latest.values() if until is not None]
    return {
        "full": full,
        "partial": bool(latest) and not full,
        # Full protection ends when the first pair's last lock expires (pairs without expiry last).
        "until": min(dated) if full and dated else None,
        "locked_types": sorted(
            {lock.type_label for lock in locks if (lock.artifact_type, lock.audio_recording_type) in latest}
        ),
    }


class _InteractionView(TenantViewMixin):
    """Views of one interaction of the URL's tenant (by GUID)."""

    model = Interaction
    rows_permission = VIEW_INTERACTIONS
    lookup = ("guid", "guid")
    not_found = "No such interaction."

    def active_locks(self, interaction):
        """The interaction's active locks, oldest first."""
        return list(
            self.tenant_rows(Lock)
            .active()
            .filter(interaction=interaction)
            .select_related("matter")
            .order_by("created_at", "id")
        )


class InteractionDetailView(_InteractionView, DetailView):
    """One interaction: its details, custom metadata, artifacts (play / download / read), the
    Protected checkbox and the audit trail. Content shown on the page is recorded as viewed."""

    permission_required = VIEW_INTERACTIONS
    template_name = "interactions/interaction_detail.html"
    context_object_name = "interaction"

    def _render_content(self, artifacts):
        """Read the transcripts, emails and categorization results on the page (for users who may
        read content), and record each one actually shown as viewed."""
        may_read = ACCESS_CONTENT in self.perms
        shown = []
        for artifact in artifacts:
            artifact.render_kind = render_kind(artifact)
            artifact.rendered = None
            if artifact.render_kind and may_read:
                artifact.rendered = render_artifact(artifact)
                if artifact.rendered.shown:
                    shown.append(artifact)
        if shown:
            content_services.record_views(self.object, shown, self.actor)

    def _audit(self):
        """A page of the readable audit trail (``?audit_before=<seq>`` continues it)."""
        try:
            before = int(self.request.GET.get("audit_before", "")) or None
        except ValueError:
            before = None
        rows, next_before = audit_rows(self.tenant, self.object.guid, before)
        return {"rows": rows, "next_before": next_before, "paged": before is not None}

    def get_context_data(self, **kwargs):
        locks = self.active_locks(self.object)
        now = timezone.now()
        artifacts = list(
            artifact_dates(self.object.artifacts.select_related("deleted_by_user"), self.tenant, now).order_by(
                "created_at", "id"
            )
        )
        # One query for the locks, matched here: a lock covers its (type, audio type) pair, and the
        # artifacts that arrive later too, so artifacts never need a query of their own.
        by_pair = {}
        for lock in locks:
            by_pair.setdefault((lock.artifact_type, lock.audio_recording_type), []).append(lock)
        for artifact in artifacts:
            artifact.active_locks = by_pair.get((artifact.artifact_type, artifact.audio_recording_type), [])
        self._render_content(artifacts)
        perms = set(self.perms)
        protection = protection_of(locks)
        can_add = required_permissions(RequestType.ADD_LOCK) <= perms
        can_remove = required_permissions(RequestType.REMOVE_LOCK) <= perms
        pending, failed = [], []
        if ARTIFACTS_MANAGEMENT_REQUESTS_READ in perms:
            mine = self.tenant_rows(ManagementRequest, ARTIFACTS_MANAGEMENT_REQUESTS_READ).filter(
                items__interaction=self.object
            )
            pending = list(
                mine.filter(
                    status__in=[ManagementRequest.Status.QUEUED, ManagementRequest.Status.IN_PROGRESS]
                ).order_by("-id")[:5]
            )
            # A failure is shown where the user acted: what failed, why, and Retry.
            item_error = ManagementRequestItem.objects.filter(request=OuterRef("pk"), interaction=self.object)
            failed = list(
                mine.filter(status=ManagementRequest.Status.ERROR)
                .annotate(item_error=Subquery(item_error.values("error")[:1]))
                .order_by("-id")[:5]
            )
            for req in failed:
                req.can_retry = req.retryable and required_permissions(req.request_type, req.remove_locks) <= perms
        release_impact = None
        if can_remove and protection["full"]:
            # The Remove Lock confirmation says what goes at the next sweep (PRODUCT.md).
            release_impact = request_impact(
                self.tenant.pk,
                self.actor,
                request_type=RequestType.REMOVE_LOCK,
                artifact_type=ANY,
                interaction_ids=str(self.object.guid),
            )
        return super().get_context_data(
            release_impact=release_impact,
            artifacts=artifacts,
            now=now,
            lock_groups=group_locks(locks),
            # The legal matters whose active locks hold this interaction.
            matters=sorted({lock.matter for lock in locks if lock.matter_id}, key=lambda m: m.case_id),
            protection=protection,
            can_remove_lock=can_remove,
            # The box toggles towards the other state: unticking needs Remove Lock, ticking Add Lock.
            can_toggle=can_remove if protection["full"] else can_add,
            confirm_add_lock=CONFIRMATIONS[RequestType.ADD_LOCK],
            confirm_remove_lock=CONFIRMATIONS[RequestType.REMOVE_LOCK],
            pending_requests=pending,
            failed_requests=failed,
            audit=self._audit(),
            **kwargs,
        )


class InteractionProtectionView(_InteractionView, View):
    """POST from the Protected checkbox: an Add Lock (``protected=on``) or Remove Lock (otherwise)
    request for *Any* and this one interaction, through the request service like any other request.

    Permissions are the request rules: CREATE for Add Lock, REMOVE_LOCK as well for Remove Lock
    (the service refuses with 403). Comes back to the interaction page with a message.
    """

    permission_required = ARTIFACTS_MANAGEMENT_REQUESTS_CREATE
    http_method_names = ["post"]

    def post(self, request, tenant_slug, guid):
        interaction = self.get_object()
        back = redirect("interaction-detail", tenant_slug=self.tenant.slug, guid=interaction.guid)
        protect = request.POST.get("protected") == "on"
        request_type = RequestType.ADD_LOCK if protect else RequestType.REMOVE_LOCK
        # Check the permission before anything else says "nothing to do": a refusal is a refusal.
        self.actor.require(
            self.tenant, *required_permissions(request_type), doing=f"save a {request_type.label} request"
        )
        state = protection_of(self.active_locks(interaction))
        if protect and state["full"]:
            messages.info(request, "This interaction is already protected; nothing was changed.")
            return back
        if not protect and not (state["full"] or state["partial"]):
            messages.info(request, "This interaction has no locks to release; nothing was changed.")
            return back
        # The ticked confirmation must be the one of the request it creates (the page shows one text).
        confirmed = request.POST.get("confirmed") == "on" and request.POST.get("confirms") == request_type
        fields = {"confirmed": confirmed}
        if protect and request.POST.get("lock_expires_on"):
            try:
                fields["lock_expires_on"] = dt.date.fromisoformat(request.POST["lock_expires_on"])
            except ValueError:
                messages.error(request, "Lock Expires On: enter a date as YYYY-MM-DD.")
                return back
            fields["lock_expires"] = True
        try:
            req = services.create_management_request(
                self.tenant.pk,
                self.actor,
                request_type=request_type,
                artifact_type=ANY,
                interaction_ids=str(interaction.guid),
                description="Protected checkbox on the interaction page",
                **fields,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return back
        report_queued(request, req, self._queued_message(req))
        return back

    def _queued_message(self, req):
        verb = "protect" if req.request_type == RequestType.ADD_LOCK else "release"
        label = f"Request {req.pk} ({req.get_request_type_display()})"
        # Two-person approval: a release waits for a second user before it runs.
        state = "awaits a second user's approval" if req.awaits_approval else "was queued"
        if ARTIFACTS_MANAGEMENT_REQUESTS_READ in self.perms:
            url = reverse("management-request-detail", args=[self.tenant.slug, req.pk])
            return format_html('<a href="{}">{}</a> to {} this interaction {}.', url, label, verb, state)
        return f"{label} to {verb} this interaction {state}."
