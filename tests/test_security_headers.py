"""Content-Security-Policy on every page (content downloads keep their own sandbox policy) and
``Cache-Control: private, no-store`` on every tenant page and export; no inline script or style in
any template (the browser side is tests/browser/test_csp_browser.py)."""

import re
from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import URLResolver, get_resolver, reverse

from accounts.models import Membership, Role
from accounts.permissions import ADMINISTRATOR
from api.services import create_api_client
from artifacts import views as artifact_views
from artifacts.matter_services import create_matter
from artifacts.models import ManagementRequest
from config import jobs
from core.vocabulary import Channel
from exports.buckets import create_bucket
from exports.services import create_export, create_schedule
from ingestion import services as ingestion_services
from interactions.models import SavedView
from policies.models import LifecyclePolicy, PolicyChange, SweepRun
from policies.services import start_sweep
from tests.factories import (
    SYSTEM,
    ArtifactFactory,
    InteractionFactory,
    UserFactory,
    demo_email_artifact,
    management_request,
)
from tests.matrix import client_for

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

#: The policy every HTML page carries (django-csp builds it; directive order is not fixed).
STRICT = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "media-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}

#: django-rq's admin pages: the same, with inline styles allowed (settings.CONTENT_SECURITY_POLICY_PATH_EXCEPTIONS).
RQ_PAGES = {**STRICT, "style-src": {"'self'", "'unsafe-inline'"}}

#: Routes whose responses are content bytes, each with its own sandbox policy.
CONTENT_ROUTES = {"artifact-play", "artifact-download", "artifact-attachment"}


def directives(header):
    """``"a x y; b z"`` → ``{"a": {"x", "y"}, "b": {"z"}}``."""
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = set(values)
    return parsed


def cache_control(response):
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


