"""axe-core (npm, pinned in package-lock.json) in Chromium over every page for every role: no
violation of impact serious or critical. Pages a role may not open are checked too (their 403).

axe is injected with ``add_init_script`` (the DevTools protocol), which the pages' strict
Content-Security-Policy does not govern; the policy stays on, so what axe sees is what users get."""

import json
from pathlib import Path

import pytest

from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from artifacts.matter_services import create_matter
from artifacts.models import ManagementRequest
from config import jobs
from core.vocabulary import ArtifactType, Channel, ContentKey
from exports.buckets import create_bucket
from exports.services import create_export
from ingestion import services as ingestion_services
from policies.models import LifecyclePolicy, SweepRun
from policies.services import start_sweep
from tests.factories import (
    SYSTEM,
    ArtifactFactory,
    InteractionFactory,
    MembershipFactory,
    TenantFactory,
    as_actor,
    demo_email_artifact,
    management_request,
)

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => ["serious", "critical"].includes(v.impact))
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " — " + n.failureSummary)}));
}"""


@pytest.fixture
def axe_page(browser):
    if not AXE.exists():
        pytest.fail(f"axe-core is missing ({AXE}): run `npm ci` in the project (bin/test does when npm is there)")
    context = browser.new_context()
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_in(page, base, username):
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "holdfast-test")
    page.click("button[type=submit]")
    page.wait_for_load_state()


def violations(page, url):
    page.goto(url)
    page.wait_for_load_state()
    return page.evaluate(RUN_AXE)


def product(acme, admin):
    """Content of every kind, a finished request and sweep: the pages show what they can show."""
    chat = InteractionFactory(tenant=acme, channel=Channel.CHAT)
    ArtifactFactory(
        interaction=chat,
        artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        content_key=ContentKey.CHAT_TRANSCRIPT,
        filename="chat.json",
        content_type="application/json",
        content=json.dumps(
            {"messages": [{"at": "2026-03-01T14:31:05Z", "author": "Carla", "from": "customer", "text": "Hi"}]}
        ).encode(),
    )
    mail = InteractionFactory(tenant=acme, channel=Channel.EMAIL)
    demo_email_artifact(mail, 3, "6f1c0b5e-4a57-4a32-9d7e-3b9f7e0f1a11")
    voice = InteractionFactory(tenant=acme)
    ArtifactFactory(interaction=voice, filename="call.wav", content_type="audio/wav")
    req = management_request(acme, admin, "add_lock", [voice], process=True)
    run = start_sweep(acme.pk, as_actor(admin), SweepRun.Trigger.PAGE, enqueue=False, plan=True)
    jobs.work("lifecycle_sweep", run.pk)
    policy = LifecyclePolicy.objects.filter(tenant=acme, is_default=False).first()
    role = admin.memberships.get(tenant=acme).role
    matter = create_matter(acme.pk, SYSTEM, case_id="2024-CV-118", name="Smith v Acme", reason="Litigation",
                           owner_id=admin.pk)  # fmt: skip
    connection, _ = ingestion_services.create_connection(
        acme.pk, SYSTEM, name="Flex", account_sid="AC" + "1" * 32, auth_token="t", workspace_sid="WS" + "2" * 32
    )
    export = create_export(acme.pk, as_actor(admin), interaction_ids=[str(voice.guid), str(chat.guid)])
    jobs.work("export", export.pk)
    bucket = create_bucket(
        acme.pk, as_actor(admin), name="Ours", bucket="acme-archive", access_key_id="AKIA0001", secret_access_key="s"
    )
    return {
        "export": export,
        "bucket": bucket,
        "matter": matter,
        "connection": connection,
        "interactions": [chat, mail, voice],
        "request": req,
        "run": run,
        "policy": policy,
        "role": role,
    }


def tenant_pages(things):
    t = "/t/acme"
    pages = [f"{t}/interactions/", f"{t}/interactions/?channel=voice&started_from=2020-01-01"]
    pages += [f"{t}/interactions/{i.guid}/" for i in things["interactions"]]
    requests = f"{t}/configuration/artifacts-management-requests/"
    pages += [requests, f"{requests}new/", f"{requests}new/?request_type=delete", f"{requests}{things['request'].pk}/"]
    policies = f"{t}/configuration/artifacts-lifecycle-policies/"
    pages += [policies, f"{policies}new/", f"{policies}{things['policy'].pk}/disable/", f"{policies}sweeps/"]
    pages += [f"{policies}sweeps/{things['run'].pk}/"]
    users = f"{t}/configuration/users-and-roles/"
    pages += [users, f"{users}roles/new/", f"{users}roles/{things['role'].pk}/"]
    pages += [f"{t}/configuration/api-clients/", f"{t}/configuration/audit/"]
    holds = f"{t}/configuration/legal-holds/"
    pages += [holds, f"{holds}new/", f"{holds}{things['matter'].pk}/", f"{holds}{things['matter'].pk}/edit/"]
    exports = f"{t}/configuration/exports/"
    pages += [exports, f"{exports}{things['export'].pk}/", f"{exports}buckets/{things['bucket'].pk}/"]
    acd = f"{t}/configuration/acd/"
    pages += [acd, f"{acd}new/", f"{acd}{things['connection'].pk}/"]
    pages += ["/password_change/", "/tenants/", "/t/acme/no-such-page/"]
    return pages


def test_every_page_for_every_role_has_no_serious_violation(axe_page, live_server):
    acme, globex = TenantFactory(name="Acme", slug="acme"), TenantFactory(name="Globex", slug="globex")
    users = {}
    for role in (VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR):
        from tests.factories import UserFactory

        users[role] = UserFactory(username=role.lower().replace(" ", "-"))
        MembershipFactory(user=users[role], tenant=acme, role_name=role)
    MembershipFactory(user=users[ADMINISTRATOR], tenant=globex, role_name=VIEWER)  # the tenant switcher
    things = product(acme, users[ADMINISTRATOR])
    assert ManagementRequest.objects.exists()

    found = {}
    for url in ("/login/", "/password_reset/"):
        axe_page.context.clear_cookies()
        if problems := violations(axe_page, f"{live_server.url}{url}"):
            found[f"anonymous {url}"] = problems
    for role, user in users.items():
        axe_page.context.clear_cookies()
        sign_in(axe_page, live_server.url, user.username)
        for url in tenant_pages(things):
            if problems := violations(axe_page, f"{live_server.url}{url}"):
                found[f"{role} {url}"] = problems
    assert not found, json.dumps(found, indent=1)


def test_the_admin_for_support_staff_has_no_serious_violation(axe_page, live_server):
    from tests.factories import UserFactory

    acme = TenantFactory(name="Acme", slug="acme")
    support = UserFactory(username="support", is_staff=True, is_superuser=True)
    admin = UserFactory(username="admin-acme")
    MembershipFactory(user=admin, tenant=acme, role_name=ADMINISTRATOR)
    product(acme, admin)
    sign_in(axe_page, live_server.url, support.username)
    found = {}
    for url in (
        "/admin/",
        "/admin/accounts/tenant/",
        "/admin/accounts/user/?q=admin",
        "/admin/interactions/interaction/",
        "/admin/artifacts/artifact/",
        "/admin/artifacts/managementrequest/",
        "/admin/accounts/auditevent/",
        "/admin/policies/sweeprun/",
    ):
        if problems := violations(axe_page, f"{live_server.url}{url}"):
            found[url] = problems
    assert not found, json.dumps(found, indent=1)
