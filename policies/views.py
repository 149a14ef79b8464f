"""Configuration > Artifacts Lifecycle Policies: list, create, edit, enable, disable, delete, run now.

Every change shows its impact preview first (what the next sweep would delete and archive because
of it, and how many of those are locked and kept); the user confirms, and only then the change is
saved through :mod:`policies.services`. Members without the manage permission see the page
read-only.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.generic import TemplateView, View

from accounts.permissions import MANAGE_LIFECYCLE_POLICIES, VIEW_INTERACTIONS
from accounts.tenancy import TenantViewMixin, report_queued

from . import services
from .forms import LifecyclePolicyForm
from .models import LifecyclePolicy, PolicyChange, SweepRun

ACTIONS = {"enable": "Enable", "disable": "Disable", "delete": "Delete"}
RECENT_RUNS = 20


class _PoliciesView(TenantViewMixin):
    """Views of the tenant's lifecycle policies."""

    model = LifecyclePolicy
    lookup = ("pk", "policy_id")
    not_found = "No such lifecycle policy."


def _to_list(request):
    return redirect("policy-list", tenant_slug=request.tenant.slug)


class PolicyListView(_PoliciesView, TemplateView):
    """The tenant's policies and its recent sweep runs; read-only without the manage permission."""

    permission_required = VIEW_INTERACTIONS
    template_name = "policies/policy_list.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            policies=self.tenant_rows().order_by("is_default", "name"),
            runs=self.tenant_rows(SweepRun).order_by("-created_at", "-id")[:RECENT_RUNS],
            can_manage=MANAGE_LIFECYCLE_POLICIES in self.perms,
            pending_changes=self.tenant_rows(PolicyChange)
            .filter(status=PolicyChange.Status.PENDING)
            .order_by("created_at", "id"),
            **kwargs,
        )


class PolicyFormView(_PoliciesView, View):
    """Create or edit a policy: the form, then the impact preview to confirm, then the save."""

    permission_required = MANAGE_LIFECYCLE_POLICIES
    template_name = "policies/policy_form.html"

    def _policy(self, request, policy_id):
        if policy_id is None:
            return LifecyclePolicy(tenant=request.tenant)
        return self.get_object()

    def get(self, request, tenant_slug, policy_id=None):
        policy = self._policy(request, policy_id)
        return render(request, self.template_name, {"form": LifecyclePolicyForm(instance=policy), "policy": policy})

    def post(self, request, tenant_slug, policy_id=None):
        saved = self._policy(request, policy_id)
        form = LifecyclePolicyForm(request.POST, instance=self._policy(request, policy_id))
        if not form.is_valid():
            return render(request, self.template_name, {"form": form, "policy": saved}, status=400)
        decision = request.POST.get("confirm")
        if decision == "back":
            return render(request, self.template_name, {"form": form, "policy": saved})
        if decision != "yes":
            impact = services.preview(request.tenant.pk, change=form.instance)
            return render(request, "policies/policy_confirm.html", {"form": form, "policy": saved, "impact": impact})
        try:
            action = PolicyChange.Action.CREATE if policy_id is None else PolicyChange.Action.UPDATE
            policy, pending = services.submit_policy_change(
                self.tenant.pk, self.actor, action, policy_id=policy_id and saved.pk, **form.changes()
            )
            if pending:
                _report_pending(request, pending)
            else:
                verb = "created" if policy_id is None else "saved"
                messages.success(request, f"Lifecycle policy “{policy.name}” {verb}.")
        except ValidationError as exc:
            form.add_error(None, exc)
            return render(request, self.template_name, {"form": form, "policy": saved}, status=400)
        return _to_list(request)