@pytest.fixture
def tenant_urls(acme, member):
    """Every named URL of the site (outside the admin) with real ids of acme's rows, by name."""
    admin_user = member(acme, ADMINISTRATOR)
    call = InteractionFactory(tenant=acme)
    recording = ArtifactFactory(interaction=call)
    mail = InteractionFactory(tenant=acme, channel=Channel.EMAIL)
    email, _attachment = demo_email_artifact(mail, 7, "1b0d7f6c-2a56-4f2e-8a77-5a0b8c1d2e3f")
    req = management_request(acme, admin_user, ManagementRequest.RequestType.ADD_LOCK, [call])
    saved = SavedView.objects.create(user=admin_user, tenant=acme, name="mine", query_string="channel=voice")
    policy = LifecyclePolicy.objects.filter(tenant=acme).first()
    api_client, _secret = create_api_client(acme.pk, SYSTEM, name="CRM", scopes="audit:read")
    acd, _ = ingestion_services.create_connection(
        acme.pk, SYSTEM, name="Flex", account_sid="AC" + "1" * 32, auth_token="t", workspace_sid="WS" + "2" * 32
    )
    label = ingestion_services.create_metadata_label(acme.pk, SYSTEM, name="Segment")
    matter = create_matter(acme.pk, SYSTEM, case_id="C-1", name="Smith", reason="Hold", owner_id=admin_user.pk)
    change = PolicyChange.objects.create(
        tenant=acme, policy=policy, policy_name=policy.name, action="update", would_delete=1, created_by="x"
    )
    run = start_sweep(acme.pk, SYSTEM, SweepRun.Trigger.PAGE, enqueue=False)
    export = create_export(acme.pk, SYSTEM, interaction_ids=[str(call.guid)])
    bucket = create_bucket(
        acme.pk, SYSTEM, name="Ours", bucket="acme-archive", access_key_id="AKIA0001", secret_access_key="s"
    )
    schedule = create_schedule(acme.pk, SYSTEM, name="Dialer")
    jobs.work("export", export.pk)
    t = {"tenant_slug": "acme"}
    kwargs = {
        "home": {},
        "favicon": {},
        "tenant-chooser": {},
        "login": {},
        "logout": {},
        "invitation-accept": {"uidb64": "MQ", "token": "no-such-token"},
        "healthz": {},
        "tenant-home": t,
        "interaction-list": t,
        "interaction-export": t,
        "saved-view-create": t,
        "saved-view-delete": {**t, "view_id": saved.pk},
        "interaction-detail": {**t, "guid": call.guid},
        "interaction-protection": {**t, "guid": call.guid},
        "artifact-play": {**t, "artifact_id": recording.pk},
        "artifact-download": {**t, "artifact_id": recording.pk},
        "artifact-attachment": {**t, "artifact_id": email.pk, "position": 0},
        "users-and-roles": t,
        "member-role": {**t, "membership_id": Membership.objects.get(user=admin_user).pk},
        "member-remove": {**t, "membership_id": Membership.objects.get(user=admin_user).pk},
        "role-create": t,
        "role-edit": {**t, "role_id": Role.objects.get(tenant=acme, name="Viewer").pk},
        "management-request-list": t,
        "management-request-create": t,
        "management-request-impact": t,
        "management-request-fields": t,
        "management-request-detail": {**t, "request_id": req.pk},
        "management-request-progress": {**t, "request_id": req.pk},
        "management-request-cancel": {**t, "request_id": req.pk},
        "management-request-retry": {**t, "request_id": req.pk},
        "management-request-approve": {**t, "request_id": req.pk},
        "management-request-reject": {**t, "request_id": req.pk},
        "legal-holds": t,
        "matter-create": t,
        "matter-detail": {**t, "matter_id": matter.pk},
        "matter-edit": {**t, "matter_id": matter.pk},
        "matter-release": {**t, "matter_id": matter.pk},
        "matter-close": {**t, "matter_id": matter.pk},
        "policy-change-approve": {**t, "change_id": change.pk},
        "policy-change-reject": {**t, "change_id": change.pk},
        "policy-list": t,
        "policy-create": t,
        "policy-edit": {**t, "policy_id": policy.pk},
        "policy-action": {**t, "policy_id": policy.pk, "action": "disable"},
        "policy-sweep": t,
        "sweep-detail": {**t, "run_id": run.pk},
        "sweep-progress": {**t, "run_id": run.pk},
        "api-clients": t,
        "api-client-revoke": {**t, "client_pk": api_client.pk},
        "audit-trail": t,
        "audit-export-csv": t,
        "audit-export-bundle": t,
        "audit-checkpoint": t,
        "export-list": t,
        "export-create": t,
        "export-schedule-create": t,
        "export-schedule-toggle": {**t, "pk": schedule.pk},
        "export-schedule-push-to": {**t, "pk": schedule.pk},
        "export-bucket-create": t,
        "export-bucket-edit": {**t, "pk": bucket.pk},
        "export-bucket-remove": {**t, "pk": bucket.pk},
        "export-detail": {**t, "pk": export.pk},
        "export-progress": {**t, "pk": export.pk},
        "export-download": {**t, "pk": export.pk},
        "export-manifest": {**t, "pk": export.pk},
        "export-signature": {**t, "pk": export.pk},
        "acd-list": t,
        "acd-create": t,
        "acd-labels": t,
        "acd-label-delete": {**t, "label_pk": label.pk},
        "acd-edit": {**t, "connection_pk": acd.pk},
        "acd-action": {**t, "connection_pk": acd.pk, "action": "ingest"},
        "twilio-recording-status": {"connection_uuid": acd.uuid},
        "password_change": {},
        "password_change_done": {},
        "password_reset": {},
        "password_reset_done": {},
        "password_reset_confirm": {"uidb64": "MQ", "token": "no-such-token"},
        "password_reset_complete": {},
    }
    return admin_user, {name: reverse(name, kwargs=kw) for name, kw in kwargs.items()}


def site_route_names(resolver=None):
    """The names of every route outside the admin (a new page must join the table above)."""
    names = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            # The admin has its own test; the API answers JSON (tests/api), its docs page is below.
            if not str(pattern.pattern).startswith(("admin/", "api/")):
                names |= site_route_names(pattern)
        elif pattern.name:
            names.add(pattern.name)
    return names