class PolicyActionView(_PoliciesView, View):
    """Enable, disable or delete a policy: GET shows the impact preview, POST does it."""

    permission_required = MANAGE_LIFECYCLE_POLICIES
    template_name = "policies/policy_action.html"

    def _prepare(self, request, policy_id, action):
        if action not in ACTIONS:
            raise Http404("No such action.")
        policy = self.get_object()
        if action == "delete":
            return policy, {"remove": policy.pk}
        return policy, {"change": services.build_policy(request.tenant.pk, policy.pk, enabled=action == "enable")}

    def get(self, request, tenant_slug, policy_id, action):
        policy, change = self._prepare(request, policy_id, action)
        impact = services.preview(request.tenant.pk, **change)
        return render(
            request,
            self.template_name,
            {"policy": policy, "action": action, "action_label": ACTIONS[action], "impact": impact},
        )

    def post(self, request, tenant_slug, policy_id, action):
        policy, _change = self._prepare(request, policy_id, action)
        try:
            if action == "delete":
                _, pending = services.submit_policy_change(
                    self.tenant.pk, self.actor, PolicyChange.Action.DELETE, policy_id=policy.pk
                )
            else:
                _, pending = services.submit_policy_change(
                    self.tenant.pk,
                    self.actor,
                    PolicyChange.Action.UPDATE,
                    policy_id=policy.pk,
                    enabled=action == "enable",
                )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return _to_list(request)
        if pending:
            _report_pending(request, pending)
        else:
            messages.success(request, f"Lifecycle policy “{policy.name}”: {ACTIONS[action].lower()}d.")
        return _to_list(request)


def _report_pending(request, change):
    messages.info(
        request,
        f"This change would delete {change.would_delete:,} artifact(s) now: it awaits the approval of a second user "
        "who may manage lifecycle policies (two-person approval). Nothing was changed yet.",
    )


class PolicyChangeDecisionView(TenantViewMixin, View):
    """Approve or reject (with a reason) a policy change awaiting approval; the service refuses its
    proposer with 403."""

    permission_required = MANAGE_LIFECYCLE_POLICIES
    model = PolicyChange
    lookup = ("pk", "change_id")
    not_found = "No such policy change."
    http_method_names = ["post"]
    decision = "approve"

    def post(self, request, tenant_slug, change_id):
        change = self.get_object()
        try:
            if self.decision == "approve":
                services.approve_policy_change(change.pk, self.actor)
                messages.success(request, f"The change of “{change.policy_name}” was approved and applied.")
            else:
                services.reject_policy_change(change.pk, self.actor, request.POST.get("reason", ""))
                messages.success(request, f"The change of “{change.policy_name}” was rejected; nothing changed.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return _to_list(request)


class StartSweepView(TenantViewMixin, View):
    """Run the sweep now: GET shows what it would do (the ``--dry-run`` numbers) and asks for
    confirmation; a POST with ``confirm=yes`` starts the run (a row, enqueued like the daily one)
    and opens its progress page. A POST without it shows the preview again: nothing starts."""

    permission_required = MANAGE_LIFECYCLE_POLICIES
    template_name = "policies/sweep_confirm.html"

    def get(self, request, tenant_slug):
        return render(request, self.template_name, {"plan": services.sweep_plan(self.tenant.pk)})

    def post(self, request, tenant_slug):
        if request.POST.get("confirm") != "yes":
            return self.get(request, tenant_slug)
        run = services.start_sweep(self.tenant.pk, self.actor, SweepRun.Trigger.PAGE, plan=True)
        report_queued(request, run, f"Sweep {run.pk} started.")
        return redirect("sweep-detail", tenant_slug=self.tenant.slug, run_id=run.pk)


class SweepDetailView(TenantViewMixin, TemplateView):
    """One sweep run and its progress; the page refreshes its live part until the run ends."""

    permission_required = VIEW_INTERACTIONS
    model = SweepRun
    lookup = ("pk", "run_id")
    not_found = "No such sweep run."
    template_name = "policies/sweep_detail.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(run=self.get_object(), **kwargs)


class SweepProgressView(SweepDetailView):
    """The live part of a sweep run's page, polled while it runs."""

    template_name = "policies/_sweep_live.html"