def test_the_api_reference_page_works_under_the_policy(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200 and "<script>" not in response.content.decode().replace(" ", "")
    assert directives(response["Content-Security-Policy"]) == STRICT


def assert_headers(name, url, response):
    assert response.status_code < 500, f"{url} answered {response.status_code}"
    assert "Content-Security-Policy" in response, f"{url} has no Content-Security-Policy"
    if name in CONTENT_ROUTES:
        assert response.status_code == 200, f"{url} answered {response.status_code}"
        # The download's own, stricter policy is kept: the middleware does not replace it.
        assert response["Content-Security-Policy"] == artifact_views.CONTENT_SECURITY_POLICY, url
    else:
        assert directives(response["Content-Security-Policy"]) == STRICT, url
    if url.startswith("/t/"):
        assert {"private", "no-store"} <= cache_control(response), f"{url}: Cache-Control {cache_control(response)}"


def test_every_page_of_a_signed_in_user_has_the_policy_and_tenant_pages_are_not_stored(tenant_urls):
    admin_user, urls = tenant_urls
    assert site_route_names() == set(urls), "a new route: add it to tenant_urls"
    client = client_for(admin_user)
    for name, url in urls.items():
        if name == "logout":
            continue  # GET is not allowed; the POST below signs out
        response = client.get(url)
        assert_headers(name, url, response)
        if name in ("interaction-export", "audit-export-csv"):
            assert response["Content-Type"].startswith("text/csv")
            b"".join(response.streaming_content)
        if name == "audit-export-bundle":
            assert response["Content-Type"] == "application/zip"
            b"".join(response.streaming_content)
        if response.get("Content-Type", "").startswith("text/html") and not response.streaming:
            # A page's title is words (a block left open once put a whole section into one).
            title = re.search(r"<title>(.*?)</title>", response.content.decode(), re.S)
            assert title is None or "<" not in title.group(1), f"{url}: markup in the title"
    assert_headers("logout", urls["logout"], client.post(urls["logout"]))


def test_tenant_error_pages_and_redirects_are_not_stored_either(acme, member):
    viewer = client_for(member(acme, "Viewer"))
    forbidden = viewer.get(reverse("users-and-roles", args=["acme"]))
    missing = viewer.get("/t/acme/interactions/00000000-0000-0000-0000-000000000000/")
    redirect = viewer.get("/t/acme/")
    for response in (forbidden, missing, redirect):
        assert {"private", "no-store"} <= cache_control(response)
        assert directives(response["Content-Security-Policy"]) == STRICT
    assert (forbidden.status_code, missing.status_code, redirect.status_code) == (403, 404, 302)


def test_every_admin_page_has_the_policy(acme, member):
    support = UserFactory(is_staff=True, is_superuser=True)
    client = client_for(support)
    member(acme, ADMINISTRATOR)
    urls = [reverse("admin:index"), reverse("rq_home")]
    # django-rq's job pages, whose templates are overridden to drop their inline script.
    urls += [reverse(name, args=[0]) for name in RQ_JOB_PAGES]
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        if model_admin.has_add_permission(client_request(support)):
            urls.append(reverse("admin:{}_{}_add".format(*info)))
        # django-rq's admin entry is a stand-in model without a table.
        first = model_admin.get_queryset(client_request(support)).first() if model._meta.managed else None
        if first is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code == 200, f"{url} answered {response.status_code}"
        # The one documented exception: django-rq's pages carry inline <style> blocks (styles only).
        expected = RQ_PAGES if url.startswith("/admin/django-rq/") else STRICT
        assert directives(response["Content-Security-Policy"]) == expected, url
        assert not INLINE_SCRIPT.search(response.content.decode()), f"{url} has an inline script"
    assert len(urls) > 20


RQ_JOB_PAGES = (
    "rq_jobs", "rq_workers", "rq_finished_jobs", "rq_failed_jobs", "rq_scheduled_jobs", "rq_started_jobs",
    "rq_deferred_jobs",
)  # fmt: skip


def client_request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"javascript:", re.IGNORECASE)


def test_no_template_has_inline_script_handlers_or_styles():
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for pattern, what in (
            (INLINE_SCRIPT, "inline <script>"),
            (EVENT_HANDLER, "on…= handler"),
            (STYLE, "inline style"),
            (JAVASCRIPT_URL, "javascript: URL"),
        ):
            if pattern.search(text):
                offenders.append(f"{path.relative_to(TEMPLATES)}: {what}")
    assert offenders == []
